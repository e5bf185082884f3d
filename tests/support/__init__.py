"""Shared test helpers: the `cluster` backends and polling assertions."""

from __future__ import annotations

from tests.support.eventually import eventually

__all__ = ["eventually"]
