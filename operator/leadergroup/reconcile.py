"""Level-triggered reconciliation of LeaderGroups and the status that follows their Leases.

Every trigger — the group created, updated or resumed, a child edited or deleted, the Lease renewed by
another holder — ends in the same two idempotent steps: make the children match the spec
(:meth:`GroupController.reconcile`) and publish the status computed from what was observed
(:meth:`GroupController.publish`). Per group, these run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadergroup import constants
from leadergroup.apply import NotOwnedError, drift_patch, ensure, is_owned_by
from leadergroup.builders import get_children
from leadergroup.events import post_event
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import DISRUPTION_BUDGETS, LEADERGROUPS, SERVICES, Resource
from leadergroup.model import LeaderGroup, SpecError
from leadergroup.status import (
    DeploymentView,
    GroupFacts,
    LeaseView,
    Stall,
    holder_change,
    next_status,
    status_patch,
)

logger = logging.getLogger(__name__)

GroupKey = tuple[str, str]  # (namespace, name)

# Children that exist only while the spec asks for them: (resource, name of the child for a group name).
_OPTIONAL_CHILDREN: tuple[tuple[Resource, Any], ...] = (
    (SERVICES, constants.leader_service_name),
    (DISRUPTION_BUDGETS, constants.disruption_budget_name),
)


@dataclass
class GroupState:
    """What the operator knows of one group between events."""

    uid: str = ""
    generation: int = 0
    replicas: int = constants.DEFAULT_REPLICAS
    flapping_max_transitions: int = 5
    flapping_window_seconds: int = 600
    stall: Stall | None = None
    lease: LeaseView | None = None
    deployment: DeploymentView | None = None
    status: dict[str, Any] | None = None
    desired: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def known(self) -> bool:
        """Whether a reconcile has run for this group since the operator started."""
        return bool(self.uid)


class TransientError(Exception):
    """The API server failed in a way worth retrying (throttled, unavailable, lost a race)."""


def group_key_of_child(body: Mapping[str, Any]) -> GroupKey | None:
    """The group a labelled child belongs to, from its namespace and group label."""
    metadata = body.get("metadata") or {}
    group = (metadata.get("labels") or {}).get(constants.LABEL_GROUP)
    namespace = metadata.get("namespace")
    return (str(namespace), str(group)) if group and namespace else None


class GroupController:
    """Reconciles groups and publishes their status; one per operator process."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.groups: dict[GroupKey, GroupState] = {}

    def state(self, key: GroupKey) -> GroupState:
        """The state of a group, created empty on first use."""
        return self.groups.setdefault(key, GroupState())

    def forget(self, key: GroupKey) -> None:
        """Drop a deleted group's state."""
        self.groups.pop(key, None)

    def is_stalled(self, key: GroupKey) -> bool:
        """Whether the group's last reconcile stalled."""
        state = self.groups.get(key)
        return bool(state and state.stall)

    async def reconcile(self, body: Mapping[str, Any]) -> Stall | None:
        """Make the group's children match its spec, then publish its status.

        Returns:
            Why the group is stalled, or None when it is in sync.

        Raises:
            TransientError: worth retrying later.
        """
        metadata = body["metadata"]
        key: GroupKey = (metadata["namespace"], metadata["name"])
        state = self.state(key)
        async with state.lock:
            if state.uid != metadata.get("uid") or state.status is None:
                state.status = dict(body.get("status") or {})
            state.uid = str(metadata.get("uid", ""))
            state.generation = int(metadata.get("generation") or 0)
            try:
                group = LeaderGroup.from_body(body)
            except SpecError as error:
                state.stall = Stall("InvalidSpec", str(error))
            else:
                state.replicas = group.spec.replicas
                state.flapping_max_transitions = group.spec.flapping.max_transitions
                state.flapping_window_seconds = group.spec.flapping.window_seconds
                state.stall = await self._converge(group, state)
            await self._publish(key, state)
            return state.stall

    async def _converge(self, group: LeaderGroup, state: GroupState) -> Stall | None:
        desired = get_children(group)
        state.desired = {(child["kind"], child["metadata"]["name"]): child for child in desired}
        try:
            for child in desired:
                applied = await ensure(self.client, child, owner_uid=group.uid)
                if applied.action != "unchanged":
                    logger.info("%s %s/%s %s", applied.kind, group.namespace, applied.name, applied.action)
                self._observe(state, applied.object)
            await self._remove_unwanted(group, state)
        except NotOwnedError as error:
            return Stall("ChildNotOwned", str(error))
        except ApiError as error:
            if error.invalid or error.status in (400, 403):
                return Stall("ChildRejected", f"The API server refused a child of the group: {error.message}")
            raise TransientError(str(error)) from error
        return None

    async def _remove_unwanted(self, group: LeaderGroup, state: GroupState) -> None:
        for resource, name_for in _OPTIONAL_CHILDREN:
            name = name_for(group.name)
            if (resource.kind, name) in state.desired:
                continue
            try:
                live = await self.client.get(resource, name, group.namespace)
            except ApiError as error:
                if error.not_found:
                    continue
                raise
            # Only what we own goes; a user's object of the same name stays.
            if is_owned_by(live, group.uid):
                await self.client.delete(
                    resource, name, group.namespace, resource_version=live["metadata"]["resourceVersion"]
                )
                logger.info("%s %s/%s deleted: no longer in the spec", resource.kind, group.namespace, name)

    @staticmethod
    def _observe(state: GroupState, child: Mapping[str, Any]) -> None:
        if child.get("kind") == "Lease":
            state.lease = LeaseView.of(child)
        elif child.get("kind") == "Deployment":
            state.deployment = DeploymentView.of(child)

    async def _publish(self, key: GroupKey, state: GroupState) -> None:
        if not state.known or state.status is None:
            return
        facts = GroupFacts(
            generation=state.generation,
            replicas=state.replicas,
            flapping_max_transitions=state.flapping_max_transitions,
            flapping_window_seconds=state.flapping_window_seconds,
            stall=state.stall,
            deployment=state.deployment,
            lease=state.lease,
        )
        new = next_status(state.status, facts, datetime.now(UTC))
        patch = status_patch(state.status, new)
        if not patch:
            return
        namespace, name = key
        try:
            await self.client.patch(LEADERGROUPS, name, {"status": patch}, namespace, subresource="status")
        except ApiError as error:
            if error.not_found:
                self.forget(key)
                return
            raise TransientError(str(error)) from error
        change = holder_change(state.status, new)
        state.status = new
        if change:
            old, current = change
            message = f"Leader changed from {old or '(none)'} to {current or '(none)'}"
            logger.info("LeaderGroup %s/%s: %s", namespace, name, message)
            await post_event(
                self.client,
                {"name": name, "namespace": namespace, "uid": state.uid},
                reason="LeaderChanged",
                message=message,
            )

    async def observe_lease(self, event_type: str | None, lease: Mapping[str, Any]) -> None:
        """A labelled Lease changed: publish a new holder; recreate the Lease if it was deleted."""
        key = group_key_of_child(lease)
        if key is None:
            return
        if event_type == "DELETED":
            await self._refetch_and_reconcile(key)
            return
        state = self.state(key)
        if state.known and not is_owned_by(lease, state.uid):
            return  # a Lease with our labels that is not this group's: reported by reconcile, not followed
        view = LeaseView.of(lease)
        if view == state.lease:
            return  # a renewal: nothing the status reports has changed
        async with state.lock:
            state.lease = view
            await self._publish(key, state)

    async def observe_deployment(self, event_type: str | None, deployment: Mapping[str, Any]) -> None:
        """A labelled Deployment changed: fix drift, publish readiness."""
        key = group_key_of_child(deployment)
        if key is None:
            return
        state = self.state(key)
        if state.known and event_type != "DELETED" and is_owned_by(deployment, state.uid):
            view = DeploymentView.of(deployment)
            if view != state.deployment:
                async with state.lock:
                    state.deployment = view
                    await self._publish(key, state)
        await self.observe_child(event_type, deployment)

    async def observe_child(self, event_type: str | None, child: Mapping[str, Any]) -> None:
        """A labelled child changed or went away: restore it if it drifted from what we want."""
        key = group_key_of_child(child)
        if key is None:
            return
        state = self.groups.get(key)
        if state is None or not state.known or not is_owned_by(child, state.uid):
            return
        if event_type == "DELETED":
            await self._refetch_and_reconcile(key)
            return
        metadata = child.get("metadata") or {}
        desired = state.desired.get((str(child.get("kind")), str(metadata.get("name"))))
        if desired is None or not drift_patch(desired, child):
            return
        async with state.lock:
            try:
                applied = await ensure(self.client, desired, owner_uid=state.uid, live=child)
            except ApiError as error:
                if not error.conflict:
                    raise TransientError(str(error)) from error
                applied = await ensure(self.client, desired, owner_uid=state.uid)
            logger.info("%s %s/%s restored after drift", applied.kind, key[0], applied.name)

    async def _refetch_and_reconcile(self, key: GroupKey) -> None:
        namespace, name = key
        try:
            body = await self.client.get(LEADERGROUPS, name, namespace)
        except ApiError as error:
            if error.not_found:
                self.forget(key)  # the group is gone: its children are being garbage-collected
                return
            raise TransientError(str(error)) from error
        await self.reconcile(body)
