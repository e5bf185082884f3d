"""The election loop on a manual clock over the in-memory compare-and-swap store."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.elector.conftest import LEASE, NAMESPACE, Harness

from leadergroup.elector import (
    ElectionTiming,
    LeaderElector,
    LeaseBackendError,
    LeaseLock,
    ManualClock,
    MemoryLeaseStore,
)
from leadergroup.elector.clock import settle
from leadergroup.elector.record import format_micro_time, parse_micro_time

UTC = datetime.UTC
ANCIENT = "2001-01-01T00:00:00.000000Z"


def leads(elector: LeaderElector) -> bool:
    """``elector.is_leader``, read through a call so that type checkers do not narrow it between reads."""
    return elector.is_leader


def foreign_lease(
    holder: str = "other", duration: int = 3, renew: str = ANCIENT, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LEASE},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "acquireTime": ANCIENT,
            "renewTime": renew,
            "leaseTransitions": 7,
            **spec,
        },
    }


class TestAcquire:
    async def test_takes_an_empty_pre_created_lease(self, harness: Harness, clock: ManualClock) -> None:
        harness.store.put(NAMESPACE, {"metadata": {"name": LEASE}, "spec": {}})
        elector = await harness.start("a")
        assert elector.is_leader
        assert elector.leader == "a"
        now = format_micro_time(clock.now())
        assert harness.spec() == {
            "holderIdentity": "a",
            "leaseDurationSeconds": 3,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 1,
        }
        assert harness.of("started") == [("started", "a", 1)]
        assert harness.of("new_leader") == [("new_leader", "a", "a")]

    async def test_creates_a_missing_lease(self, harness: Harness, clock: ManualClock) -> None:
        elector = await harness.start("a")
        assert elector.is_leader
        lease = harness.lease()
        assert lease["apiVersion"] == "coordination.k8s.io/v1"
        assert lease["kind"] == "Lease"
        assert lease["metadata"]["name"] == LEASE
        assert lease["spec"]["holderIdentity"] == "a"
        assert lease["spec"]["leaseTransitions"] == 0
        assert ("create", NAMESPACE, LEASE) in harness.store.requests

    async def test_respects_a_valid_foreign_lease_even_with_an_ancient_renew_time(
        self, harness: Harness
    ) -> None:
        # renewTime says 2001: a client trusting it would take over at once. Expiry counts from when
        # *we* observed the record, so the holder keeps it for a full lease duration.
        harness.store.put(NAMESPACE, foreign_lease())
        elector = await harness.start("b")
        assert not leads(elector)
        assert elector.leader == "other"
        await harness.clock.advance(2.9)
        assert not leads(elector)
        assert harness.spec()["holderIdentity"] == "other"
        waited = await harness.advance_until(lambda: elector.is_leader, limit=5)
        # Taken at the first poll after 3 s from the observation: between LD and LD + 2.2 RP.
        assert 2.9 + waited >= 3.0
        assert 2.9 + waited < 3.0 + 2.2 + 0.1
        spec = harness.spec()
        assert spec["holderIdentity"] == "b"
        assert spec["leaseTransitions"] == 8
        assert spec["acquireTime"] != ANCIENT
        assert spec["leaseDurationSeconds"] == 3

    async def test_expiry_uses_the_records_lease_duration(self, harness: Harness) -> None:
        harness.store.put(NAMESPACE, foreign_lease(duration=10))
        elector = await harness.start("b")
        await harness.clock.advance(9.5)
        assert not leads(elector)
        await harness.advance_until(lambda: elector.is_leader, limit=3)

    async def test_a_renewing_foreign_holder_keeps_the_lease(self, harness: Harness) -> None:
        harness.store.put(NAMESPACE, foreign_lease())
        elector = await harness.start("b")
        for second in range(1, 20):
            await harness.clock.advance(1)
            renewed = foreign_lease(renew=f"2001-01-01T00:00:{second:02d}.000000Z")
            renewed["metadata"] = harness.lease()["metadata"]
            harness.store.put(NAMESPACE, renewed)
        assert not leads(elector)
        assert harness.spec()["holderIdentity"] == "other"

    async def test_wall_clock_jumps_do_not_change_expiry(self, harness: Harness, clock: ManualClock) -> None:
        harness.store.put(NAMESPACE, foreign_lease())
        elector = await harness.start("b")
        clock.set_wall(clock.now() + datetime.timedelta(hours=5))
        await clock.advance(2.5)
        assert not leads(elector), "a wall-clock jump forward must not expire the lease early"
        clock.set_wall(clock.now() - datetime.timedelta(days=3))
        await harness.advance_until(lambda: elector.is_leader, limit=3.5)
        # The leader keeps renewing through a backward jump.
        clock.set_wall(clock.now() - datetime.timedelta(hours=10))
        await clock.advance(10)
        assert elector.is_leader
        # renewTime follows the (jumped) wall clock: it is informational only.
        since_renewal = clock.now() - parse_micro_time(harness.spec()["renewTime"])
        assert datetime.timedelta(0) <= since_renewal <= datetime.timedelta(seconds=1)

    async def test_two_candidates_racing_for_one_lease_yield_one_leader(self, harness: Harness) -> None:
        harness.store.put(NAMESPACE, {"metadata": {"name": LEASE}, "spec": {"holderIdentity": ""}})
        a = harness.elector("a")
        b = harness.elector("b")
        # Both read the same resourceVersion before either writes: the second PUT must get a 409.
        tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
        harness.tasks.update({"a": tasks[0], "b": tasks[1]})
        await settle()
        assert [a.is_leader, b.is_leader].count(True) == 1
        winner, loser = (a, b) if a.is_leader else (b, a)
        assert harness.spec()["leaseTransitions"] == 1
        replaces = [r for r in harness.store.requests if r[0] == "replace"]
        assert len(replaces) == 2
        await harness.advance_until(lambda: loser.leader == winner.identity, limit=2.3)
        await harness.clock.advance(20)
        assert winner.is_leader and not loser.is_leader


class TestRenew:
    async def test_renewal_keeps_acquire_time_and_transitions(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        elector = await harness.start("a")
        first = harness.lease()
        await clock.advance(1.0)
        second = harness.lease()
        assert elector.is_leader
        assert second["spec"]["acquireTime"] == first["spec"]["acquireTime"]
        assert second["spec"]["leaseTransitions"] == first["spec"]["leaseTransitions"]
        assert second["spec"]["renewTime"] == format_micro_time(clock.now())
        assert second["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
        # The fast path: the leader writes without reading first.
        verbs_after_acquire = [r[0] for r in harness.store.requests[2:]]
        assert verbs_after_acquire == ["replace"]

    async def test_renews_every_retry_period(self, harness: Harness, clock: ManualClock) -> None:
        await harness.start("a")
        before = len(harness.store.requests)
        await clock.advance(10.0)
        assert len(harness.store.requests) - before == 10

    async def test_a_foreign_write_makes_the_leader_reread_and_keep_the_fields(
        self, harness: Harness
    ) -> None:
        elector = await harness.start("a")
        labelled = harness.lease()
        labelled["metadata"]["labels"] = {"leadergroup.dev/group": "g"}
        labelled["metadata"]["ownerReferences"] = [{"kind": "LeaderGroup", "name": "g", "uid": "u1"}]
        labelled["spec"]["strategy"] = "OldestEmulationVersion"
        labelled["spec"]["preferredHolder"] = "b"
        harness.store.put(NAMESPACE, labelled)
        await harness.clock.advance(1.0)
        assert elector.is_leader
        lease = harness.lease()
        assert lease["metadata"]["labels"] == {"leadergroup.dev/group": "g"}
        assert lease["metadata"]["ownerReferences"] == labelled["metadata"]["ownerReferences"]
        assert lease["spec"]["strategy"] == "OldestEmulationVersion"
        assert lease["spec"]["preferredHolder"] == "b"
        assert lease["spec"]["renewTime"] != labelled["spec"]["renewTime"]
        assert [r[0] for r in harness.store.requests[-3:]] == ["replace", "get", "replace"]

    async def test_steps_down_at_the_renew_deadline(self, harness: Harness, clock: ManualClock) -> None:
        elector = await harness.start("a")
        acquired_at = clock.monotonic()
        harness.store.fail_next("replace", LeaseBackendError("500 InternalError"), times=100)
        harness.store.fail_next("get", LeaseBackendError("500 InternalError"), times=100)
        await clock.advance(1.99)
        assert elector.is_leader
        assert harness.of("stopped") == []
        await clock.advance(0.02)
        assert not leads(elector)
        assert clock.monotonic() - acquired_at >= 2.0
        assert harness.of("stopped") == [("stopped", "a", None)]

    async def test_deadline_counts_from_when_the_last_successful_renewal_was_sent(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        elector = await harness.start("a", rejoin=False)
        await clock.advance(1.0)  # one successful renewal, sent at t=1
        release = asyncio.Event()
        harness.store.hang_next("replace", release, times=1)
        harness.store.fail_next("get", LeaseBackendError("500"), times=100)
        await clock.advance(1.0)  # renewal at t=2 hangs
        assert elector.is_leader
        await clock.advance(0.99)
        assert elector.is_leader
        assert harness.of("stopped") == []
        await clock.advance(0.02)
        assert not leads(elector), "deadline = send time of last success (t=1) + RD (2)"
        assert harness.of("stopped") == [("stopped", "a", None)]

    async def test_is_leader_turns_false_at_the_deadline_even_if_the_loop_is_starved(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        elector = await harness.start("a")
        clock.jump(1.999)
        assert elector.is_leader
        clock.jump(0.002)
        assert not leads(elector)
        assert harness.of("stopped") == [], "the loop has not run, the property alone knows"

    async def test_sees_a_new_holder_and_steps_down_at_once(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        elector = await harness.start("a")
        harness.store.put(NAMESPACE, foreign_lease(holder="usurper", renew=format_micro_time(clock.now())))
        await clock.advance(1.0)
        assert not leads(elector)
        assert elector.leader == "usurper"
        assert harness.of("stopped", "a") == [("stopped", "a", None)]
        assert harness.of("new_leader")[-1] == ("new_leader", "a", "usurper")


class TestReleaseAndRejoin:
    async def test_stop_releases_as_client_go(self, harness: Harness, clock: ManualClock) -> None:
        elector = await harness.start("a")
        transitions = harness.spec()["leaseTransitions"]
        await clock.advance(1.3)
        await harness.stop("a")
        assert not leads(elector)
        now = format_micro_time(clock.now())
        assert harness.spec() == {
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        assert harness.of("stopped") == [("stopped", "a", None)]

    async def test_released_lease_is_taken_at_the_next_poll(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        await harness.start("a")
        b = await harness.start("b")
        await clock.advance(5)
        assert not b.is_leader
        await harness.stop("a")
        waited = await harness.advance_until(lambda: b.is_leader, limit=2.3)
        assert waited <= 2.2
        assert harness.spec()["leaseTransitions"] == 1  # created with 0, one handover

    async def test_no_release_without_release_on_cancel(self, harness: Harness) -> None:
        await harness.start("a", release_on_cancel=False)
        await harness.stop("a")
        assert harness.spec()["holderIdentity"] == "a"

    async def test_cancellation_releases_too(self, harness: Harness) -> None:
        await harness.start("a")
        harness.tasks["a"].cancel()
        with pytest.raises(asyncio.CancelledError):
            await harness.tasks["a"]
        assert harness.spec()["holderIdentity"] == ""

    async def test_a_follower_stops_without_touching_the_lease(self, harness: Harness) -> None:
        harness.store.put(NAMESPACE, foreign_lease())
        await harness.start("b")
        version = harness.lease()["metadata"]["resourceVersion"]
        await harness.stop("b")
        assert harness.lease()["metadata"]["resourceVersion"] == version

    async def test_rejoins_after_losing_and_leads_again(self, harness: Harness, clock: ManualClock) -> None:
        elector = await harness.start("a")
        harness.store.fail_next("replace", LeaseBackendError("503"), times=6)
        harness.store.fail_next("get", LeaseBackendError("503"), times=6)
        await harness.advance_until(lambda: not elector.is_leader, limit=3)
        await harness.advance_until(lambda: elector.is_leader, limit=20)
        assert elector.terms == 2
        assert harness.of("started") == [("started", "a", 1), ("started", "a", 2)]
        assert harness.of("stopped") == [("stopped", "a", None)]
        # The record still named us: acquireTime and transitions survive the re-acquisition.
        assert harness.spec()["leaseTransitions"] == 0

    async def test_without_rejoin_run_returns_after_losing(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        await harness.start("a", rejoin=False)
        harness.store.fail_next("replace", LeaseBackendError("503"), times=10)
        harness.store.fail_next("get", LeaseBackendError("503"), times=10)
        await clock.advance(2.5)
        await settle()
        assert harness.tasks["a"].done()
        assert harness.tasks["a"].exception() is None


class TestCallbacks:
    async def test_async_work_is_cancelled_when_leadership_ends(self, harness: Harness) -> None:
        cancelled = asyncio.Event()

        async def work(ctx: Any) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        await harness.start("a", on_started_leading=work)
        await harness.stop("a")
        assert cancelled.is_set()

    async def test_release_waits_for_sync_work_to_return(self, harness: Harness) -> None:
        leading_seen_by_thread: list[bool] = []
        returned = threading.Event()

        def work(ctx: Any) -> None:
            leading_seen_by_thread.append(ctx.is_leader)
            assert ctx.wait_ended_blocking(timeout=5)
            leading_seen_by_thread.append(ctx.is_leader)
            returned.set()

        await harness.start("a", on_started_leading=work)
        await harness.stop("a")
        assert returned.is_set()
        assert leading_seen_by_thread == [True, False]
        assert harness.spec()["holderIdentity"] == ""

    async def test_failing_work_steps_down_releases_and_surfaces(self, harness: Harness) -> None:
        async def work(ctx: Any) -> None:
            raise RuntimeError("boom")

        await harness.start("a", on_started_leading=work)
        await settle()
        with pytest.raises(RuntimeError, match="boom"):
            await asyncio.wait_for(harness.tasks["a"], timeout=5)
        assert harness.spec()["holderIdentity"] == ""

    async def test_new_leader_is_reported_once_per_change(self, harness: Harness, clock: ManualClock) -> None:
        harness.store.put(NAMESPACE, foreign_lease())
        await harness.start("b")
        await clock.advance(10)
        assert [e[2] for e in harness.of("new_leader", "b")] == ["other", "b"]

    async def test_a_second_run_is_refused(self, harness: Harness) -> None:
        elector = await harness.start("a")
        with pytest.raises(RuntimeError, match="already running"):
            await elector.run()


async def test_stop_before_run_returns_at_once(store: MemoryLeaseStore, clock: ManualClock) -> None:
    elector = LeaderElector(LeaseLock(store, NAMESPACE, LEASE, "a"), clock=clock)
    elector.stop()
    await asyncio.wait_for(elector.run(), timeout=2)
    assert store.requests == []


class SwitchableBackend:
    """The shared store as seen by one candidate, whose connection to it can be cut."""

    def __init__(self, store: MemoryLeaseStore, clock: ManualClock) -> None:
        self.store = store
        self.clock = clock
        self.broken = False
        self.calls: list[float] = []  # monotonic times of every call, answered or not

    def _enter(self) -> None:
        self.calls.append(self.clock.monotonic())
        if self.broken:
            raise LeaseBackendError("connection refused")

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._enter()
        return await self.store.get(namespace, name)

    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter()
        return await self.store.create(namespace, body)

    async def replace(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter()
        return await self.store.replace(namespace, name, body)


class TestGracefulStop:
    """On stop the work is cancelled, but the Lease is renewed until it has returned (as while leading)."""

    SLOW = ElectionTiming(15, 10, 2)
    DRAIN = 30.0  # longer than the lease duration: a leader that stopped renewing would be replaced

    def draining_work(self, clock: ManualClock, log: list[str]) -> Callable[[Any], Awaitable[None]]:
        async def work(ctx: Any) -> None:
            try:
                await ctx.wait_ended()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                log.append("cancelled")
                await clock.sleep(self.DRAIN)
                log.append("drained")
                raise

        return work

    async def test_stop_renews_until_slow_work_has_returned_then_releases(
        self, harness: Harness, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        log: list[str] = []
        a = await harness.start("a", timing=self.SLOW, on_started_leading=self.draining_work(clock, log))
        b = await harness.start("b", timing=self.SLOW)
        await clock.advance(5)
        a.stop()
        await settle()
        assert log == ["cancelled"]
        stopped_at = clock.monotonic()
        while "drained" not in log:
            assert not leads(b), (
                f"b leads {clock.monotonic() - stopped_at:.1f}s after a.stop() while a's work runs"
            )
            assert leads(a), "a holds the Lease while its work finishes"
            assert harness.spec()["holderIdentity"] == "a"
            await clock.advance(0.25)
        assert clock.monotonic() - stopped_at == pytest.approx(self.DRAIN, abs=0.3)
        assert not harness.tasks["a"].done() or harness.tasks["a"].exception() is None
        await settle()
        assert harness.tasks["a"].done() and harness.tasks["a"].exception() is None
        assert harness.spec()["holderIdentity"] == "", "released once the work had returned"
        assert harness.of("stopped", "a") == [("stopped", "a", None)]
        released_at = clock.monotonic()
        await harness.advance_until(lambda: b.is_leader, limit=5)
        assert clock.monotonic() - released_at <= self.SLOW.max_poll_interval
        assert harness.spec()["leaseTransitions"] == 1
        assert "Failed to release" not in caplog.text

    async def test_the_renewal_schedule_carries_over_into_the_stop(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        # RD < 2 RP: a stop just before a renewal must not postpone that renewal past the deadline.
        log: list[str] = []
        a = await harness.start(
            "a", timing=ElectionTiming(4, 2.5, 2), on_started_leading=self.draining_work(clock, log)
        )
        await clock.advance(1.9)
        a.stop()
        await settle()
        while "drained" not in log:
            assert leads(a), f"stepped down {clock.monotonic():.1f} while its work was finishing"
            await clock.advance(0.25)

    async def test_cancelling_run_is_a_stop_that_waits_for_the_work_too(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        log: list[str] = []
        a = await harness.start("a", timing=self.SLOW, on_started_leading=self.draining_work(clock, log))
        harness.tasks["a"].cancel()
        await settle()
        assert log == ["cancelled"]
        await clock.advance(self.DRAIN - 1)
        assert leads(a)
        assert not harness.tasks["a"].done()
        assert harness.spec()["holderIdentity"] == "a"
        await clock.advance(1.5)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(harness.tasks["a"], timeout=5)
        assert harness.spec()["holderIdentity"] == ""

    async def test_work_ignoring_cancellation_loses_at_the_renew_deadline_and_is_no_co_leader(
        self, harness: Harness, clock: ManualClock, store: MemoryLeaseStore, caplog: pytest.LogCaptureFixture
    ) -> None:
        let_go = asyncio.Event()

        async def stubborn(ctx: Any) -> None:
            while not let_go.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await let_go.wait()

        backend = SwitchableBackend(store, clock)
        a = LeaderElector(
            LeaseLock(backend, NAMESPACE, LEASE, "a"), self.SLOW, on_started_leading=stubborn, clock=clock
        )
        run_a = asyncio.create_task(a.run())
        harness.tasks["a"] = run_a
        await settle()
        assert a.is_leader
        b = await harness.start("b", timing=self.SLOW)
        await clock.advance(3)
        a.stop()
        await clock.advance(7)  # a renews through its stop: the work has not returned
        assert leads(a)
        backend.broken = True  # and now a cannot reach the API server any more
        deadline = a.renew_deadline_at
        assert deadline is not None
        while clock.monotonic() < deadline:
            assert leads(a) and not leads(b)
            await clock.advance(0.25)
        assert not leads(a), "the renew deadline holds while stopping, whatever the work does"
        calls_at_deadline = len(backend.calls)
        await harness.advance_until(lambda: b.is_leader, limit=self.SLOW.lease_duration + 5)
        # b could only take over a lease duration after a's last renewal; a had stepped down before.
        assert clock.monotonic() >= deadline + (self.SLOW.lease_duration - self.SLOW.renew_deadline)
        assert not leads(a)
        await clock.advance(20)
        assert leads(b) and not leads(a)
        assert len(backend.calls) == calls_at_deadline, "a no longer touches the Lease once it has lost"
        assert not run_a.done(), "its work still runs: run() has not returned"
        # Once the work gives up, a ends without writing over b's Lease.
        backend.broken = False
        let_go.set()
        await asyncio.wait_for(run_a, timeout=5)
        assert harness.spec()["holderIdentity"] == "b"
        assert "Failed to release" not in caplog.text


class TestCallbackErrors:
    """on_new_leader and on_stopped_leading are observers: their exceptions are logged and ignored."""

    async def test_a_failing_on_stopped_leading_does_not_stop_the_release(
        self, harness: Harness, caplog: pytest.LogCaptureFixture
    ) -> None:
        def stopped() -> None:
            raise RuntimeError("observer broke")

        await harness.start("a", on_stopped_leading=stopped)
        await harness.stop("a")
        assert harness.tasks["a"].exception() is None
        assert harness.spec()["holderIdentity"] == ""
        assert "on_stopped_leading failed" in caplog.text

    async def test_a_failing_on_stopped_leading_does_not_stop_the_rejoin(
        self, harness: Harness, clock: ManualClock
    ) -> None:
        async def stopped() -> None:
            raise RuntimeError("observer broke")

        elector = await harness.start("a", on_stopped_leading=stopped)
        harness.store.fail_next("replace", LeaseBackendError("503"), times=6)
        harness.store.fail_next("get", LeaseBackendError("503"), times=6)
        await harness.advance_until(lambda: not elector.is_leader, limit=3)
        await harness.advance_until(lambda: elector.is_leader, limit=20)
        assert elector.terms == 2
        assert not harness.tasks["a"].done()

    async def test_a_failing_on_new_leader_does_not_stop_the_election(
        self, harness: Harness, caplog: pytest.LogCaptureFixture
    ) -> None:
        def new_leader(holder: str) -> None:
            raise RuntimeError("observer broke")

        elector = await harness.start("a", on_new_leader=new_leader)
        assert elector.is_leader
        assert "on_new_leader failed" in caplog.text


class TestLastRenewalFailed:
    async def test_a_follower_finding_the_lease_held_has_no_failed_renewal(self, harness: Harness) -> None:
        harness.store.put(NAMESPACE, foreign_lease(duration=3600))
        elector = await harness.start("b")
        await harness.clock.advance(10)
        assert not elector.is_leader
        assert elector.last_renewal_failed is False

    async def test_set_by_a_failed_renewal_and_cleared_by_a_good_one(self, harness: Harness) -> None:
        elector = await harness.start("a")
        harness.store.fail_next("replace", LeaseBackendError("500"), times=1)
        harness.store.fail_next("get", LeaseBackendError("500"), times=1)
        await harness.clock.advance(1.0)
        assert elector.is_leader and elector.last_renewal_failed
        await harness.clock.advance(1.0)
        assert elector.is_leader and not elector.last_renewal_failed
