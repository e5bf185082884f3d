"""Kopf's watch streams under our idle bound: what is wrapped, how each stream's end is counted."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kopf._cogs.clients import api as kopf_api
from kopf._cogs.clients import watching as kopf_watching

from leadergroup import kopfwatch
from leadergroup.kopfwatch import bounded, describe_watch
from leadergroup.kube.liveness import WatchBook

WATCH_URL = "/apis/leadergroup.dev/v1alpha1/namespaces/team-a/leadergroups?watch=true&resourceVersion=41"


def test_kopfs_watcher_streams_through_the_call_we_wrap() -> None:
    # If a Kopf upgrade stops calling api.stream from its watcher, our bound would silently not apply.
    assert "api.stream(" in inspect.getsource(kopf_watching.watch_objs)
    kopfwatch.install()
    kopfwatch.install()  # twice: wrapped once
    assert getattr(kopf_api.stream, "_leadergroup_bounded", False)


@pytest.mark.parametrize(
    ("url", "described"),
    [
        (WATCH_URL, ("leadergroups", "team-a", "41")),
        ("https://h:6443/apis/kopf.dev/v1/clusterkopfpeerings?watch=true", ("clusterkopfpeerings", "", "")),
        ("/api/v1/namespaces?watch=true&allowWatchBookmarks=true", ("namespaces", "", "")),
        ("/apis/leadergroup.dev/v1alpha1/leadergroups", None),  # a list, not a watch
    ],
)
def test_a_watch_url_names_its_resource_scope_and_resource_version(
    url: str, described: tuple[str, str, str] | None
) -> None:
    assert describe_watch(url) == described


def scripted(*items: Any, then_silence: bool = False) -> Any:
    async def stream(url: str, **_: Any) -> AsyncIterator[Any]:
        for item in items:
            if isinstance(item, BaseException):
                raise item
            yield item
        if then_silence:
            await asyncio.Event().wait()

    return stream


def lg_event(kind: str, resource_version: str) -> dict[str, Any]:
    return {"type": kind, "object": {"metadata": {"resourceVersion": resource_version}}}


async def drain(stream: Any, **kwargs: Any) -> list[Any]:
    async with asyncio.timeout(10):
        return [item async for item in stream(WATCH_URL, **kwargs)]


async def test_a_silent_kopf_stream_is_closed_after_the_bound_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    book = WatchBook()
    stream = bounded(scripted(lg_event("MODIFIED", "42"), then_silence=True), book, idle_seconds=0.3)
    items = await drain(stream)
    assert [item["type"] for item in items] == ["MODIFIED"]  # Kopf watches again from "42" after this end
    assert book.restart_counts() == [("leadergroups", "idle", 1)]
    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    assert warning.getMessage().startswith("Watch of leadergroups in team-a silent for 0.3s")
    assert "resourceVersion 42" in warning.getMessage()
    assert book.running() == 1  # still meant to run: Kopf opens the next stream


async def test_kopf_stream_ends_are_counted_by_reason() -> None:
    book = WatchBook()
    await drain(bounded(scripted(lg_event("BOOKMARK", "43")), book, idle_seconds=5))
    await drain(bounded(scripted({"type": "ERROR", "object": {"code": 410}}), book, idle_seconds=5))
    with pytest.raises(ConnectionResetError):
        await drain(bounded(scripted(ConnectionResetError()), book, idle_seconds=5))
    assert book.restart_counts() == [
        ("leadergroups", "error", 1),
        ("leadergroups", "expired", 1),
        ("leadergroups", "server-closed", 1),
    ]


async def test_a_stream_ended_by_a_pause_is_no_restart_and_leaves_the_book() -> None:
    book = WatchBook()
    stopper: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stopper.set_result(None)  # Kopf peering paused this replica: Kopf's stream ends quietly
    await drain(bounded(scripted(), book, idle_seconds=5), stopper=stopper)
    assert book.restart_counts() == []
    assert book.running() == 0


async def test_requests_that_are_not_watches_pass_through_untouched() -> None:
    book = WatchBook()
    stream = bounded(scripted({"kind": "List"}, then_silence=False), book, idle_seconds=0.01)
    async with asyncio.timeout(10):
        items = [item async for item in stream("/apis/leadergroup.dev/v1alpha1/leadergroups")]
    assert items == [{"kind": "List"}]
    assert book.running() == 0
