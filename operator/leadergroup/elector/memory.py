"""An in-memory Lease store with the API server's compare-and-swap semantics, for tests.

It behaves as the API server does for the three calls the lock makes: ``resourceVersion`` changes on every
write, a replace carrying a stale one gets a 409, create of an existing name gets a 409. Faults can be
queued per verb to simulate 409s, 5xx answers or a hanging server.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from leadergroup.elector.lock import LeaseBackendError, LeaseConflict, LeaseNotFound
from leadergroup.elector.watch import LeaseWatchForbidden

Verb = Literal["get", "create", "replace", "watch"]
Fault = Callable[[], Awaitable[None]]


class MemoryLeaseStore:
    """Leases by ``(namespace, name)``; implements :class:`~leadergroup.elector.lock.LeaseBackend`."""

    def __init__(self) -> None:
        self._leases: dict[tuple[str, str], dict[str, Any]] = {}
        self._versions = itertools.count(1)
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.requests: list[tuple[Verb, str, str]] = []
        self._watchers: list[tuple[str, str, asyncio.Queue[dict[str, Any]]]] = []

    def put(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        """Store a Lease unconditionally (as another client or a test fixture would), with a fresh version."""
        stored = copy.deepcopy(lease)
        metadata = stored.setdefault("metadata", {})
        metadata["namespace"] = namespace
        metadata["resourceVersion"] = str(next(self._versions))
        self._leases[(namespace, metadata["name"])] = stored
        for watched_namespace, watched_name, queue in self._watchers:
            if (watched_namespace, watched_name) == (namespace, metadata["name"]):
                queue.put_nowait(copy.deepcopy(stored))
        return copy.deepcopy(stored)

    def peek(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored Lease, without counting a request."""
        lease = self._leases.get((namespace, name))
        return copy.deepcopy(lease) if lease is not None else None

    def fail_next(self, verb: Verb, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``verb`` raise ``error`` (before touching the store)."""

        async def fault() -> None:
            raise error

        self._faults[verb].extend([fault] * times)

    def hang_next(self, verb: Verb, release: asyncio.Event, times: int = 1) -> None:
        """Make the next ``times`` calls of ``verb`` wait for ``release`` before running."""

        async def fault() -> None:
            await release.wait()

        self._faults[verb].extend([fault] * times)

    async def _enter(self, verb: Verb, namespace: str, name: str) -> None:
        self.requests.append((verb, namespace, name))
        queue = self._faults[verb]
        if queue:
            await queue.popleft()()

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None."""
        await self._enter("get", namespace, name)
        return self.peek(namespace, name)

    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create; 409 when the name is taken."""
        name = str(body.get("metadata", {}).get("name", ""))
        await self._enter("create", namespace, name)
        if not name:
            raise LeaseBackendError("422 Invalid: metadata.name is required")
        if (namespace, name) in self._leases:
            raise LeaseConflict(f"409 AlreadyExists: leases {name!r} already exists")
        body = copy.deepcopy(body)
        body.get("metadata", {}).pop("resourceVersion", None)
        return self.put(namespace, body)

    async def replace(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace when ``metadata.resourceVersion`` is current; 409 when stale, 404 when missing."""
        await self._enter("replace", namespace, name)
        current = self._leases.get((namespace, name))
        if current is None:
            raise LeaseNotFound(f"404 NotFound: leases {name!r} not found")
        sent_version = body.get("metadata", {}).get("resourceVersion")
        if sent_version and sent_version != current["metadata"]["resourceVersion"]:
            raise LeaseConflict(
                f"409 Conflict: the object has been modified (sent {sent_version}, "
                f"current {current['metadata']['resourceVersion']})"
            )
        return self.put(namespace, body)


class WatchableMemoryLeaseStore(MemoryLeaseStore):
    """The store with single-Lease watches, as the API server offers them (the elector then uses one)."""

    def __init__(self) -> None:
        super().__init__()
        self.watch_forbidden = False  # as a Role without list/watch on the Lease

    async def watch(self, namespace: str, name: str) -> AsyncIterator[dict[str, Any]]:
        """The Lease now (if it exists), then every version stored, until cancelled."""
        await self._enter("watch", namespace, name)
        if self.watch_forbidden:
            raise LeaseWatchForbidden("403 Forbidden: cannot watch leases")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        entry = (namespace, name, queue)
        self._watchers.append(entry)
        try:
            current = self.peek(namespace, name)
            if current is not None:
                yield current
            while True:
                yield await queue.get()
        finally:
            self._watchers.remove(entry)
