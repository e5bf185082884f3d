"""When Kopf peering lets this replica work, for the work the operator does outside Kopf (the Lease watch).

Kopf pauses a replica while its peering object holds a live record (other than its own) with a higher
priority, or with the same priority unless the replica is sharded; with mandatory peering it starts paused
and resumes at the first peering event that shows no such record. :func:`kopf_would_pause` is that rule,
read from the same object with the same clock; :class:`PeeringGate` watches the peering object(s) as Kopf
does and re-evaluates when a blocking record expires, as Kopf does by sleeping until then. Both read the
priority from Kopf's settings, which :func:`leadergroup.cli.peering.resolve_ties` may change.

The two can disagree only for the moment between one peering event and the next evaluation; what the Lease
watch does in that moment is what a replica does with an event already queued when Kopf pauses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from leadergroup.cli.peering import Peer, PeeringPlan, live_others, parse_peers
from leadergroup.kopfpeering import PeerSightings
from leadergroup.kube import ApiError, ApiUnavailable, KubeClient, WatchSilent
from leadergroup.kube.liveness import (
    WATCH_IDLE_SECONDS,
    WATCHES,
    WatchBook,
    retry_delay,
    server_timeout_seconds,
)

logger = logging.getLogger(__name__)

# How long to wait before reading a peering object again after a failure (or while it does not exist).
RETRY_SECONDS = 1.0


def kopf_would_pause(
    peers: Iterable[Peer], *, identity: str, priority: int, sharded: bool, now: datetime
) -> tuple[bool, float | None]:
    """Whether Kopf pauses a replica seeing these records, and in how many seconds to look again.

    The second value is when the first blocking record expires (None: nothing blocks, or nothing expires).
    """
    others = live_others(identity, peers, now)
    blocking = [
        peer for peer in others if peer.priority > priority or (peer.priority == priority and not sharded)
    ]
    expiries = [
        (peer.lastseen - now).total_seconds() + peer.lifetime
        for peer in blocking
        if peer.lastseen is not None
    ]
    return bool(blocking), (max(0.0, min(expiries)) if expiries else None)


class PeeringGate:
    """Active while no peering object this replica uses would make Kopf pause it."""

    def __init__(
        self,
        plan: PeeringPlan,
        client: KubeClient,
        priority: Callable[[], int],
        *,
        sharded: bool,
        watches: WatchBook = WATCHES,
    ) -> None:
        self.plan = plan
        self.watches = watches
        # A peer lives for its lifetime from when its keep-alive was seen, as in Kopf here (kopfpeering.py).
        self.sightings = PeerSightings()
        self.client = client
        self.priority = priority
        self.sharded = sharded
        scopes: list[str | None] = list(plan.namespaces) or [None]
        # Mandatory peering: Kopf starts paused until a peering event says otherwise; so does the gate.
        self._paused_in: dict[str | None, bool] = dict.fromkeys(scopes, True)
        self._active = asyncio.Event()
        self._paused = asyncio.Event()
        self._paused.set()

    @property
    def active(self) -> bool:
        """Whether the replica may work now."""
        return self._active.is_set()

    async def wait_active(self) -> None:
        """Return once the replica may work."""
        await self._active.wait()

    async def wait_paused(self) -> None:
        """Return once the replica must stop working."""
        await self._paused.wait()

    async def run(self) -> None:
        """Follow every peering object of the plan until cancelled."""
        await asyncio.gather(*(self._follow(namespace) for namespace in self._paused_in))

    def judge(self, namespace: str | None, body: Mapping[str, Any] | None) -> float | None:
        """Re-evaluate one peering object (None: it does not exist); when to look again, in seconds."""
        if body is None:
            paused, again = True, None
        else:
            paused, again = kopf_would_pause(
                parse_peers(self.sightings.restamped(body, self.plan.identity)),
                identity=self.plan.identity,
                priority=self.priority(),
                sharded=self.sharded,
                now=datetime.now(UTC),
            )
        self._paused_in[namespace] = paused
        active = not any(self._paused_in.values())
        if active != self._active.is_set():
            logger.debug("Peering %s: %s", self.plan.describe(), "active" if active else "paused")
            (self._active.set if active else self._active.clear)()
            (self._paused.clear if active else self._paused.set)()
        return again

    async def _follow(self, namespace: str | None) -> None:
        plural, scope = self.plan.resource.plural, namespace or ""
        self.watches.started(plural, scope, self)
        refusals = 0
        try:
            while True:
                try:
                    body = await self.client.get_or_none(self.plan.resource, self.plan.name, namespace)
                    self.watches.heard(plural, scope, self)
                    refusals = 0
                    again = self.judge(namespace, body)
                    if body is None:
                        await asyncio.sleep(RETRY_SECONDS)
                        continue
                    await self._watch(namespace, body, again)
                    self.watches.restarted(plural, "server-closed")
                except WatchSilent as error:
                    self.watches.restarted(plural, "idle")
                    logger.warning(
                        "Watch of %s silent for %.0fs, the connection presumed dead: reading it again",
                        self.plan.describe(),
                        error.silent_for,
                    )
                    await asyncio.sleep(RETRY_SECONDS)
                except (ApiError, ApiUnavailable) as error:
                    expired = error.status == 410
                    self.watches.restarted(plural, "expired" if expired else "error")
                    if not isinstance(error, ApiUnavailable):
                        self.watches.heard(plural, scope, self)  # the server answered
                    # Refused (RBAC) is the user's to fix, and the Lease watch stays paused until then;
                    # the first refusal of a streak may be a restarting API server's (retry_delay).
                    refusals = refusals + 1 if error.status == 403 else 0
                    log = logger.warning if refusals else logger.debug
                    log("Reading %s for the Lease watch: %s", self.plan.describe(), error)
                    await asyncio.sleep(retry_delay(1, refusals) if refusals else RETRY_SECONDS)
        finally:
            self.watches.stopped(plural, scope, self)

    async def _watch(self, namespace: str | None, body: Mapping[str, Any], again: float | None) -> None:
        # The stream runs in a task of its own: waiting on the queue can time out (a blocking record
        # expires) without cancelling the stream itself.
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def stream() -> None:
            try:
                async for event in self.client.watch(
                    self.plan.resource,
                    namespace,
                    resource_version=str(body["metadata"].get("resourceVersion") or ""),
                    field_selector=f"metadata.name={self.plan.name}",
                    timeout_seconds=server_timeout_seconds(),
                    allow_bookmarks=True,
                    idle_timeout=WATCH_IDLE_SECONDS,
                ):
                    self.watches.heard(self.plan.resource.plural, namespace or "", self)
                    events.put_nowait(event)
            finally:
                events.put_nowait(None)

        streaming = asyncio.create_task(stream())
        try:
            while True:
                try:
                    event = await asyncio.wait_for(events.get(), timeout=again)
                except TimeoutError:
                    # A blocking record has expired on our clock: read the object again before resuming, a
                    # round trip as Kopf's own re-judging is (it touches its record and waits for the echo).
                    # Cut off from the server, the read fails and the gate stays as it is.
                    fresh = await self.client.get_or_none(self.plan.resource, self.plan.name, namespace)
                    self.watches.heard(self.plan.resource.plural, namespace or "", self)
                    again = self.judge(namespace, fresh)
                    if fresh is None:
                        return
                    body = fresh
                    continue
                if event is None:
                    break
                if event.get("type") == "DELETED":
                    self.judge(namespace, None)
                    return
                if event.get("type") in ("ADDED", "MODIFIED"):
                    body = event.get("object") or {}
                    again = self.judge(namespace, body)
        finally:
            streaming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await streaming  # a failed stream raises here, and the object is read again
