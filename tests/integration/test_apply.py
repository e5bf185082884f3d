"""`apply.ensure` against an API server: a child changed since it was last seen is read and judged again."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import Cluster

from leadergroup.apply import CONFLICT_ATTEMPTS, ensure
from leadergroup.builders import get_children
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import LEADERGROUPS, SERVICE_ACCOUNTS, Resource
from leadergroup.model import LeaderGroup

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"


class RacingClient(KubeClient):
    """The real client, with another writer changing the object just before each of our patches."""

    patches = 0

    async def patch(self, resource: Resource, name: str, patch: Any, *args: Any, **kwargs: Any) -> Any:
        self.patches += 1
        namespace = kwargs.get("namespace", args[0] if args else None)
        await super().patch(
            resource, name, {"metadata": {"annotations": {"other": str(self.patches)}}}, namespace
        )
        return await super().patch(resource, name, patch, *args, **kwargs)


async def service_account_of_a_group(client: KubeClient, namespace: str) -> tuple[dict[str, Any], str]:
    """The group's built ServiceAccount (owned by a real LeaderGroup, so no garbage collector takes it)."""
    body = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": "applied", "namespace": namespace}
    group = LeaderGroup.from_body(await client.create(LEADERGROUPS, body, namespace))
    child = next(c for c in get_children(group) if c["kind"] == "ServiceAccount")
    return child, group.uid


async def test_a_child_changed_since_it_was_seen_is_judged_again_not_failed(cluster: Cluster) -> None:
    namespace = cluster.namespace
    async with KubeClient.auto(cluster.kubeconfig) as client:
        desired, owner = await service_account_of_a_group(client, namespace)
        seen = (await ensure(client, desired, owner_uid=owner, assume_absent=True)).object
        await client.patch(SERVICE_ACCOUNTS, "applied", {"metadata": {"annotations": {"x": "1"}}}, namespace)
        wanted = copy.deepcopy(desired)
        wanted["metadata"]["labels"]["team"] = "blue"

        applied = await ensure(client, wanted, owner_uid=owner, live=seen)

        assert applied.action == "patched"
        live = await client.get(SERVICE_ACCOUNTS, "applied", namespace)
        assert live["metadata"]["labels"]["team"] == "blue"
        assert live["metadata"]["annotations"]["x"] == "1", "the other writer's change stands"


async def test_a_child_that_keeps_changing_fails_after_a_few_attempts(cluster: Cluster) -> None:
    namespace = cluster.namespace
    async with RacingClient.auto(cluster.kubeconfig) as client:
        desired, owner = await service_account_of_a_group(client, namespace)
        await ensure(client, desired, owner_uid=owner, assume_absent=True)
        wanted = copy.deepcopy(desired)
        wanted["metadata"]["labels"]["team"] = "blue"

        with pytest.raises(ApiError) as refused:
            await ensure(client, wanted, owner_uid=owner)

        assert refused.value.conflict
        assert client.patches == CONFLICT_ATTEMPTS
