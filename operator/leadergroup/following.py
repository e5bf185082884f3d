"""Following the groups' Leases, pods and children with watches of our own; Kopf keeps the LeaderGroups.

Every holder renews its Lease every RetryPeriod (2 s with client-go's defaults), so 1,000 groups make 500
Lease events a second. Through Kopf each one cost about a millisecond of CPU (its per-object worker and
memory, diff-base, progress storage and logging; py-spy, docs/benchmarks.md) only to learn that nothing
the status reports had changed: most of a core at 1,000 groups, and more than the machine at 5,000.
:class:`LeaseFollower` drops renewals in the event loop and hands holder changes and deletions to
:meth:`GroupController.observe_lease`.

Pods are three a group, and each is some 16 kB of objects: a restarted operator's initial list of 3,000
pods, all held at once in Kopf's per-object workers, was most of its peak memory. :class:`PodFollower`
keeps of each pod only what the controller reads (``pod_essentials``) the moment it arrives.
:class:`ChildFollower` drops, as they arrive, the child events the controller would not act on: the
echoes of our own writes, and the children of groups not reconciled yet (a restart's initial lists).

All of them list in pages and watch the same objects Kopf did (with the shard's selector if any), and
hand each remaining event to the controller in a task of its own, so that a slow write for one group does
not hold up the others (the group's lock keeps one group's events in order).

They work only while the replica is active: ``gate`` (:class:`ActivityGate`) says when Kopf peering lets
this replica work, and the followers stop their watches when paused and list afresh when resumed, as Kopf
does with its own. ``leadergroup-operator`` sets this up (``memo["following"]``); under a plain
``kopf run -m leadergroup.handlers``, or with a namespace pattern, Kopf handlers follow them instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from leadergroup.groupstate import TransientError, group_key_of_child, pod_essentials
from leadergroup.kube import ApiError, ApiUnavailable, KubeClient, WatchSilent
from leadergroup.kube.liveness import (
    WATCH_IDLE_SECONDS,
    WATCHES,
    RestartReason,
    WatchBook,
    retry_delay,
    server_timeout_seconds,
)
from leadergroup.kube.resources import (
    DEPLOYMENTS,
    DISRUPTION_BUDGETS,
    LEASES,
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
    Resource,
)
from leadergroup.reconcile import GroupController

logger = logging.getLogger(__name__)

# Retry delays for watch events, which nothing retries otherwise.
EVENT_RETRY_DELAYS = (0.5, 2.0, 5.0)
# Objects per page of a list, as client-go's reflector (and Kopf here, handlers.WATCH_LIST_PAGE_SIZE).
LIST_PAGE_SIZE = 500


class ActivityGate(Protocol):
    """Tells whether this replica may work (Kopf peering), and waits for it to change."""

    async def wait_active(self) -> None:
        """Return once the replica may work (at once if it may now)."""

    async def wait_paused(self) -> None:
        """Return once the replica must stop working (never, for a replica without peers)."""


class AlwaysActive:
    """The gate of a standalone replica: always active."""

    async def wait_active(self) -> None:
        """Return at once."""

    async def wait_paused(self) -> None:
        """Never return."""
        await asyncio.Event().wait()


@dataclass(frozen=True)
class Following:
    """What the operator's CLI hands to the startup handler: what the followers watch, and when they may."""

    namespaces: tuple[str, ...]  # plain names; empty: every namespace
    label_selector: str
    gate: ActivityGate
    shard_selector: str | None = None


async def with_retries(
    handle: Callable[[], Awaitable[None]],
    logger: logging.Logger | Any,
    superseded: Callable[[], bool] = lambda: False,
) -> None:
    """Run an event's handling, retrying transient API failures a few times before giving up on it.

    ``superseded`` says whether a newer event of the same object has come meanwhile: that one is handled
    in its turn, and a retry of this older one would undo it.
    """
    for delay in (*EVENT_RETRY_DELAYS, None):
        try:
            await handle()
            return
        except TransientError as error:
            if delay is None:
                logger.error("Giving up on this event: %s", error)
                return
            logger.warning("Retrying in %.1fs: %s", delay, error)
            await asyncio.sleep(delay)
            if superseded():
                logger.info("Not retrying: a newer event of the object came meanwhile")
                return


