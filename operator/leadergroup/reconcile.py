"""Level-triggered reconciliation of LeaderGroups and the status that follows their Leases.

Every trigger — the group created, updated or resumed, a child edited or deleted, the Lease taken by
another holder, a pod of the group created or deleted — ends in the same idempotent steps: make the
children match the spec (:meth:`GroupController.reconcile`), publish the status computed from what was
observed, and give the pods their roles. Per group, these run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from leadergroup import constants
from leadergroup.apply import NotOwnedError, drift_patch, ensure, is_owned_by
from leadergroup.builders import get_children
from leadergroup.events import post_event
from leadergroup.groupstate import (
    GroupKey,
    GroupState,
    PodView,
    TransientError,
    group_key_of_child,
    observed_generation,
)
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import DISRUPTION_BUDGETS, LEADERGROUPS, SERVICES, Resource
from leadergroup.leadership import label_pod, release_if_elector_exited, release_if_pod_gone
from leadergroup.model import LeaderGroup, SpecError
from leadergroup.registry import GroupRegistry
from leadergroup.status import (
    DeploymentView,
    GroupFacts,
    LeaseView,
    Stall,
    holder_change,
    next_status,
    stall_change,
    status_patch,
)

logger = logging.getLogger(__name__)

# Groups whose children are built and sent at once. The client sends at most 64 requests at a time
# anyway; without this limit, 1,000 groups created together would each build their children and queue
# them in memory at once, and the heap stays that large after the burst.
CONVERGING_AT_ONCE = 64
# Readiness changes this soon after our last status write of the group are written together (see
# GroupController._publish_readiness): about one write per group saved at bring-up.
READINESS_COALESCE_SECONDS = 1.0

__all__ = ["GroupController", "GroupKey", "TransientError"]

# Children that exist only while the spec asks for them: (resource, name of the child for a group name).
_OPTIONAL_CHILDREN: tuple[tuple[Resource, Callable[[str], str]], ...] = (
    (SERVICES, constants.leader_service_name),
    (DISRUPTION_BUDGETS, constants.disruption_budget_name),
)


class GroupController(GroupRegistry):
    """Reconciles groups, publishes their status and routes leadership; one per operator process."""

    def __init__(self, client: KubeClient) -> None:
        super().__init__()
        self.client = client
        self._background: set[asyncio.Task[None]] = set()  # coalesced readiness writes
        self._converging = asyncio.Semaphore(CONVERGING_AT_ONCE)

    async def reconcile(self, body: Mapping[str, Any], *, fresh: bool = False) -> Stall | None:
        """Make the group's children match its spec, publish its status, label its pods.

        Args:
            body: The LeaderGroup as last seen.
            fresh: The group was just created: create its children without reading them first.

        Returns:
            Why the group is stalled, or None when it is in sync.

        Raises:
            TransientError: worth retrying later.
        """
        metadata = body["metadata"]
        key: GroupKey = (metadata["namespace"], metadata["name"])
        state = self.state(key)
        # The turn first, then the group's lock: a group waiting for its turn must not hold its lock, or
        # every event of its pods and children waits behind it (a restart queues every group at once, and
        # the last of 5,000 waits minutes for its turn).
        async with self._converging, state.lock:
            if state.uid != metadata.get("uid") or state.status is None:
                state.status = dict(body.get("status") or {})
                state.observed_generation = observed_generation(state.status)
            state.uid = str(metadata.get("uid", ""))
            started = time.monotonic()
            try:
                state.stall = await self._converge(body, state, fresh)
            except TransientError:
                state.counters.error("Transient")
                raise
            finally:
                state.counters.reconciles += 1
                state.counters.reconcile_seconds += time.monotonic() - started
            # Applied, or judged blocked until the user acts (a stall): either way the status now speaks of
            # this spec. A transient failure leaves it describing the last spec that was applied.
            state.observed_generation = int(metadata.get("generation") or 0)
            if state.stall:
                state.counters.error(state.stall.reason)
            await self._publish(key, state)
            await self._label_pods(state)
            return state.stall

    async def _converge(self, body: Mapping[str, Any], state: GroupState, fresh: bool) -> Stall | None:
        try:
            group = LeaderGroup.from_body(body)
        except SpecError as error:
            return Stall("InvalidSpec", str(error))
        state.group = group
        desired = get_children(group)
        try:
            for child in desired:
                if child["kind"] == "Lease" and state.lease_body and state.lease_body.get("spec"):
                    # A Lease deleted by hand comes back with its last record: the holder renews it as
                    # before, and no standby mistakes an empty Lease for a free one meanwhile.
                    child = {**child, "spec": dict(state.lease_body["spec"])}
                applied = await ensure(self.client, child, owner_uid=group.uid, assume_absent=fresh)
                state.converged[(applied.kind, applied.name)] = str(
                    applied.object["metadata"]["resourceVersion"]
                )
                if applied.action != "unchanged":
                    logger.info("%s %s/%s %s", applied.kind, group.namespace, applied.name, applied.action)
                if applied.kind == "Lease":
                    state.see_lease(applied.object)
                elif applied.kind == "Deployment":
                    state.deployment = DeploymentView.of(applied.object)
            wanted = {(c["kind"], c["metadata"]["name"]) for c in desired}
            # Only the children the group has now: a listing that lacks one reports its deletion.
            state.converged = {
                identity: version for identity, version in state.converged.items() if identity in wanted
            }
            if not fresh:  # a new group has no children the spec no longer wants
                await self._remove_unwanted(group, wanted)
        except NotOwnedError as error:
            return Stall("ChildNotOwned", str(error))
        except ApiError as error:
            if error.invalid or error.status in (400, 403):
                return Stall("ChildRejected", f"The API server refused a child of the group: {error.message}")
            raise TransientError(str(error)) from error
        return None

    async def _remove_unwanted(self, group: LeaderGroup, wanted: set[tuple[str, str]]) -> None:
        for resource, name_for in _OPTIONAL_CHILDREN:
            name = name_for(group.name)
            if (resource.kind, name) in wanted:
                continue
            live = await self.client.get_or_none(resource, name, group.namespace)
            if live is None:
                continue
            # Only what we own goes; a user's object of the same name stays.
            if is_owned_by(live, group.uid):
                await self.client.delete(
                    resource, name, group.namespace, resource_version=live["metadata"]["resourceVersion"]
                )
                logger.info("%s %s/%s deleted: no longer in the spec", resource.kind, group.namespace, name)

    async def _publish(self, key: GroupKey, state: GroupState) -> None:
        if not state.known or state.status is None:
            return
        spec = state.group.spec if state.group else None
        facts = GroupFacts(
            generation=state.observed_generation,
            replicas=state.replicas,
            flapping_max_transitions=spec.flapping.max_transitions if spec else 5,
            flapping_window_seconds=spec.flapping.window_seconds if spec else 600,
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
            written = await self.client.patch(
                LEADERGROUPS, name, {"status": patch}, namespace, subresource="status"
            )
        except ApiError as error:
            if error.not_found:
                self.forget(key)
                return
            raise TransientError(str(error)) from error
        state.status_echo.expect(written)
        state.status_written_at = time.monotonic()
        change = holder_change(state.status, new)
        stalled = stall_change(state.status, new)
        state.status = new
        group_ref = {"name": name, "namespace": namespace, "uid": state.uid}
        if stalled:
            reason, message = stalled
            logger.warning("LeaderGroup %s/%s is stalled (%s): %s", namespace, name, reason, message)
            await post_event(self.client, group_ref, reason=reason, message=message, type_="Warning")
        if change:
            old, current = change
            message = f"Leader changed from {old or '(none)'} to {current or '(none)'}"
            logger.info("LeaderGroup %s/%s: %s", namespace, name, message)
            await post_event(self.client, group_ref, reason="LeaderChanged", message=message)

    async def observe_group(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Keep the cached spec and status current with what the API server says.

        Kopf runs the create/update/resume handlers only for changes it has not handled; a replica that
        was paused (Kopf peering) while another one handled a change would otherwise keep acting on the
        old spec, and diff its status writes against an old status.
        """
        metadata = body.get("metadata") or {}
        key: GroupKey = (str(metadata.get("namespace")), str(metadata.get("name")))
        if event_type == "DELETED":
            self.forget(key)
            return
        state = self.groups.get(key)
        if state is None or not state.known or state.uid != metadata.get("uid"):
            return  # not reconciled yet by this replica: Kopf's create/resume handler will
        async with state.lock:
            if not state.status_echo.is_stale(body):
                state.status = dict(body.get("status") or {})
                # Another replica applied a newer spec while this one was paused: its status says so.
                state.observed_generation = max(state.observed_generation, observed_generation(state.status))
            generation = int(metadata.get("generation") or 0)
            if state.group is None or generation != state.group.generation:
                try:
                    state.group = LeaderGroup.from_body(body)
                except SpecError:
                    return  # the update handler reports it

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
            if not state.see_lease(lease):
                return  # a renewal: nothing the status reports has changed
            await self._publish(key, state)
            await self._label_pods(state)

    async def observe_pod(self, event_type: str | None, pod: Mapping[str, Any]) -> None:
        """A pod of a group changed: give it its role; if the holder's pod is gone, release the Lease."""
        key = group_key_of_child(pod)
        if key is None:
            return
        name = str((pod.get("metadata") or {}).get("name"))
        if event_type == "DELETED":
            gone = self.groups.get(key)  # a deleted group's pods must not bring its state back
            if gone is not None:
                async with gone.lock:
                    gone.pods.pop(name, None)
                    await self._release_if_holder(gone, pod)
            return
        state = self.state(key)
        async with state.lock:
            known = state.pods.get(name)
            if known is not None and known.echo.is_stale(pod):
                return
            state.pods[name] = PodView.of(pod)
            await self._release_if_elector_exited(state, known.body if known else None, pod)
            await self._label_pods(state, only=[name])

    async def _release_if_holder(self, state: GroupState, pod: Mapping[str, Any]) -> None:
        observed = state.lease_body
        if state.known and state.failover and observed:
            holder = LeaseView.of(observed).holder
            await self._count_release(state, release_if_pod_gone(self.client, observed, holder, pod))

    async def _release_if_elector_exited(
        self, state: GroupState, previous: Mapping[str, Any] | None, pod: Mapping[str, Any]
    ) -> None:
        observed = state.lease_body
        if state.known and state.group and state.release_on_exit and observed:
            holder, container = LeaseView.of(observed).holder, state.group.spec.elector_container
            release = release_if_elector_exited(self.client, observed, holder, previous, pod, container)
            await self._count_release(state, release)

    @staticmethod
    async def _count_release(state: GroupState, release: Awaitable[bool]) -> None:
        try:
            released = await release
        except ApiError as error:
            raise TransientError(str(error)) from error
        state.counters.failover_releases += int(released)

    async def _label_pods(self, state: GroupState, only: list[str] | None = None) -> None:
        if not state.known or state.lease is None:
            return
        for name in only or list(state.pods):
            view = state.pods.get(name)
            if view is None:
                continue
            try:
                patched = await label_pod(self.client, view.body, state.lease.holder)
            except ApiError as error:
                raise TransientError(str(error)) from error
            if patched is not None:
                state.pods[name] = PodView.of(patched, written=True)
                # Our patch's answer may be the first sight of a kubelet report (its own event then comes
                # as a stale echo): judge it here too, or a restart would go unnoticed.
                await self._release_if_elector_exited(state, view.body, patched)

    async def observe_deployment(self, event_type: str | None, deployment: Mapping[str, Any]) -> None:
        """A labelled Deployment changed: fix drift, publish readiness."""
        key = group_key_of_child(deployment)
        if key is None:
            return
        state = self.state(key)
        if self._readiness_changed(state, event_type, deployment):
            state.deployment = DeploymentView.of(deployment)
            await self._publish_readiness(key, state)
        await self.observe_child(event_type, deployment)

    async def _publish_readiness(self, key: GroupKey, state: GroupState) -> None:
        # Pods get ready one by one, often within a second of each other and of the group's first status:
        # a readiness change less than READINESS_COALESCE_SECONDS after our last status write waits out
        # the rest of that second, and one write then carries every change that came meanwhile. Holder
        # changes never wait (status lag), and carry the latest readiness with them.
        if state.readiness_pending:
            return  # the scheduled write will carry this change too
        wait = state.status_written_at + READINESS_COALESCE_SECONDS - time.monotonic()
        if wait <= 0:
            async with state.lock:
                await self._publish(key, state)
            return
        state.readiness_pending = True
        task = asyncio.create_task(self._publish_readiness_later(key, state, wait))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish_readiness_later(self, key: GroupKey, state: GroupState, wait: float) -> None:
        await asyncio.sleep(wait)
        state.readiness_pending = False
        if self.groups.get(key) is not state:
            return  # deleted meanwhile
        try:
            async with state.lock:
                await self._publish(key, state)
        except TransientError as error:
            logger.warning("Status of %s/%s not written, trying again: %s", *key, error)
            state.status_written_at = time.monotonic()  # back off one coalescing window
            await self._publish_readiness(key, state)

    async def observe_child(self, event_type: str | None, child: Mapping[str, Any]) -> None:
        """A labelled child changed or went away: reconcile the group if it drifted from what we want."""
        key = group_key_of_child(child)
        if key is None:
            return
        state = self.groups.get(key)
        if state is None or state.group is None or not self._may_have_drifted(state, event_type, child):
            return
        if event_type == "DELETED":
            await self._refetch_and_reconcile(key)
            return
        metadata = child.get("metadata") or {}
        identity = (str(child.get("kind")), str(metadata.get("name")))
        desired = next(
            (c for c in get_children(state.group) if (c["kind"], c["metadata"]["name"]) == identity), None
        )
        if desired is None or not drift_patch(desired, child):
            state.converged[identity] = str(metadata.get("resourceVersion"))
            return
        # Heal from the group as the API server has it now, not from a cached spec.
        logger.info("%s %s/%s drifted from the spec: reconciling", identity[0], key[0], identity[1])
        await self._refetch_and_reconcile(key)

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
