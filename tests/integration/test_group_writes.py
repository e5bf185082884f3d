"""The operator writes a LeaderGroup's status and nothing else, before and after a restart.

Kopf's default keeps the last handled spec in an annotation on the object, and brands it with a marker:
a write per new group, on an object users keep in Git. The operator keeps the spec in memory and Kopf's
progress only while a handler retries (``leadergroup.bookkeeping``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import yaml
from tests.integration.conftest import OPERATOR_TOKEN
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.operator_process import OperatorProcess

from leadergroup import constants
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"
NAME = "only-status"


def outside_status(group: dict[str, Any]) -> dict[str, Any]:
    """The group without its status and the fields the API server changes on any write."""
    metadata = {
        k: v
        for k, v in group["metadata"].items()
        if k not in ("resourceVersion", "managedFields", "generation")
    }
    return {**{k: v for k, v in group.items() if k != "status"}, "metadata": metadata}


async def reconciled_at(client: KubeClient, namespace: str, generation: int, replicas: int) -> bool:
    group = await client.get(LEADERGROUPS, NAME, namespace)
    deployment = await client.get_or_none(DEPLOYMENTS, NAME, namespace)
    return (
        group.get("status", {}).get("observedGeneration") == generation
        and deployment is not None
        and deployment["spec"]["replicas"] == replicas
    )


async def test_the_operator_writes_only_the_status_of_a_group(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    body = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": NAME, "namespace": namespace}
    created = await client.create(LEADERGROUPS, body, namespace)
    seen: list[dict[str, Any]] = []

    async def follow() -> None:
        async for event in client.watch(
            LEADERGROUPS,
            namespace,
            resource_version=created["metadata"]["resourceVersion"],
            field_selector=f"metadata.name={NAME}",
        ):
            seen.append(event["object"])

    watching = asyncio.create_task(follow())
    try:
        await eventually(lambda: reconciled_at(client, namespace, 1, 3), timeout=15, message="created")
        await client.patch(LEADERGROUPS, NAME, {"spec": {"replicas": 2}}, namespace)
        await eventually(lambda: reconciled_at(client, namespace, 2, 2), timeout=15, message="updated")
        # Stopped inside a handler, Kopf would rightly record a retry on the group: let the handler end.
        await eventually(lambda: "Updating is processed" in operator.log(), timeout=15, message="handled")

        # A new process remembers nothing of what the last one handled: it reconciles the group again,
        # as an existing one (no creation attempts), and follows the next spec change.
        operator.terminate()
        restarted = time.time()
        operator.start()
        await client.patch(LEADERGROUPS, NAME, {"spec": {"replicas": 1}}, namespace)
        await eventually(lambda: reconciled_at(client, namespace, 3, 1), timeout=15, message="after restart")
        await eventually(lambda: len(seen) >= 3, message="the watch delivered the changes")
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching

    previous = created
    for group in seen:
        if group["metadata"]["generation"] == previous["metadata"]["generation"]:
            assert outside_status(group) == outside_status(previous), "a write to more than the status"
        previous = group
    annotations = (await client.get(LEADERGROUPS, NAME, namespace))["metadata"].get("annotations", {})
    assert not [key for key in annotations if key.startswith(f"{constants.GROUP}/")]
    if cluster.emulator is not None:
        creates = [
            f"{r.resource}/{r.name}"
            for r in cluster.emulator.requests
            if r.user == OPERATOR_TOKEN
            and r.verb == "create"
            and r.time >= restarted
            and r.resource != "events"
        ]
        assert creates == [], "the restarted operator took an existing group for a new one"