class Follower:
    """Lists and watches one managed resource while the replica is active; runs until cancelled.

    Each event is handed to the controller in a task of its own; a subclass says which resource, what
    of an event to keep (:meth:`_admit`), and what the controller follows of it (:meth:`_followed`).
    """

    resource: Resource
    what = "objects"  # for the logs

    def __init__(
        self,
        controller: GroupController,
        client: KubeClient,
        following: Following,
        *,
        retry_delay: float = 1.0,
        page_size: int = LIST_PAGE_SIZE,
        idle_timeout: float = WATCH_IDLE_SECONDS,
        watches: WatchBook = WATCHES,
    ) -> None:
        self.controller = controller
        self.client = client
        self.following = following
        self.retry_delay = retry_delay
        self.page_size = page_size
        self.idle_timeout = idle_timeout
        self.watches = watches  # the liveness probe's and the metrics' record of every watch
        self.watching = 0  # namespaces (or every namespace: 1) being listed and watched now
        self._tasks: set[asyncio.Task[None]] = set()
        self._latest: dict[Hashable, int] = {}  # per object, the number of its newest event handed over
        self._dispatched = 0

    async def run(self) -> None:
        """Follow while active, stand still while paused, until cancelled."""
        gate = self.following.gate
        try:
            while True:
                await gate.wait_active()
                scopes: list[str | None] = list(self.following.namespaces) or [None]
                streams = [asyncio.create_task(self._follow(namespace)) for namespace in scopes]
                paused = asyncio.create_task(gate.wait_paused())
                try:
                    await asyncio.wait([paused, *streams], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (paused, *streams):
                        task.cancel()
                    await asyncio.gather(paused, *streams, return_exceptions=True)
                logger.info("Paused: no longer following %s", self.what)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _follow(self, namespace: str | None) -> None:
        self.watching += 1
        self.watches.started(self.resource.plural, namespace or "", self)
        try:
            await self._list_and_watch(namespace)
        finally:
            self.watches.stopped(self.resource.plural, namespace or "", self)
            self.watching -= 1

    async def _list_and_watch(self, namespace: str | None) -> None:
        """List, then watch from the list's resourceVersion, for ever; each stream's end is accounted for.

        A stream that ends is replaced at once if it had delivered something, and a 410 is listed again at
        once; a failure is retried after a delay that doubles with each failure in a row, and a refusal
        (403) waits longer (:func:`leadergroup.kube.liveness.retry_delay`): an API server that is down,
        slow or refusing is asked again now and then, never flooded.
        """
        resource_version: str | None = None
        scope = namespace or "every namespace"
        plural = self.resource.plural
        failures = refusals = 0
        while True:
            reason: RestartReason
            try:
                if resource_version is None:
                    resource_version = await self._list(namespace)
                    self.watches.heard(plural, namespace or "", self)
                    failures = 0  # not the refusals: a Role may grant the list and refuse the watch
                delivered = False
                async for event in self.client.watch(
                    self.resource,
                    namespace,
                    resource_version=resource_version,
                    label_selector=self.following.label_selector,
                    shard_selector=self.following.shard_selector,
                    timeout_seconds=server_timeout_seconds(),
                    allow_bookmarks=True,
                    idle_timeout=self.idle_timeout,
                ):
                    self.watches.heard(plural, namespace or "", self)
                    delivered, failures, refusals = True, 0, 0
                    body = event.get("object") or {}
                    resource_version = str((body.get("metadata") or {}).get("resourceVersion") or "")
                    if event.get("type") != "BOOKMARK":
                        self._dispatch(str(event.get("type")), body)
                # The server ended the stream (its timeoutSeconds): resume from the last resourceVersion.
                self.watches.heard(plural, namespace or "", self)
                reason = "server-closed"
                failures = 0 if delivered else failures + 1
            except WatchSilent as error:
                reason, failures = "idle", failures + 1
                logger.warning(
                    "%s watch in %s silent for %.0fs, the connection presumed dead: watching again from "
                    "resourceVersion %s",
                    self.resource.kind,
                    scope,
                    error.silent_for,
                    resource_version,
                )
            except ApiUnavailable as error:
                reason, failures = "error", failures + 1
                logger.warning("%s watch in %s lost: %s", self.resource.kind, scope, error)
            except ApiError as error:
                self.watches.heard(plural, namespace or "", self)  # the server answered
                resource_version = None  # list again, as informers do
                if error.status == 410:  # compacted, or a restarted server's cache: at once
                    reason, failures, refusals = "expired", 0, 0
                else:
                    reason, failures = "error", failures + 1
                    refusals = refusals + 1 if error.status == 403 else 0
                    logger.warning("%s watch in %s failed: %s", self.resource.kind, scope, error)
            self.watches.restarted(plural, reason)
            if failures and reason != "idle":  # a silent stream has waited its 40 s already
                await asyncio.sleep(retry_delay(failures, refusals, first=self.retry_delay))

    async def _list(self, namespace: str | None) -> str:
        """List in pages, as client-go's reflector does: one page of objects in memory at a time."""
        present: set[Hashable] = set()
        continue_token: str | None = None
        while True:
            page = await self.client.list(
                self.resource,
                namespace,
                label_selector=self.following.label_selector,
                shard_selector=self.following.shard_selector,
                limit=self.page_size,
                continue_token=continue_token,
            )
            for body in page.get("items") or []:
                # A real server leaves apiVersion and kind out of a built-in list's items; a watch has them.
                body.setdefault("kind", self.resource.kind)
                body.setdefault("apiVersion", self.resource.api_version)
                present.add(self._identity(body))
                self._dispatch(None, body)
            metadata = page.get("metadata") or {}
            continue_token = metadata.get("continue")
            del page  # the whole objects of this page, before the next one arrives
            if not continue_token:
                break
        # An object deleted while we were not watching (paused, or a watch too old to resume) would never
        # send its DELETED event: the listing's silence about it is the news.
        for body in self._followed(namespace):
            if self._identity(body) not in present:
                self._dispatch("DELETED", body)
        return str(metadata.get("resourceVersion") or "")

    def _dispatch(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        kept = self._admit(event_type, body)
        if kept is None:
            return
        identity = self._identity(body)
        self._dispatched += 1
        number = self._dispatched
        self._latest[identity] = number
        # Tasks of one group queue on its lock in the order made, so events of an object are handled in order.
        task = asyncio.create_task(
            with_retries(
                lambda: self._observe(event_type, kept),
                logger,
                superseded=lambda: self._latest.get(identity) != number,
            )
        )
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(done, identity, number))

    def _done(self, task: asyncio.Task[None], identity: Hashable, number: int) -> None:
        self._tasks.discard(task)
        if self._latest.get(identity) == number:
            del self._latest[identity]
        if not task.cancelled() and task.exception() is not None:
            logger.error("Following %s failed", self.what, exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the events handed to the controller so far (tests)."""
        while self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks))

    def _identity(self, body: Mapping[str, Any]) -> Hashable:
        metadata = body.get("metadata") or {}
        return (metadata.get("namespace"), metadata.get("name"))

    def _admit(self, event_type: str | None, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """What of the event to hand to the controller, or None to drop it here."""
        return body

    def _followed(self, namespace: str | None) -> list[Mapping[str, Any]]:
        """The objects the controller follows in ``namespace`` (every namespace when None)."""
        raise NotImplementedError

    async def _observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        raise NotImplementedError


class LeaseFollower(Follower):
    """Feeds the controller the Lease events that matter: renewals stop here, in the event loop."""

    resource = LEASES
    what = "Leases"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renewals = 0  # events dropped as renewals, for tests and the curious

    def _identity(self, body: Mapping[str, Any]) -> Hashable:
        return group_key_of_child(body)  # a group's Lease, whatever its name

    def _admit(self, event_type: str | None, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if event_type != "DELETED" and self.controller.is_renewal(body):
            self.renewals += 1
            return None
        return body

    def _followed(self, namespace: str | None) -> list[Mapping[str, Any]]:
        return self.controller.followed_leases(namespace)

    async def _observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        await self.controller.observe_lease(event_type, body)


class PodFollower(Follower):
    """Feeds the controller the groups' pods, each cut down to what it reads the moment it arrives.

    Through Kopf each pod event held the whole pod (some 16 kB of objects) in a per-object worker until
    handled; an operator restarted with 1,000 groups held the 3,000 pods of its initial list at once.
    """

    resource = PODS
    what = "pods"

    def _admit(self, event_type: str | None, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return pod_essentials(body)

    def _followed(self, namespace: str | None) -> list[Mapping[str, Any]]:
        return self.controller.followed_pods(namespace)

    async def _observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        await self.controller.observe_pod(event_type, body)


CHILDREN = (DEPLOYMENTS, SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS, SERVICES, DISRUPTION_BUDGETS)


class ChildFollower(Follower):
    """Feeds the controller the events of one kind of child that it would act on.

    Most child events change nothing: the echoes of the operator's own writes, and, after a restart,
    the initial list of every group's children, which come before their groups are reconciled (each
    reconcile reads its children anyway). :meth:`GroupRegistry.child_event_matters` drops them as they
    arrive; the rest go to :meth:`GroupController.observe_deployment` or
    :meth:`GroupController.observe_child`. A child deleted while nothing watched (paused, or a watch too
    old to resume) is reported by the listing that follows, from its tombstone.
    """

    def __init__(self, resource: Resource, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resource = resource
        self.what = resource.plural

    def _admit(self, event_type: str | None, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return body if self.controller.child_event_matters(event_type, body) else None

    def _followed(self, namespace: str | None) -> list[Mapping[str, Any]]:
        return self.controller.followed_children(self.resource, namespace)

    async def _observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        if self.resource == DEPLOYMENTS:
            await self.controller.observe_deployment(event_type, body)
        else:
            await self.controller.observe_child(event_type, body)


def followers_of(controller: GroupController, client: KubeClient, following: Following) -> list[Follower]:
    """Every follower of the operator: the Leases, the pods, and each kind of child."""
    return [
        LeaseFollower(controller, client, following),
        PodFollower(controller, client, following),
        *(ChildFollower(resource, controller, client, following) for resource in CHILDREN),
    ]
