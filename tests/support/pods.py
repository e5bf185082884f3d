"""The pods of a group's Deployment on either backend: the stand-in controller's, or the real cluster's."""

from __future__ import annotations

from tests.support.cluster import Cluster
from tests.support.eventually import eventually

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS
from leadergroup.sim.standins import pods_of, replicate


async def deployment_pods(client: KubeClient, cluster: Cluster, name: str) -> list[str]:
    """Wait for the Deployment ``name`` and return its pods' names, once it has all it asks for."""
    namespace = cluster.namespace
    found = await eventually(
        lambda: client.get_or_none(DEPLOYMENTS, name, namespace), timeout=10, message="the Deployment"
    )
    if cluster.emulator is not None:
        return await replicate(client, namespace, name)
    wanted = int(found["spec"]["replicas"])

    async def real_pods() -> list[str] | None:
        pods = await pods_of(client, found)
        return [p["metadata"]["name"] for p in pods] if len(pods) >= wanted else None

    return await eventually(real_pods, timeout=30, message="the Deployment's pods")
