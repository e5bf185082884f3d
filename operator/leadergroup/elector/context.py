"""One term of leadership, as handed to ``on_started_leading``."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadergroup.elector.elector import LeaderElector


class LeadershipContext:
    """Handed to ``on_started_leading``: one term of leadership, ended when leadership is lost or stopped.

    An async callback is also cancelled at the end of the term; a sync callback (run in a worker thread)
    must watch :attr:`ended` or call :meth:`wait_ended_blocking` and return.
    """

    def __init__(self, elector: LeaderElector, term: int) -> None:
        self.elector = elector
        self.term = term
        self._ended_async = asyncio.Event()
        self._ended_thread = threading.Event()

    @property
    def identity(self) -> str:
        """This candidate's identity."""
        return self.elector.identity

    @property
    def ended(self) -> bool:
        """Whether this term of leadership is over."""
        return self._ended_thread.is_set()

    @property
    def is_leader(self) -> bool:
        """Whether this term is still on and the renew deadline has not passed."""
        return not self.ended and self.elector.is_leader

    async def wait_ended(self) -> None:
        """Wait (on the event loop) until the term is over."""
        await self._ended_async.wait()

    def wait_ended_blocking(self, timeout: float | None = None) -> bool:
        """Wait (in a thread) until the term is over; True if it is."""
        return self._ended_thread.wait(timeout)

    def end(self) -> None:
        """Mark the term over (the elector calls this when leadership ends)."""
        self._ended_async.set()
        self._ended_thread.set()
