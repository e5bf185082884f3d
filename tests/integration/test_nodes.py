"""Simulated nodes (KWOK) on the real backend: the scheduler places a group's pods, they run and get Ready.

Pods opt in by tolerating the nodes' taint, so every other test keeps its Pending pods. The electors still
run as local processes with the pods' names; what KWOK gives is the rest of the cluster's behaviour:
scheduling, Running and Ready pods, a real readyReplicas, graceful deletion and replacement.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.controlplane.nodes import KWOK_TOLERATION
from tests.elector.fleet import Fleet
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.identities import service_account_kubeconfig
from tests.support.operator_process import OperatorProcess

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, PODS

pytestmark = pytest.mark.real_cluster_only("KWOK nodes run on the real control plane only")


def group_on_nodes(name: str, namespace: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A three-replica group whose pods tolerate the simulated nodes' taint."""
    template: dict[str, Any] = {
        "spec": {
            "tolerations": [KWOK_TOLERATION],
            "containers": [{"name": "app", "image": "registry.invalid/app:1"}],
        }
    }
    if annotations:
        template["metadata"] = {"annotations": annotations}
    return {
        "apiVersion": "leadergroup.dev/v1alpha1",
        "kind": "LeaderGroup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 3, "template": template},
    }


def skip_without_our_nodes(cluster: Cluster) -> None:
    assert cluster.real is not None
    if cluster.real.plane is None or cluster.real.plane.kwok_bin_dir is None:
        pytest.skip("the real backend is a cluster of the user's own, without our KWOK nodes")


def running_and_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
    return status.get("phase") == "Running" and ready and not pod["metadata"].get("deletionTimestamp")


async def test_a_group_on_nodes_runs_gets_ready_and_replaces_a_deleted_pod(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient, tmp_path: Path
) -> None:
    skip_without_our_nodes(cluster)
    namespace = cluster.namespace
    await client.create(LEADERGROUPS, group_on_nodes("onnodes", namespace), namespace)

    async def ready_pods() -> list[dict[str, Any]] | None:
        pods = (await client.list(PODS, namespace, label_selector="leadergroup.dev/group=onnodes"))["items"]
        ready = [pod for pod in pods if running_and_ready(pod)]
        return ready if len(ready) == 3 else None

    pods = await eventually(ready_pods, timeout=60, message="three Running, Ready pods")
    assert all(pod["spec"]["nodeName"].startswith("kwok-node-") for pod in pods), "placed by the scheduler"

    async def deployment_ready() -> bool:
        deployment = await client.get(DEPLOYMENTS, "onnodes", namespace)
        return (deployment.get("status") or {}).get("readyReplicas") == 3

    await eventually(deployment_ready, timeout=30, message="the Deployment reports 3 ready replicas")

    identity = await service_account_kubeconfig(cluster, client, "onnodes", tmp_path)
    fleet = Fleet(cluster, tmp_path, lease_name="onnodes", kubeconfig=identity)
    try:
        fleet.start(pods[0]["metadata"]["name"])

        async def group_ready() -> dict[str, Any] | None:
            status = (await client.get(LEADERGROUPS, "onnodes", namespace)).get("status") or {}
            return status if status.get("state") == "Ready" and status.get("ready") == "3/3" else None

        status = await eventually(group_ready, timeout=30, message="the group is Ready, 3/3")
        assert status["holder"] == pods[0]["metadata"]["name"]
    finally:
        fleet.close()

    # Graceful deletion: the pod stays (terminating) until KWOK, as a kubelet, finishes it; then the
    # ReplicaSet's replacement is scheduled and gets Ready.
    doomed = pods[2]["metadata"]["name"]
    cluster.kubectl("delete", "pod", doomed, "-n", namespace, "--grace-period=3", "--wait=false")

    async def replaced() -> bool:
        current = await ready_pods()
        return current is not None and doomed not in {pod["metadata"]["name"] for pod in current}

    await eventually(replaced, timeout=60, message="the deleted pod is replaced by a Ready one")


@pytest.mark.timeout(180)
async def test_a_rolling_update_on_nodes_keeps_every_replica_ready(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    skip_without_our_nodes(cluster)
    namespace = cluster.namespace
    await client.create(LEADERGROUPS, group_on_nodes("rolling", namespace, {"revision": "1"}), namespace)

    async def ready_pods() -> list[dict[str, Any]]:
        pods = (await client.list(PODS, namespace, label_selector="leadergroup.dev/group=rolling"))["items"]
        return [pod for pod in pods if running_and_ready(pod)]

    async def all_ready() -> list[dict[str, Any]] | None:
        ready = await ready_pods()
        return ready if len(ready) == 3 else None

    before = {pod["metadata"]["name"] for pod in await eventually(all_ready, timeout=60, message="3 ready")}
    await client.patch(
        LEADERGROUPS,
        "rolling",
        {"spec": {"template": {"metadata": {"annotations": {"revision": "2"}}}}},
        namespace,
    )
    # The Deployment's default strategy (maxUnavailable 25% of 3 = 0, maxSurge 1): a new pod must be
    # Ready before an old one goes, so at least 3 replicas stay Ready all the way through the rollout.
    fewest = 3
    deadline = asyncio.get_running_loop().time() + 120
    while True:
        ready = await ready_pods()
        fewest = min(fewest, len(ready))
        names = {pod["metadata"]["name"] for pod in ready}
        if len(ready) == 3 and not names & before:
            break
        assert asyncio.get_running_loop().time() < deadline, f"rollout stuck: {names} (old {before})"
        await asyncio.sleep(0.1)
    assert fewest >= 3, f"only {fewest} ready replicas during the rollout"
    deployment = await client.get(DEPLOYMENTS, "rolling", namespace)
    assert deployment["spec"]["template"]["metadata"]["annotations"]["revision"] == "2"
