"""Two operators sharded by namespace (``--shard 0/2``, ``--shard 1/2``): each reconciles only its share.

On an API server that filters sharded lists and watches (Kubernetes >= 1.36, feature gate
``ShardedListAndWatch``; the session's control plane turns it on), a shard never sees the other shard's
groups. On one that ignores the selector (the emulator, or a cluster without the gate), the operator must
refuse to start: serving every group from two "shards" would have two operators fight over each group.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bench.shard_takeover import group, one_namespace_per_shard
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.operator_process import OperatorProcess

from leadergroup.cli.sharding import Shard, ShardingUnsupported, verify_server_filters
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, LEASES, NAMESPACES
from leadergroup.procutil import free_port, operator_command


async def server_filters(client: KubeClient) -> bool:
    try:
        await verify_server_filters(client, Shard(0, 2), LEASES, None)
    except ShardingUnsupported:
        return False
    return True


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[KubeClient]:
    async with KubeClient.auto(cluster.kubeconfig) as api:
        yield api


@pytest.fixture
async def shard_namespaces(cluster: Cluster, client: KubeClient) -> AsyncIterator[list[str]]:
    """Two namespaces under the test's own prefix, one in each of two shards (deleted afterwards)."""
    names = one_namespace_per_shard(f"{cluster.namespace}-s", 2)
    for name in names:
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield names
    for name in names:
        await client.delete(NAMESPACES, name)


async def test_two_shards_each_reconcile_only_their_namespaces(
    cluster: Cluster, client: KubeClient, shard_namespaces: list[str], tmp_path: Path
) -> None:
    ours = cluster.real is not None and cluster.real.plane is not None
    if not await server_filters(client):
        assert not ours, "the session's control plane runs with --feature-gates=ShardedListAndWatch=true"
        await a_shard_refuses_to_start(cluster, tmp_path)
        return
    first, second = shard_namespaces
    for namespace in shard_namespaces:
        await client.create(LEADERGROUPS, group("sharded", namespace), namespace)
    # Served through a glob: the other tests' namespaces on the shared server stay out of reach.
    scope = f"{cluster.namespace}-s-*"
    operators = []
    try:
        operators.append(shard_operator(cluster, scope, Shard(0, 2), tmp_path / "shard-0.log").start())

        async def reconciled(namespace: str) -> bool:
            found = await client.get_or_none(LEADERGROUPS, "sharded", namespace)
            deployment = await client.get_or_none(DEPLOYMENTS, "sharded", namespace)
            return deployment is not None and bool((found or {}).get("status", {}).get("observedGeneration"))

        await eventually(lambda: reconciled(first), timeout=60, message=f"shard 0 reconciles {first}")
        # Both groups existed before shard 0 started; it has finished the one it saw, not the other.
        assert await client.get_or_none(DEPLOYMENTS, "sharded", second) is None
        assert not (await client.get(LEADERGROUPS, "sharded", second)).get("status")
        # Kopf opens a (filtered) watch in every namespace the glob matches; no object of the other shard
        # ever reaches a handler (Kopf and the operator log objects as "<namespace>/<name>").
        assert f"{first}/sharded" in operators[0].log(), "objects are logged as <namespace>/<name>"
        assert f"{second}/sharded" not in operators[0].log(), "shard 0 never saw the other shard's group"

        operators.append(shard_operator(cluster, scope, Shard(1, 2), tmp_path / "shard-1.log").start())
        await eventually(lambda: reconciled(second), timeout=60, message=f"shard 1 reconciles {second}")
        assert f"{first}/sharded" not in operators[1].log(), "shard 1 never saw shard 0's group"
    finally:
        for process in operators:
            process.terminate()


def shard_operator(cluster: Cluster, scope: str, shard: Shard, log: Path) -> OperatorProcess:
    return OperatorProcess(cluster.kubeconfig, scope, log, "--standalone", "--shard", str(shard))


async def a_shard_refuses_to_start(cluster: Cluster, tmp_path: Path) -> None:
    command = operator_command(
        cluster.kubeconfig,
        namespace=f"{cluster.namespace}-s-*",
        liveness_port=free_port(),
        extra=["--standalone", "--shard", "0/2"],
    )
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == 2, finished.stdout + finished.stderr
    assert "ShardedListAndWatch" in finished.stdout + finished.stderr
