"""The operator's Prometheus endpoint reports each group's leadership."""

from __future__ import annotations

import asyncio
import copy
import urllib.request
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.operator_process import OperatorProcess, free_port

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import LEADERGROUPS, LEASES

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_follow_the_holder(cluster: Cluster, client: KubeClient, tmp_path: Path) -> None:
    port = free_port()
    process = OperatorProcess(
        cluster.kubeconfig_for("operator"),
        cluster.namespace,
        tmp_path / "operator.log",
        env={"LEADERGROUP_METRICS_PORT": str(port)},
    ).start()
    try:
        namespace = cluster.namespace
        body = yaml.safe_load((SAMPLES / "minimal.yaml").read_text())
        body["metadata"] = {"name": "watched", "namespace": namespace}
        body["spec"].pop("lockName", None)
        await client.create(LEADERGROUPS, body, namespace)
        labels = (("group", "watched"), ("namespace", namespace))

        def value(name: str) -> float | None:
            return scrape(port).get((name, labels))

        await eventually(lambda: value("leadergroup_holder_present") == 0.0, timeout=10)
        lease = copy.deepcopy(await client.get(LEASES, "watched", namespace))
        lease["spec"]["holderIdentity"] = "pod-a"
        await client.replace(LEASES, "watched", lease, namespace)
        await eventually(lambda: value("leadergroup_holder_present") == 1.0, timeout=5)
        assert value("leadergroup_leader_changes_total") == 1.0
        leaderless = value("leadergroup_leaderless_seconds_total")
        assert leaderless is not None and leaderless > 0.0
        await asyncio.sleep(0.3)  # time passes while led: the leaderless total must not grow
        assert value("leadergroup_leaderless_seconds_total") == leaderless
        count = value("leadergroup_reconcile_duration_seconds_count")
        assert count is not None and count >= 1
        assert value("leadergroup_stalled") == 0.0
    finally:
        process.terminate()
