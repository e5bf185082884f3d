from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from leadergroup.elector import ElectionTiming, LeaderElector, LeaseLock, ManualClock, MemoryLeaseStore
from leadergroup.elector.clock import settle

NAMESPACE = "team"
LEASE = "work"
TIMING = ElectionTiming(3, 2, 1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store() -> MemoryLeaseStore:
    return MemoryLeaseStore()


class Harness:
    """Electors on a manual clock over one in-memory store, and the events their callbacks saw."""

    def __init__(self, store: MemoryLeaseStore, clock: ManualClock) -> None:
        self.store = store
        self.clock = clock
        self.events: list[tuple[str, str, Any]] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.electors: dict[str, LeaderElector] = {}

    def elector(self, identity: str, **overrides: Any) -> LeaderElector:
        async def started(ctx: Any) -> None:
            self.events.append(("started", identity, ctx.term))
            await ctx.wait_ended()

        def stopped() -> None:
            self.events.append(("stopped", identity, None))

        def new_leader(holder: str) -> None:
            self.events.append(("new_leader", identity, holder))

        options: dict[str, Any] = {
            "on_started_leading": started,
            "on_stopped_leading": stopped,
            "on_new_leader": new_leader,
            "clock": self.clock,
            "rng": random.Random(hash(identity) % 1000),
        }
        options.update(overrides)
        timing = options.pop("timing", TIMING)
        elector = LeaderElector(LeaseLock(self.store, NAMESPACE, LEASE, identity), timing, **options)
        self.electors[identity] = elector
        return elector

    async def start(self, identity: str, **overrides: Any) -> LeaderElector:
        elector = self.elector(identity, **overrides)
        self.tasks[identity] = asyncio.create_task(elector.run())
        await settle()
        return elector

    async def stop(self, identity: str) -> None:
        self.electors[identity].stop()
        await settle()
        await asyncio.wait_for(self.tasks[identity], timeout=5)

    def lease(self) -> dict[str, Any]:
        lease = self.store.peek(NAMESPACE, LEASE)
        assert lease is not None
        return lease

    def spec(self) -> dict[str, Any]:
        return dict(self.lease()["spec"])

    def of(self, kind: str, identity: str | None = None) -> list[Any]:
        return [e for e in self.events if e[0] == kind and (identity is None or e[1] == identity)]

    async def advance_until(self, condition: Callable[[], bool], limit: float, step: float = 0.05) -> float:
        """Advance the manual clock in small steps until ``condition``; return the time it took."""
        start = self.clock.monotonic()
        while not condition():
            if self.clock.monotonic() - start > limit:
                raise AssertionError(f"condition not met within {limit}s of manual time")
            await self.clock.advance(step)
        return self.clock.monotonic() - start


@pytest.fixture
async def harness(store: MemoryLeaseStore, clock: ManualClock) -> AsyncIterator[Harness]:
    harness = Harness(store, clock)
    yield harness
    for task in harness.tasks.values():
        task.cancel()
    await asyncio.gather(*harness.tasks.values(), return_exceptions=True)
