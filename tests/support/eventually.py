"""Polling assertions: wait for a condition with a deadline instead of sleeping and hoping."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    fn: Callable[[], Awaitable[T]], timeout: float = 5.0, interval: float = 0.05, message: str = ""
) -> T: ...


@overload
async def eventually(
    fn: Callable[[], T], timeout: float = 5.0, interval: float = 0.05, message: str = ""
) -> T: ...


async def eventually(
    fn: Callable[[], Any],
    timeout: float = 5.0,
    interval: float = 0.05,
    message: str = "",
) -> Any:
    """Call ``fn`` (sync or async) until it returns a truthy value, and return that value.

    Raises:
        AssertionError: on timeout, with ``message`` and the last value (or the last exception).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = await value
        except AssertionError as error:
            # Assertions inside fn mean "not yet"; anything else is a real failure and propagates.
            value, last = None, error
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message or 'condition'} not met within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)
