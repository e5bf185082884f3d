"""The operator's connections go silent (no FIN, no RST), new ones work: it hears again within 45 s.

The operator reaches the API server through a :class:`FaultProxy`; once its groups are followed, every
connection it has open is silenced for ever (a NAT or load balancer that forgot them). Then, at once: a
holder changes, a child is deleted by hand, a holder's pod is deleted (fast failover) and a new group is
created. Each must be served within 45 s of the silence (the idle bound of ``kube/liveness.py`` is 40 s),
the silence must be logged at WARNING and counted in ``leadergroup_watch_restarts_total``.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.integration.conftest import OPERATOR_TOKEN
from tests.integration.test_leadership import group_body, start_group, take
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.faultproxy import FaultProxy
from tests.support.operator_process import OperatorProcess, free_port

from leadergroup.kube import KubeClient
from leadergroup.kube.config import from_kubeconfig
from leadergroup.kube.liveness import WATCH_IDLE_SECONDS, WATCH_SERVER_TIMEOUT_RANGE
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, LEASES, PODS

# client-go's HTTP/2 health check bound (30 s + 15 s), the target; the idle bound is below it.
RECOVERY_BOUND = 45.0

pytestmark = pytest.mark.timeout(240)


async def seconds_until(started: float, condition: Callable[[], Awaitable[Any]], what: str) -> float:
    """Seconds from ``started`` (monotonic) until ``condition`` holds; fails past twice the bound."""
    await eventually(condition, timeout=2 * RECOVERY_BOUND, interval=0.2, message=what)
    return time.monotonic() - started


def metric_samples(port: int, name: str) -> dict[tuple[str, ...], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1 :].rsplit("} ", 1)
            pairs = dict(part.split("=", 1) for part in labels.split(","))
            samples[tuple(pairs[key].strip('"') for key in sorted(pairs))] = float(value)
    return samples


@pytest.mark.real_cluster_only("the fault is the proxy's, not the server's: the real server is the reference")
async def test_the_operator_hears_again_after_its_connections_went_silent(
    cluster: Cluster, client: KubeClient, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    namespace = cluster.namespace
    own_kubeconfig = cluster.kubeconfig_for(OPERATOR_TOKEN)
    metrics_port = free_port()
    with FaultProxy.in_front_of(from_kubeconfig(own_kubeconfig).server).start() as proxy:
        kubeconfig = proxy.kubeconfig_through(own_kubeconfig, tmp_path / "kubeconfig-through-proxy")
        operator = OperatorProcess(
            kubeconfig,
            namespace,
            tmp_path / "operator.log",
            "--standalone",
            env={"LEADERGROUP_METRICS_PORT": str(metrics_port)},
        ).start()
        try:
            held = await start_group(client, cluster, group_body(namespace, "held"))
            failing = await start_group(client, cluster, group_body(namespace, "failing"))
            await start_group(client, cluster, group_body(namespace, "drifting"))
            await take(client, namespace, "held", held[0])
            await take(client, namespace, "failing", failing[0])

            async def status_holder(name: str) -> str:
                group = await client.get(LEADERGROUPS, name, namespace)
                return str((group.get("status") or {}).get("holder") or "")

            for name, pod in (("held", held[0]), ("failing", failing[0])):
                await eventually(
                    lambda name=name, pod=pod: _equals(status_holder(name), pod),
                    timeout=15,
                    message=f"{name}: the holder in status before the fault",
                )
            deployment_uid = (await client.get(DEPLOYMENTS, "drifting", namespace))["metadata"]["uid"]

            silenced = proxy.silence_open()
            silent_since = time.monotonic()
            # Its Kopf watch, its own eight watches and idle pooled connections: all silent from now on.
            assert silenced >= 9, f"only {silenced} connections were open"
            await take(client, namespace, "held", held[1])
            await client.delete(DEPLOYMENTS, "drifting", namespace)
            await client.delete(PODS, failing[0], namespace)
            await client.create(LEADERGROUPS, group_body(namespace, "late"), namespace)

            async def holder_followed() -> bool:
                return await status_holder("held") == held[1]

            async def deployment_restored() -> bool:
                found = await client.get_or_none(DEPLOYMENTS, "drifting", namespace)
                return found is not None and found["metadata"]["uid"] != deployment_uid

            async def failed_over() -> bool:
                lease = await client.get(LEASES, "failing", namespace)
                return not (lease["spec"].get("holderIdentity") or "")

            async def late_group_served() -> bool:
                group = await client.get(LEADERGROUPS, "late", namespace)
                deployment = await client.get_or_none(DEPLOYMENTS, "late", namespace)
                return deployment is not None and bool((group.get("status") or {}).get("observedGeneration"))

            waited = dict(
                zip(
                    ("holder in status", "Deployment restored", "fast failover", "new group reconciled"),
                    await asyncio.gather(
                        seconds_until(silent_since, holder_followed, "the new holder in status"),
                        seconds_until(silent_since, deployment_restored, "the deleted Deployment restored"),
                        seconds_until(silent_since, failed_over, "the dead holder's Lease released"),
                        seconds_until(silent_since, late_group_served, "the new group reconciled"),
                    ),
                    strict=True,
                )
            )
            print(f"served again after the silence: {waited}")
            late = {what: seconds for what, seconds in waited.items() if seconds >= RECOVERY_BOUND}
            assert not late, f"served later than {RECOVERY_BOUND}s after the silence: {waited}"

            log = operator.log()
            for watched in ("Lease watch", "Pod watch", "Deployment watch", "Watch of leadergroups"):
                assert f"{watched} in {namespace} silent for {WATCH_IDLE_SECONDS:.0f}s" in log, watched
            restarts = metric_samples(metrics_port, "leadergroup_watch_restarts_total")
            idle = {resource for (reason, resource), count in restarts.items() if reason == "idle" and count}
            assert {"leases", "pods", "deployments", "leadergroups"} <= idle, restarts
            alive = urllib.request.urlopen(f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=5)
            assert alive.status == 200
        finally:
            operator.terminate()
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                print(f"---- operator log ----\n{operator.log()[-20000:]}")
        assert "Traceback" not in operator.log(), operator.log()[-20000:]


async def _equals(value: Awaitable[str], expected: str) -> bool:
    return await value == expected


def liveness_status(port: int) -> int:
    """The HTTP status of the operator's liveness endpoint (Kopf's ``--liveness``)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.real_cluster_only("one backend is enough: the probe judges the client's side only")
