"""Following the groups' Leases with one plain watch: a renewal costs a JSON decode and a comparison.

Every holder renews its Lease every RetryPeriod (2 s with client-go's defaults), so 1,000 groups make 500
Lease events a second. Through Kopf each one cost about a millisecond of CPU (its per-object worker and
memory, diff-base, progress storage and logging; py-spy, docs/benchmarks.md) only to learn that nothing
the status reports had changed: most of a core at 1,000 groups, and more than the machine at 5,000.

:class:`LeaseFollower` lists and watches the managed Leases itself (the same request Kopf made, with the
shard's selector if any), drops renewals in the event loop, and hands holder changes and deletions to
:meth:`GroupController.observe_lease`, each in a task of its own so that a slow write for one group does not
hold up the others (the group's lock keeps one group's events in order).

It works only while the replica is active: ``gate`` (:class:`ActivityGate`) says when Kopf peering lets
this replica work, and the follower stops its watches when paused and lists afresh when resumed, as Kopf
does with its own. ``leadergroup-operator`` sets this up (``memo["lease_following"]``); under a plain
``kopf run -m leadergroup.handlers`` the Leases are followed by a Kopf handler instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from leadergroup.groupstate import TransientError, group_key_of_child
from leadergroup.kube import ApiError, ApiUnavailable, KubeClient
from leadergroup.kube.resources import LEASES
from leadergroup.reconcile import GroupController

logger = logging.getLogger(__name__)

# Retry delays for watch events, which nothing retries otherwise.
EVENT_RETRY_DELAYS = (0.5, 2.0, 5.0)
# The server ends a watch after this long; the follower resumes from the last resourceVersion it saw.
WATCH_TIMEOUT_SECONDS = 300
FORBIDDEN_RETRY_SECONDS = 30.0


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
class LeaseFollowing:
    """What the operator's CLI hands to the startup handler: which Leases to follow, and when."""

    namespaces: tuple[str, ...]  # plain names; empty: every namespace
    label_selector: str
    gate: ActivityGate
    shard_selector: str | None = None


async def with_retries(handle: Callable[[], Awaitable[None]], logger: logging.Logger | Any) -> None:
    """Run an event's handling, retrying transient API failures a few times before giving up on it."""
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


class LeaseFollower:
    """Feeds the controller the Lease events that matter; runs until cancelled."""

    def __init__(
        self,
        controller: GroupController,
        client: KubeClient,
        following: LeaseFollowing,
        *,
        retry_delay: float = 1.0,
    ) -> None:
        self.controller = controller
        self.client = client
        self.following = following
        self.retry_delay = retry_delay
        self.renewals = 0  # events dropped as renewals, for tests and the curious
        self.watching = 0  # namespaces (or every namespace: 1) being listed and watched now
        self._tasks: set[asyncio.Task[None]] = set()

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
                logger.info("Paused: no longer following Leases")
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _follow(self, namespace: str | None) -> None:
        self.watching += 1
        try:
            await self._list_and_watch(namespace)
        finally:
            self.watching -= 1

    async def _list_and_watch(self, namespace: str | None) -> None:
        resource_version: str | None = None
        while True:
            try:
                if resource_version is None:
                    resource_version = await self._list(namespace)
                async for event in self.client.watch(
                    LEASES,
                    namespace,
                    resource_version=resource_version,
                    label_selector=self.following.label_selector,
                    shard_selector=self.following.shard_selector,
                    timeout_seconds=WATCH_TIMEOUT_SECONDS,
                    allow_bookmarks=True,
                ):
                    lease = event.get("object") or {}
                    resource_version = str((lease.get("metadata") or {}).get("resourceVersion") or "")
                    if event.get("type") != "BOOKMARK":
                        self._dispatch(str(event.get("type")), lease)
            except ApiError as error:
                if error.status == 410:  # compacted: list again, as every informer does
                    resource_version = None
                    continue
                logger.warning("Lease watch in %s failed: %s", namespace or "every namespace", error)
                resource_version = None
                # Refused (RBAC) waits for the user: ask again now and then, not every second.
                await asyncio.sleep(FORBIDDEN_RETRY_SECONDS if error.status == 403 else self.retry_delay)
            except ApiUnavailable as error:
                logger.warning("Lease watch in %s lost: %s", namespace or "every namespace", error)
                await asyncio.sleep(self.retry_delay)

    async def _list(self, namespace: str | None) -> str:
        listing = await self.client.list(
            LEASES,
            namespace,
            label_selector=self.following.label_selector,
            shard_selector=self.following.shard_selector,
        )
        listed = listing.get("items") or []
        for lease in listed:
            self._dispatch(None, lease)
        # A Lease deleted while we were not watching (paused, or a watch too old to resume) would never
        # send its DELETED event: the listing's silence about it is the news.
        present = {group_key_of_child(lease) for lease in listed}
        for lease in self.controller.followed_leases(namespace):
            if group_key_of_child(lease) not in present:
                self._dispatch("DELETED", lease)
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    def _dispatch(self, event_type: str | None, lease: Mapping[str, Any]) -> None:
        if event_type != "DELETED" and self.controller.is_renewal(lease):
            self.renewals += 1
            return
        task = asyncio.create_task(
            with_retries(lambda: self.controller.observe_lease(event_type, lease), logger)
        )
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Following a Lease failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the events handed to the controller so far (tests)."""
        while self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks))
