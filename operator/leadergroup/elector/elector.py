"""The leader elector: client-go's ``LeaderElector`` semantics on asyncio, plus release, stop and rejoin.

Safety rests on two clocks that never meet:

* a candidate judges the holder's Lease expired only after ``leaseDurationSeconds`` (from the record) of
  its own monotonic time without seeing any change in the record; ``renewTime`` is never compared with
  anyone's clock;
* the leader believes it leads only until ``renew_deadline`` after sending its last successful renewal.

Since the renewal was sent before anyone could observe it and ``renew_deadline < lease_duration``, the
leader's belief ends before any candidate may take over.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, cast

from leadergroup.elector.clock import Clock, SystemClock, bounded, sleep_until
from leadergroup.elector.context import LeadershipContext
from leadergroup.elector.lock import LeaseConflict, LeaseLock, LeaseNotFound, record_fingerprint
from leadergroup.elector.record import LeaderElectionRecord
from leadergroup.elector.timing import ElectionTiming
from leadergroup.elector.watch import can_watch, watch_releases

logger = logging.getLogger("leadergroup.elector")

StartedCallback = Callable[[LeadershipContext], Awaitable[None] | None]
StoppedCallback = Callable[[], Awaitable[None] | None]
NewLeaderCallback = Callable[[str], Awaitable[None] | None]


class LeaderElector:
    """Campaign for one Lease; lead (run ``on_started_leading``) while holding it; rejoin after losing it.

    Args:
        lock: the Lease and this candidate's identity.
        timing: lease duration, renew deadline, retry period (client-go's defaults 15/10/2 s).
        on_started_leading: called with a :class:`LeadershipContext` when a term starts. Async callables run
            as a task cancelled at the end of the term; sync ones run in a worker thread. On :meth:`stop`
            the Lease is renewed until it has returned, and only released after that. If it raises, the
            elector stops (releasing the Lease) and :meth:`run` raises the error.
        on_stopped_leading: called after a term ends and its work has returned, before the release. An
            exception it raises is logged and ignored.
        on_new_leader: called with the holder's identity whenever the observed holder changes ("" when
            nobody holds the Lease), including the first observation and this candidate itself. An
            exception it raises is logged and ignored.
        release_on_cancel: on :meth:`stop` or cancellation, if this candidate holds the Lease, write
            holder "" and ``leaseDurationSeconds: 1`` so the next candidate takes over at its next poll.
        rejoin: after losing leadership, campaign again (client-go's ``Run`` returns instead).
        watch_lease: besides polling, watch the Lease (when the lock's backend can), so a standby tries
            at once when the Lease is released instead of at its next poll (:mod:`.watch`).
        clock: time source (tests pass a :class:`~leadergroup.elector.clock.ManualClock`).
        rng: random source for the retry jitter.

    Sync ``on_new_leader`` and ``on_stopped_leading`` run on the event loop and must be quick.
    """

    def __init__(
        self,
        lock: LeaseLock,
        timing: ElectionTiming | None = None,
        *,
        on_started_leading: StartedCallback | None = None,
        on_stopped_leading: StoppedCallback | None = None,
        on_new_leader: NewLeaderCallback | None = None,
        release_on_cancel: bool = True,
        rejoin: bool = True,
        watch_lease: bool = True,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.lock = lock
        self.timing = timing or ElectionTiming()
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.release_on_cancel = release_on_cancel
        self.rejoin = rejoin
        self.watch_lease = watch_lease
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self._stop_requested = asyncio.Event()
        # Set by stop() and by the Lease watch seeing a release: cuts a standby's wait between polls short.
        self._wake = asyncio.Event()
        self._running = False
        self._observed = LeaderElectionRecord()
        self._observed_fingerprint: tuple[Any, ...] | None = None
        self._observed_at = self.clock.monotonic()
        self._reported_leader: str | None = None
        self._leading = False
        self._renew_deadline_at = 0.0
        self._terms = 0
        self._work: asyncio.Future[Any] | None = None
        self._context: LeadershipContext | None = None
        self._work_error: BaseException | None = None
        self._work_cancelled = False
        self._next_renewal_at = 0.0
        # Monotonic time of the last answer from the API server (any answer, a 409 too): sidecar health.
        self.last_api_contact: float | None = None
        # Whether the leader's latest renewal attempt failed; reset when a term starts, meaningless outside.
        self.last_renewal_failed = False

    # --- what anyone may read at any time -------------------------------------------------------------

    @property
    def identity(self) -> str:
        """This candidate's holder identity."""
        return self.lock.identity

    @property
    def is_leader(self) -> bool:
        """True while leading and the renew deadline has not passed, even if the loop has not run yet."""
        return self._leading and self.clock.monotonic() < self._renew_deadline_at

    @property
    def leader(self) -> str:
        """The holder last observed in the Lease ("" when none or not yet observed)."""
        return self._observed.holder_identity

    @property
    def renew_deadline_at(self) -> float | None:
        """Monotonic time at which the current (or last) term ends unless renewed; None before any term."""
        return self._renew_deadline_at if self._terms else None

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop_requested.is_set()

    @property
    def terms(self) -> int:
        """How many terms of leadership this elector has started."""
        return self._terms

    def stop(self) -> None:
        """Ask :meth:`run` to end; call on the loop's thread.

        A leader ends its work (cancelled, or told through its context) but keeps renewing the Lease until
        the work has returned, then releases it if configured; :meth:`run` then returns.
        """
        self._stop_requested.set()
        self._wake.set()

    # --- the loop -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Campaign, lead, rejoin, until :meth:`stop` or cancellation; then release if configured.

        Cancellation counts as :meth:`stop`: a leader keeps renewing until its work has returned, then
        releases, then the cancellation propagates. A second cancellation while the work still runs ends
        the term without waiting for it, and the Lease is then not released.

        Raises:
            RuntimeError: already running.
            BaseException: whatever ``on_started_leading`` raised.
        """
        if self._running:
            raise RuntimeError("this elector is already running")
        self._running = True
        logger.info("Attempting to acquire leader lease %s as %s", self.lock.describe(), self.identity)
        watcher = self._start_watch()
        try:
            while not self.stopping:
                if not await self._acquire():
                    break
                await self._lead()
                if not self.rejoin:
                    break
        except asyncio.CancelledError:
            self._stop_requested.set()
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            try:
                if self.stopping and self.release_on_cancel:
                    await self._release()
            finally:
                self._running = False
        if self._work_error is not None:
            raise self._work_error

    async def _acquire(self) -> bool:
        while not self.stopping:
            succeeded = await self._try_acquire_or_renew(self.clock.monotonic() + self.timing.renew_deadline)
            await self._report_transition()
            if succeeded:
                logger.info("Successfully acquired lease %s as %s", self.lock.describe(), self.identity)
                return True
            if await self._pause_until(
                self.clock.monotonic() + self.timing.next_acquire_delay(self.rng),
            ):
                break
        return False

    async def _lead(self) -> None:
        """One term: renew until stopped or lost; when stopped, keep renewing until the work has returned.

        Raises:
            asyncio.CancelledError: after the term if ``run()`` was cancelled during it.
        """
        work_done = self._start_term()
        cancelled = False
        reason = "stopped"
        wait_for_work = True
        try:
            try:
                lost = await self._renew_until(self._stop_requested)
            except asyncio.CancelledError:
                # Cancelling run() is a stop: the work must still end before the Lease may change hands.
                cancelled = True
                self._stop_requested.set()
                lost = None
            if lost is not None:
                reason = lost
            else:
                reason = "its work failed" if self._work_error is not None else "stopped"
                self._finish_work()
                # Another replica may only lead once this one's work has returned: releasing or merely
                # ceasing to renew while it still runs would let a second copy of the work start.
                lost = await self._renew_until(work_done)
                if lost is not None:
                    reason = f"{reason}; then, while its work was finishing, {lost}"
        except asyncio.CancelledError:
            # Cancelled again while the work is finishing: the caller insists, so do not wait for it.
            wait_for_work = False
            raise
        finally:
            await self._end_term(reason, wait_for_work=wait_for_work)
        if cancelled:
            raise asyncio.CancelledError

    async def _renew_until(self, done: asyncio.Event) -> str | None:
        """Renew every retry period until ``done`` is set (None) or leadership is lost (the reason)."""
        while True:
            # The schedule carries over from leading to stopping: restarting it could push a renewal
            # past a renew deadline shorter than two retry periods.
            if await sleep_until(self.clock, min(self._next_renewal_at, self._renew_deadline_at), done):
                return None
            if self.clock.monotonic() >= self._renew_deadline_at:
                return "no renewal succeeded within the renew deadline"
            renewed = await self._try_acquire_or_renew(self._renew_deadline_at)
            self.last_renewal_failed = not renewed
            await self._report_transition()
            if not renewed and self._observed.holder_identity != self.identity:
                return f"the Lease is now held by {self._observed.holder_identity or 'nobody'}"
            self._next_renewal_at = self.clock.monotonic() + self.timing.retry_period

    def _start_term(self) -> asyncio.Event:
        """Start the work of a new term; the event is set once the work has returned (at once if none)."""
        self._terms += 1
        self._leading = True
        self.last_renewal_failed = False
        self._work_cancelled = False
        self._next_renewal_at = self.clock.monotonic() + self.timing.retry_period
        context = LeadershipContext(self, self._terms)
        self._context = context
        work_done = asyncio.Event()
        callback = self.on_started_leading
        if callback is None:
            self._work = None
        elif _is_async(callback):
            self._work = asyncio.ensure_future(cast(Awaitable[None], callback(context)))
        else:
            self._work = asyncio.get_running_loop().run_in_executor(None, callback, context)
        if self._work is None:
            work_done.set()
        else:
            self._work.add_done_callback(self._on_work_done)
            self._work.add_done_callback(lambda _: work_done.set())
        return work_done

    def _on_work_done(self, work: asyncio.Future[Any]) -> None:
        if work.cancelled() or work.exception() is None:
            return
        if self._context is not None and self._context.ended:
            logger.warning("Leader work raised while finishing: %r", work.exception())
            return
        self._work_error = work.exception()
        logger.error("Leader work failed; stepping down: %r", self._work_error)
        self._stop_requested.set()

    def _finish_work(self) -> None:
        """Tell the work its term is over: end the context (sync work) and cancel the task (async work)."""
        if self._context is not None:
            self._context.end()
        work = self._work
        if isinstance(work, asyncio.Task) and not work.done() and not self._work_cancelled:
            # Once only: a second cancel would interrupt the work's own clean-up.
            self._work_cancelled = True
            work.cancel()

    async def _end_term(self, reason: str, *, wait_for_work: bool = True) -> None:
        self._leading = False
        logger.info("Stopped leading %s: %s", self.lock.describe(), reason)
        self._finish_work()
        work = self._work
        if work is not None and not work.done():
            if not wait_for_work:
                logger.warning("Cancelled while its work was still running: not waiting for it")
                return
            # Leadership is only handed over (released) once the guarded work has really finished.
            await asyncio.gather(asyncio.shield(work), return_exceptions=True)
        if self.on_stopped_leading is not None:
            try:
                await _call(self.on_stopped_leading)
            except Exception:  # an observer's failure must not stop the release or the election
                logger.exception("on_stopped_leading failed")

    async def _release(self) -> None:
        if self._observed.holder_identity != self.identity:
            return
        if self._work is not None and not self._work.done():
            # The guarded work still runs (cancelled twice): handing the Lease over now would start a second.
            logger.warning("Not releasing lease %s: the leader's work is still running", self.lock.describe())
            return
        now_monotonic = self.clock.monotonic()
        deadline = now_monotonic + self.timing.renew_deadline
        try:
            # Past our renew deadline someone else may hold the Lease by now: look before writing.
            if not self.lock.has_lease or now_monotonic >= self._renew_deadline_at:
                got = await bounded(self.clock, self.lock.get(), deadline)
                if got is None:
                    return
                self._observe(*got)
            if self._observed.holder_identity != self.identity:
                return
            now = self.clock.now()
            released = LeaderElectionRecord(
                holder_identity="",
                lease_duration_seconds=1,
                acquire_time=now,
                renew_time=now,
                lease_transitions=self._observed.lease_transitions,
            )
            await bounded(self.clock, self.lock.update(released), deadline)
            self._observe_written(released)
            logger.info("Released lease %s", self.lock.describe())
        except (LeaseConflict, LeaseNotFound) as error:  # someone else wrote it: it is not ours to release
            logger.info(
                "Lease %s changed since we last saw it; not releasing (%s)", self.lock.describe(), error
            )
        except Exception as error:  # a failed release only delays the next leader
            logger.error("Failed to release lease %s: %s", self.lock.describe(), error)

    # --- one attempt ----------------------------------------------------------------------------------

    async def _try_acquire_or_renew(self, deadline: float) -> bool:
        started = self.clock.monotonic()
        now = self.clock.now()
        desired = LeaderElectionRecord(
            holder_identity=self.identity,
            lease_duration_seconds=self.timing.lease_duration_seconds,
            acquire_time=now,
            renew_time=now,
        )
        try:
            written = await self._attempt(desired, started, deadline)
        except TimeoutError:
            logger.error("Lease %s: no answer before the deadline", self.lock.describe())
            written = False
        except Exception as error:  # any failure is a failed attempt, retried on schedule
            logger.error("Lease %s: %s", self.lock.describe(), error)
            written = False
        if written:
            self._renew_deadline_at = started + self.timing.renew_deadline
        return written

    async def _attempt(self, desired: LeaderElectionRecord, started: float, deadline: float) -> bool:
        # 1. Fast path: the leader writes over the Lease it last saw, without reading it first.
        if self._holds_observed() and self._observed_still_valid(started) and self.lock.has_lease:
            renewal = dataclasses.replace(
                desired,
                acquire_time=self._observed.acquire_time,
                lease_transitions=self._observed.lease_transitions,
            )
            try:
                await bounded(self.clock, self.lock.update(renewal), deadline)
            except TimeoutError:
                raise
            except (LeaseConflict, LeaseNotFound) as error:
                self._contacted()
                logger.info("Lease %s changed under us (%s); reading it again", self.lock.describe(), error)
            except Exception as error:  # as client-go: fall back to the slow path
                logger.warning("Lease %s: renewal failed (%s); reading it again", self.lock.describe(), error)
            else:
                self._observe_written(renewal)
                return True
        # 2. Read the Lease; create it when missing.
        got = await bounded(self.clock, self.lock.get(), deadline)
        if got is None:
            try:
                await bounded(self.clock, self.lock.create(desired), deadline)
            except LeaseConflict:
                self._contacted()
                return False
            self._observe_written(desired)
            return True
        record, fingerprint = got
        self._observe(record, fingerprint)
        # 3. A live foreign holder: wait for it to expire on our own clock.
        if record.holder_identity and not self._holds_observed() and self._observed_still_valid(started):
            return False
        # 4. Renew (keeping acquireTime and the count) or take over (one more transition).
        if self._holds_observed():
            desired = dataclasses.replace(
                desired, acquire_time=record.acquire_time, lease_transitions=record.lease_transitions
            )
        else:
            desired = dataclasses.replace(desired, lease_transitions=record.lease_transitions + 1)
        try:
            await bounded(self.clock, self.lock.update(desired), deadline)
        except (LeaseConflict, LeaseNotFound) as error:
            self._contacted()
            logger.info("Lease %s: lost the race (%s)", self.lock.describe(), error)
            return False
        self._observe_written(desired)
        return True

    def _holds_observed(self) -> bool:
        return self._observed.holder_identity == self.identity

    def _observed_still_valid(self, moment: float) -> bool:
        return self._observed_at + self._observed.lease_duration_seconds > moment

    def _observe(self, record: LeaderElectionRecord, fingerprint: tuple[Any, ...]) -> None:
        self._contacted()
        if fingerprint != self._observed_fingerprint:
            self._observed = record
            self._observed_fingerprint = fingerprint
            self._observed_at = self.clock.monotonic()

    def _observe_written(self, record: LeaderElectionRecord) -> None:
        self._contacted()
        lease = self.lock.lease
        self._observed = record
        self._observed_fingerprint = record_fingerprint(lease) if lease is not None else None
        self._observed_at = self.clock.monotonic()

    def _contacted(self) -> None:
        self.last_api_contact = self.clock.monotonic()

    async def _pause_until(self, moment: float) -> bool:
        """Sleep until ``moment`` or a wake-up (a release seen by the watch); True if :meth:`stop` came."""
        await sleep_until(self.clock, moment, self._wake)
        if not self.stopping:
            self._wake.clear()
        return self.stopping

    def _start_watch(self) -> asyncio.Task[None] | None:
        if not (self.watch_lease and can_watch(self.lock.backend)):
            return None
        return asyncio.create_task(
            watch_releases(
                self.lock.backend,  # type: ignore[arg-type]  # checked by can_watch
                self.lock.namespace,
                self.lock.name,
                self._wake.set,
                retry_delay=self.timing.retry_period,
            ),
            name=f"watch {self.lock.describe()}",
        )

    async def _report_transition(self) -> None:
        holder = self._observed.holder_identity
        if holder == self._reported_leader:
            return
        self._reported_leader = holder
        if holder:
            logger.debug("New leader of %s: %s", self.lock.describe(), holder)
        if self.on_new_leader is not None:
            try:
                await _call(self.on_new_leader, holder)
            except Exception:  # a broken observer must not break the election
                logger.exception("on_new_leader failed")


async def _call(callback: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


def _is_async(callback: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
        getattr(callback, "__call__", None)  # noqa: B004 - async callable objects
    )
