"""Retrying an event's handling (unless a newer event came meanwhile); each watch stream's end, by reason."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from leadergroup import following
from leadergroup.following import with_retries
from leadergroup.groupstate import TransientError
from leadergroup.kube import ApiError, ApiUnavailable, WatchSilent
from leadergroup.kube.liveness import WatchBook
from leadergroup.kube.resources import LEASES

logger = logging.getLogger(__name__)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(following, "EVENT_RETRY_DELAYS", (0.0, 0.0))


def failing_times(count: int, attempts: list[int]) -> Callable[[], Awaitable[None]]:
    async def handle() -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= count:
            raise TransientError("throttled")

    return handle


async def test_a_transient_failure_is_retried_until_it_succeeds() -> None:
    attempts: list[int] = []
    await with_retries(failing_times(2, attempts), logger)
    assert attempts == [1, 2, 3]


async def test_the_event_is_given_up_after_the_last_retry(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []
    await with_retries(failing_times(10, attempts), logger)
    assert attempts == [1, 2, 3]
    assert "Giving up on this event" in caplog.text


async def test_an_event_superseded_by_a_newer_one_is_not_retried() -> None:
    attempts: list[int] = []
    newer_came = [False]

    async def handle() -> None:
        attempts.append(len(attempts) + 1)
        newer_came[0] = True  # while this one failed, a newer event of the object arrived
        raise TransientError("conflict")

    await with_retries(handle, logger, superseded=lambda: newer_came[0])
    assert attempts == [1]


class ScriptedClient:
    """Lists once per call and plays one scripted watch stream per call (then waits for ever)."""

    def __init__(self, streams: list[list[dict[str, Any] | BaseException]]) -> None:
        self.streams = streams
        self.lists = 0
        self.watched_from: list[str | None] = []
        self.all_played = asyncio.Event()

    async def list(self, resource: Any, namespace: Any, **_: Any) -> dict[str, Any]:
        self.lists += 1
        return {"items": [], "metadata": {"resourceVersion": f"list-{self.lists}"}}

    async def watch(self, resource: Any, namespace: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        self.watched_from.append(kwargs.get("resource_version"))
        if not self.streams:
            self.all_played.set()
            await asyncio.Event().wait()
        for item in self.streams.pop(0):
            if isinstance(item, BaseException):
                raise item
            yield item


class QuietFollower(following.Follower):
    resource = LEASES

    def _followed(self, namespace: str | None) -> list[Mapping[str, Any]]:
        return []

    async def _observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        pass


def lease_event(kind: str, resource_version: str) -> dict[str, Any]:
    return {"type": kind, "object": {"metadata": {"name": "l", "resourceVersion": resource_version}}}


async def follow_until_played(client: ScriptedClient, book: WatchBook) -> None:
    gate = following.AlwaysActive()
    follower = QuietFollower(
        None,  # type: ignore[arg-type]  # the controller is never reached: _observe does nothing
        client,  # type: ignore[arg-type]
        following.Following(namespaces=(), label_selector="x", gate=gate),
        retry_delay=0.01,
        watches=book,
    )
    task = asyncio.create_task(follower._follow(None))
    try:
        async with asyncio.timeout(10):
            await client.all_played.wait()
        assert book.running() == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert book.running() == 0  # stopped: no longer counted by the liveness probe


async def test_a_silent_watch_is_logged_counted_and_resumed_from_its_last_resource_version(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = ScriptedClient([[lease_event("MODIFIED", "7"), WatchSilent("watch leases: nothing", 40.0)]])
    book = WatchBook()
    await follow_until_played(client, book)
    assert client.watched_from == ["list-1", "7"]  # no second list: the watch goes on from where it was
    assert client.lists == 1
    assert book.restart_counts() == [("leases", "idle", 1)]
    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert "Lease watch in every namespace silent for 40s" in warning.getMessage()
    assert "resourceVersion 7" in warning.getMessage()


async def test_each_end_of_a_stream_is_counted_by_its_reason() -> None:
    client = ScriptedClient(
        [
            [lease_event("BOOKMARK", "8")],  # the server's timeout: resumed from the bookmark
            [ApiError(410, "Expired", "too old")],  # compacted: listed again
            [ApiUnavailable("connection reset")],  # lost: resumed from the last resourceVersion
            [ApiError(500, "InternalError", "etcd")],  # failed: listed again
        ]
    )
    book = WatchBook()
    await follow_until_played(client, book)
    assert client.watched_from == ["list-1", "8", "list-2", "list-2", "list-3"]
    assert book.restart_counts() == [
        ("leases", "error", 2),
        ("leases", "expired", 1),
        ("leases", "server-closed", 1),
    ]


async def test_failures_back_off_refusals_longer_and_any_answer_ends_the_streak(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[int, int]] = []

    def no_wait(failures: int, refusals: int = 0, first: float = 1.0) -> float:
        asked.append((failures, refusals))
        return 0.0

    monkeypatch.setattr(following, "retry_delay", no_wait)
    client = ScriptedClient(
        [
            [ApiUnavailable("connection refused")],
            [ApiUnavailable("connection refused")],
            [ApiError(410, "Expired", "a restarted server's cache")],  # an answer: listed again at once
            [ApiError(403, "Forbidden", "RBAC caches not loaded yet")],
            [ApiError(403, "Forbidden", "still")],
        ]
    )
    await follow_until_played(client, WatchBook())
    # The 410 asks for no delay and ends the streak; the second refusal in a row waits the longest,
    # although the list between them was allowed (a Role that grants list but not watch).
    assert asked == [(1, 0), (2, 0), (1, 1), (1, 2)]
    assert client.lists == 4  # first, after the 410, after each 403
