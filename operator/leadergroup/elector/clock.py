"""Clocks: the elector judges time on a monotonic clock and stamps the Lease with wall-clock time.

Tests drive :class:`ManualClock` by hand, so expiry, deadlines and clock jumps are deterministic.
"""

from __future__ import annotations

import asyncio
import datetime
import heapq
import itertools
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What the elector needs from time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (expiry and deadlines are measured on it)."""

    def now(self) -> datetime.datetime:
        """Wall-clock time in UTC, only written into the Lease for humans and other clients."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of monotonic time."""


class SystemClock:
    """The real clocks: ``time.monotonic`` and ``datetime.now(UTC)``."""

    def monotonic(self) -> float:
        """Seconds on the process's monotonic clock."""
        return time.monotonic()

    def now(self) -> datetime.datetime:
        """The current UTC time."""
        return datetime.datetime.now(datetime.UTC)

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told to: :meth:`advance` wakes the sleepers whose time has come.

    The wall clock can be set independently (:meth:`set_wall`) to simulate NTP jumps that must not
    affect expiry.
    """

    def __init__(self, start: float = 1000.0, wall: datetime.datetime | None = None) -> None:
        self._monotonic = start
        self._wall = wall or datetime.datetime(2026, 7, 24, 12, 0, 0, tzinfo=datetime.UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        """The manual monotonic time."""
        return self._monotonic

    def now(self) -> datetime.datetime:
        """The manual wall time (advances together with the monotonic time unless set)."""
        return self._wall

    async def sleep(self, seconds: float) -> None:
        """Wait until :meth:`advance` has moved the clock ``seconds`` forward."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._monotonic + seconds, next(self._order), future))
        await future

    def jump(self, seconds: float) -> None:
        """Move both clocks without waking anyone, as if the event loop had been starved that long."""
        self._move_to(self._monotonic + seconds)

    def set_wall(self, wall: datetime.datetime) -> None:
        """Jump the wall clock (the monotonic clock is untouched)."""
        self._wall = wall

    async def advance(self, seconds: float) -> None:
        """Move both clocks forward, waking sleepers in time order and letting each run before the next."""
        target = self._monotonic + seconds
        while True:
            self._drop_cancelled()
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            wake_at, _, future = heapq.heappop(self._sleepers)
            self._move_to(wake_at)
            future.set_result(None)
            await settle()
        self._move_to(target)
        await settle()

    def _move_to(self, moment: float) -> None:
        if moment > self._monotonic:
            self._wall += datetime.timedelta(seconds=moment - self._monotonic)
            self._monotonic = moment

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


async def settle(rounds: int = 50) -> None:
    """Let every ready task run until the event loop has nothing more to do right now."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def bounded(clock: Clock, awaitable: Awaitable[T], deadline: float) -> T:
    """Await ``awaitable`` until ``deadline`` on ``clock``; cancel it and raise TimeoutError after that."""
    task = asyncio.ensure_future(awaitable)
    remaining = deadline - clock.monotonic()
    if remaining <= 0:
        task.cancel()
        raise TimeoutError
    timer = asyncio.ensure_future(clock.sleep(remaining))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not task.done():
            task.cancel()
    if not task.done() or task.cancelled():
        raise TimeoutError
    return task.result()


async def sleep_until(clock: Clock, moment: float, interrupt: asyncio.Event) -> bool:
    """Sleep until ``moment`` on ``clock`` or until ``interrupt`` is set; True if it was set."""
    if interrupt.is_set():
        return True
    remaining = moment - clock.monotonic()
    if remaining <= 0:
        return False
    sleeper = asyncio.ensure_future(clock.sleep(remaining))
    waiter = asyncio.ensure_future(interrupt.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()
    return interrupt.is_set()
