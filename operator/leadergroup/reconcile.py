"""Level-triggered reconciliation of LeaderGroups and the status that follows their Leases.

Every trigger — the group created, updated or resumed, a child edited or deleted, the Lease renewed by
another holder — ends in the same two idempotent steps: make the children match the spec
(:meth:`GroupController.reconcile`) and publish the status computed from what was observed
(:meth:`GroupController.publish`). Per group, these run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
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
from leadergroup.leadership import label_pods, release_dead_holder
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
    failover: bool = True
    stall: Stall | None = None
    lease: LeaseView | None = None
    lease_body: dict[str, Any] | None = None
    deployment: DeploymentView | None = None
    status: dict[str, Any] | None = None
    desired: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    counters: GroupCounters = field(default_factory=lambda: GroupCounters())

    @property
    def known(self) -> bool:
        """Whether a reconcile has run for this group since the operator started."""
        return bool(self.uid)


@dataclass
class GroupCounters:
    """Running totals the metrics endpoint reports (since this operator process started)."""

    leader_changes: int = 0
    leaderless_seconds: float = 0.0
    leaderless_since: float | None = None  # monotonic
    failover_releases: int = 0
    reconciles: int = 0
    reconcile_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def holder_seen(self, holder: str, now: float) -> None:
        """Account for the Lease's holder as observed at ``now`` (monotonic)."""
        if self.leaderless_since is not None:
            self.leaderless_seconds += now - self.leaderless_since
            self.leaderless_since = None
        if not holder:
            self.leaderless_since = now

    def leaderless_total(self, now: float) -> float:
        """Seconds without a holder, including the current leaderless stretch."""
        current = now - self.leaderless_since if self.leaderless_since is not None else 0.0
        return self.leaderless_seconds + current

    def error(self, reason: str) -> None:
        """Count a failed or stalled reconcile."""
        self.errors[reason] = self.errors.get(reason, 0) + 1


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
            started = time.monotonic()
            try:
                state.stall = await self._converge_body(body, state)
            except TransientError:
                state.counters.error("Transient")
                raise
            finally:
                state.counters.reconciles += 1
                state.counters.reconcile_seconds += time.monotonic() - started
            if state.stall:
                state.counters.error(state.stall.reason)
            await self._publish(key, state)
            if state.lease is not None:
                await self._label_pods(state)
            return state.stall

    async def _converge_body(self, body: Mapping[str, Any], state: GroupState) -> Stall | None:
        try:
            group = LeaderGroup.from_body(body)
        except SpecError as error:
            return Stall("InvalidSpec", str(error))
        state.replicas = group.spec.replicas
        state.failover = group.spec.failover.release_on_holder_deletion
        state.flapping_max_transitions = group.spec.flapping.max_transitions
        state.flapping_window_seconds = group.spec.flapping.window_seconds
        return await self._converge(group, state)

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

    @classmethod
    def _observe(cls, state: GroupState, child: Mapping[str, Any]) -> None:
        if child.get("kind") == "Lease":
            cls._see_lease(state, child)
        elif child.get("kind") == "Deployment":
            state.deployment = DeploymentView.of(child)

    @staticmethod
    def _see_lease(state: GroupState, lease: Mapping[str, Any]) -> bool:
        """Record the Lease as observed; whether what the status reports of it changed."""
        state.lease_body = dict(lease)
        view = LeaseView.of(lease)
        if view == state.lease:
            return False  # a renewal
        if state.lease is None or view.holder != state.lease.holder:
            state.counters.holder_seen(view.holder, time.monotonic())
            state.counters.leader_changes += 1 if view.holder else 0
        state.lease = view
        return True

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
        async with state.lock:
            if not self._see_lease(state, lease):
                return  # a renewal: nothing the status reports has changed
            await self._publish(key, state)
            await self._label_pods(state)

    async def observe_pod(self, event_type: str | None, pod: Mapping[str, Any]) -> None:
        """A pod of a group changed: give it its role; if the holder's pod is gone, release the Lease."""
        key = group_key_of_child(pod)
        if key is None:
            return
        state = self.state(key)
        name = str((pod.get("metadata") or {}).get("name"))
        if event_type == "DELETED":
            state.pods.pop(name, None)
            observed = state.lease_body
            holder_gone = bool(observed) and LeaseView.of(observed or {}).holder == name
            if state.known and state.failover and holder_gone and observed:
                try:
                    released = await release_dead_holder(self.client, observed, name)
                except ApiError as error:
                    raise TransientError(str(error)) from error
                state.counters.failover_releases += int(released)
            return
        state.pods[name] = {"metadata": dict(pod.get("metadata") or {})}
        await self._label_pods(state, only=[name])

    async def _label_pods(self, state: GroupState, only: list[str] | None = None) -> None:
        if not state.known or state.lease is None:
            return
        pods = [state.pods[name] for name in (only or list(state.pods)) if name in state.pods]
        try:
            await label_pods(self.client, pods, state.lease.holder)
        except ApiError as error:
            raise TransientError(str(error)) from error

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
