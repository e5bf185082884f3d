"""Retrying an event's handling: transient failures are retried, unless a newer event came meanwhile."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest

from leadergroup import following
from leadergroup.following import with_retries
from leadergroup.groupstate import TransientError

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
