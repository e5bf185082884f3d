"""The Lease watch: a standby takes a released Lease at once, without waiting for its next poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.elector.conftest import LEASE, NAMESPACE, Harness

from leadergroup.elector import ManualClock
from leadergroup.elector.clock import settle
from leadergroup.elector.memory import WatchableMemoryLeaseStore
from leadergroup.elector.watch import LeaseWatchForbidden, LeaseWatchSilent, watch_releases


@pytest.fixture
async def watched(clock: ManualClock) -> AsyncIterator[Harness]:
    harness = Harness(WatchableMemoryLeaseStore(), clock)
    yield harness
    for task in harness.tasks.values():
        task.cancel()
    await asyncio.gather(*harness.tasks.values(), return_exceptions=True)


async def test_a_release_is_taken_without_waiting_for_a_poll(watched: Harness, clock: ManualClock) -> None:
    await watched.start("a")
    b = await watched.start("b")
    await clock.advance(5)
    assert not b.is_leader
    await watched.stop("a")
    for _ in range(5):  # no manual time passes: only the watch event can make b try now
        await settle()
    assert b.is_leader
    assert watched.spec()["holderIdentity"] == "b"
    assert watched.spec()["leaseTransitions"] == 1


async def test_expiry_is_still_judged_by_the_own_clock(watched: Harness, clock: ManualClock) -> None:
    await watched.start("a")
    b = await watched.start("b")
    watched.electors["a"].release_on_cancel = False
    watched.tasks["a"].cancel()  # no release: a crash, the Lease still names a
    await settle()
    await clock.advance(2.5)
    assert not b.is_leader, "the watch shows no release: b waits for the lease to expire"
    await watched.advance_until(lambda: b.is_leader, limit=3 + 2.3)


async def test_forbidden_watch_means_polling_only(watched: Harness, clock: ManualClock) -> None:
    store = watched.store
    assert isinstance(store, WatchableMemoryLeaseStore)
    store.watch_forbidden = True
    await watched.start("a")
    b = await watched.start("b")
    await clock.advance(5)
    await watched.stop("a")
    for _ in range(5):
        await settle()
    assert not b.is_leader, "without the watch the release waits for b's next poll"
    waited = await watched.advance_until(lambda: b.is_leader, limit=2.3)
    assert waited <= 2.2


async def test_the_watch_can_be_turned_off(watched: Harness, clock: ManualClock) -> None:
    await watched.start("a")
    b = await watched.start("b", watch_lease=False)
    await clock.advance(5)
    await watched.stop("a")
    for _ in range(5):
        await settle()
    assert not b.is_leader
    assert [r for r in watched.store.requests if r[0] == "watch"] == [("watch", NAMESPACE, LEASE)], "a's only"


class FailsOnceThenReleases:
    """A Lease whose first watch fails with ``first_failure``; every later one shows a release."""

    def __init__(self, first_failure: Exception) -> None:
        self.first_failure = first_failure
        self.opened = 0

    async def watch(self, namespace: str, name: str) -> AsyncIterator[dict[str, object]]:
        self.opened += 1
        if self.opened == 1:
            raise self.first_failure
        yield {"spec": {"holderIdentity": ""}}


async def watch_until_released(backend: FailsOnceThenReleases) -> None:
    released = asyncio.Event()
    task = asyncio.create_task(watch_releases(backend, NAMESPACE, LEASE, released.set, retry_delay=0.0))
    try:
        async with asyncio.timeout(5):
            await released.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_silent_watch_is_reported_and_opened_again(caplog: pytest.LogCaptureFixture) -> None:
    # The first stream dies silently (the client's idle bound ends it); the second shows a release.
    backend = FailsOnceThenReleases(LeaseWatchSilent("watch leases: nothing received for 40s"))
    await watch_until_released(backend)
    assert backend.opened >= 2
    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert "watch silent, the connection presumed dead" in warning.getMessage()


async def test_a_watch_refused_once_is_asked_again_and_used(caplog: pytest.LogCaptureFixture) -> None:
    # A just-restarted API server refuses for a moment while its authorizer's caches fill.
    await watch_until_released(FailsOnceThenReleases(LeaseWatchForbidden("403 Forbidden")))
    assert "polling only" not in caplog.text  # one refusal is no verdict on the Role