async def test_the_liveness_probe_fails_while_no_watch_can_reach_the_server_and_recovers(
    cluster: Cluster, client: KubeClient, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    namespace = cluster.namespace
    own_kubeconfig = cluster.kubeconfig_for(OPERATOR_TOKEN)
    with FaultProxy.in_front_of(from_kubeconfig(own_kubeconfig).server).start() as proxy:
        kubeconfig = proxy.kubeconfig_through(own_kubeconfig, tmp_path / "kubeconfig-through-proxy")
        operator = OperatorProcess(kubeconfig, namespace, tmp_path / "operator.log", "--standalone").start()
        try:
            await start_group(client, cluster, group_body(namespace, "probed"))
            assert liveness_status(operator.liveness_port) == 200
            proxy.refuse()  # open connections reset, new ones refused: the server is out of reach
            refused_at = time.monotonic()
            await eventually(
                lambda: liveness_status(operator.liveness_port) == 500,
                timeout=2 * WATCH_IDLE_SECONDS + 30,
                interval=1,
                message="the liveness probe failing",
            )
            failed_after = time.monotonic() - refused_at
            # Twice the idle bound after the watch last heard from the server, which was at most the 30 s a
            # healthy stream can be quiet before the refusal: a watch that merely reconnects kills no replica.
            assert failed_after >= 2 * WATCH_IDLE_SECONDS - WATCH_SERVER_TIMEOUT_RANGE[1], failed_after
            assert operator.process is not None and operator.process.poll() is None, "it must not exit"
            proxy.accept()
            # Reconnects back off to at most 8 s, and Kopf caches a probe's result for 10 s.
            await eventually(
                lambda: liveness_status(operator.liveness_port) == 200,
                timeout=16 + 10 + 10,
                interval=1,
                message="alive again once the server is reachable",
            )
            assert "Watches heard nothing from the API server" in operator.log()
        finally:
            operator.terminate()
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                print(f"---- operator log ----\n{operator.log()[-20000:]}")
