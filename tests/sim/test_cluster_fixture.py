"""The project-wide `cluster` fixture and the `eventually` helper."""

from __future__ import annotations

import time

import aiohttp
import pytest
import yaml
from tests.support import eventually
from tests.support.cluster import Cluster, project_crds


@pytest.mark.emulator_only("inspects the emulator's request log")
async def test_cluster_fixture_gives_a_fresh_namespace_and_tagged_kubeconfigs(cluster: Cluster) -> None:
    assert cluster.backend == "emulator" and cluster.emulator is not None
    assert cluster.namespace.startswith("lgtest-")
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    assert admin["users"][0]["user"]["token"] == "admin"
    assert admin["contexts"][0]["context"]["namespace"] == cluster.namespace
    elector = yaml.safe_load(cluster.kubeconfig_for("elector-0").read_text())
    server = elector["clusters"][0]["cluster"]["server"]
    headers = {"Authorization": "Bearer elector-0"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(f"{server}/api/v1/namespaces/{cluster.namespace}") as response,
    ):
        assert response.status == 200
    assert cluster.emulator.requests[-1].user == "elector-0"
    loaded = {
        crd["metadata"]["name"]
        for crd in cluster.emulator.objects("apiextensions.k8s.io", "customresourcedefinitions")
    }
    assert loaded == {crd["metadata"]["name"] for crd in project_crds()}


@pytest.mark.real_cluster_only("proves the marker keeps it off the emulator")
def test_real_cluster_only_tests_run_on_the_real_backend_only(cluster: Cluster) -> None:
    assert cluster.backend == "real" and cluster.emulator is None and cluster.real is not None


async def test_eventually_returns_the_first_truthy_value() -> None:
    calls = []

    def grows() -> list[int] | None:
        calls.append(1)
        return list(calls) if len(calls) >= 3 else None

    assert await eventually(grows, timeout=2, interval=0.01) == [1, 1, 1]


async def test_eventually_accepts_async_callables_and_assertions() -> None:
    started = time.monotonic()

    async def ready() -> str:
        assert time.monotonic() - started > 0.05, "not yet"
        return "ready"

    assert await eventually(ready, timeout=2, interval=0.01) == "ready"


async def test_eventually_times_out_with_the_last_value_and_message() -> None:
    with pytest.raises(AssertionError, match=r"the answer not met within 0.1s; last value: 0"):
        await eventually(lambda: 0, timeout=0.1, interval=0.01, message="the answer")
