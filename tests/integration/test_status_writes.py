"""Readiness changes coming close together cost one status write; a holder change is written at once."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import yaml
from tests.support.cluster import Cluster
from tests.support.eventually import eventually

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, LEASES, Resource
from leadergroup.reconcile import READINESS_COALESCE_SECONDS, GroupController

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"


class CountingClient(KubeClient):
    """The real client, counting the status writes it sends."""

    status_writes = 0

    async def patch(self, resource: Resource, name: str, patch: Any, *args: Any, **kwargs: Any) -> Any:
        if resource == LEADERGROUPS and kwargs.get("subresource") == "status":
            self.status_writes += 1
        return await super().patch(resource, name, patch, *args, **kwargs)


def with_ready(deployment: dict[str, Any], ready: int) -> dict[str, Any]:
    """The Deployment as its controller reports ``ready`` of three replicas ready."""
    reported = copy.deepcopy(deployment)
    generation = reported["metadata"].get("generation", 1)
    reported["status"] = {
        "observedGeneration": generation,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": ready,
    }
    return reported


async def test_readiness_steps_within_a_second_share_one_write(cluster: Cluster) -> None:
    namespace = cluster.namespace
    client = CountingClient.auto(cluster.kubeconfig)
    async with client:
        controller = GroupController(client)
        body = yaml.safe_load(SAMPLE.read_text())
        body["metadata"] = {"name": "steps", "namespace": namespace}
        group = await client.create(LEADERGROUPS, body, namespace)
        assert await controller.reconcile(group, fresh=True) is None
        assert client.status_writes == 1, "the first status"
        deployment = await client.get(DEPLOYMENTS, "steps", namespace)

        await controller.observe_deployment("MODIFIED", with_ready(deployment, 1))
        await controller.observe_deployment("MODIFIED", with_ready(deployment, 2))
        assert client.status_writes == 1, "both wait for the rest of the second after the first status"

        async def ready_two() -> bool:
            current = await client.get(LEADERGROUPS, "steps", namespace)
            return bool((current.get("status") or {}).get("readyReplicas") == 2)

        await eventually(ready_two, timeout=5, message="the coalesced write carries the latest readiness")
        assert client.status_writes == 2

        # A new holder is written at once, whatever was written a moment ago.
        lease = await client.get(LEASES, "steps", namespace)
        lease["spec"].update(holderIdentity="steps-pod-a", leaseDurationSeconds=15)
        await controller.observe_lease("MODIFIED", await client.replace(LEASES, "steps", lease, namespace))
        assert client.status_writes == 3

        # Long enough after the last write, readiness is written at once too.
        await asyncio.sleep(READINESS_COALESCE_SECONDS)
        await controller.observe_deployment("MODIFIED", with_ready(deployment, 3))
        assert client.status_writes == 4
        current = await client.get(LEADERGROUPS, "steps", namespace)
        assert current["status"]["ready"] == "3/3"
