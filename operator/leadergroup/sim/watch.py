"""Watch streams: initial state or history replay, live events, selectors, bookmarks, 410 Gone."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from leadergroup.sim import errors
from leadergroup.sim.resources import ResourceType
from leadergroup.sim.selectors import Selector
from leadergroup.sim.store import Store, StoredEvent

JsonDict = dict[str, Any]
# How often an idle watch checks whether its client went away.
_LIVENESS_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class WatchOptions:
    """The query parameters of a watch request."""

    resource_version: str | None
    timeout_seconds: float | None
    bookmarks: bool
    send_initial_events: bool

    @classmethod
    def from_query(cls, query: Any) -> WatchOptions:
        """Parse the request's query (400 on bad numbers)."""
        timeout = query.get("timeoutSeconds")
        try:
            timeout_seconds = float(timeout) if timeout not in (None, "") else None
        except ValueError:
            raise errors.bad_request(f"invalid timeoutSeconds: {timeout!r}") from None
        return cls(
            resource_version=query.get("resourceVersion"),
            timeout_seconds=timeout_seconds,
            bookmarks=query.get("allowWatchBookmarks", "").lower() in ("true", "1"),
            send_initial_events=query.get("sendInitialEvents", "").lower() in ("true", "1"),
        )


def transition(event: StoredEvent, selector: Selector) -> str | None:
    """The event type this watcher sees, given its selector, or None to skip.

    An object that stops matching is DELETED for this watcher; one that starts matching is ADDED.
    """
    matches_now = selector(event.obj)
    if event.type == "ADDED":
        return "ADDED" if matches_now else None
    matched_before = event.old is not None and selector(event.old)
    if event.type == "DELETED":
        return "DELETED" if matched_before or matches_now else None
    if matched_before and matches_now:
        return "MODIFIED"
    if matches_now:
        return "ADDED"
    return "DELETED" if matched_before else None


def seen_object(event: StoredEvent, seen_as: str) -> JsonDict:
    """The object a watcher is sent with an event it sees as ``seen_as``.

    For an object that left the watcher's selector, kube's cacher sends DELETED with the previous object
    (the one that matched), stamped with the event's resourceVersion.
    """
    if seen_as == "DELETED" and event.type != "DELETED" and event.old is not None:
        previous = copy.deepcopy(event.old)
        previous.setdefault("metadata", {})["resourceVersion"] = str(event.resource_version)
        return previous
    return event.obj


def _line(event_type: str, obj: JsonDict) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _bookmark(rtype: ResourceType, resource_version: int, initial_events_end: bool = False) -> bytes:
    metadata: JsonDict = {"resourceVersion": str(resource_version)}
    if initial_events_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _line("BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": metadata})


async def serve_watch(
    request: web.Request,
    *,
    store: Store,
    rtype: ResourceType,
    namespace: str | None,
    selector: Selector,
    options: WatchOptions,
    render: Callable[[JsonDict], JsonDict],
    bookmark_interval: float,
    on_started: Callable[[], None],
) -> web.StreamResponse:
    """Stream watch events as JSON lines until timeoutSeconds, client disconnect or server shutdown."""
    requested: int | None = None
    if options.resource_version not in (None, "", "0"):
        try:
            requested = int(str(options.resource_version))
        except ValueError:
            raise errors.bad_request(f"invalid resource version: {options.resource_version}") from None
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    on_started()
    if requested is not None and requested < store.earliest_resumable:
        expired = errors.gone(requested, store.earliest_resumable + 1)
        await response.write(_line("ERROR", expired.status()))
        await response.write_eof()
        return response
    deadline = time.monotonic() + options.timeout_seconds if options.timeout_seconds is not None else None
    if requested is not None and not await _reached(store, requested, request, deadline):
        # Measured on v1.37: a watch from a future resourceVersion stays silent until its timeout.
        await response.write_eof()
        return response
    # Subscribing and reading the backlog happen without an await in between: no event is lost or doubled.
    subscription = store.subscribe(rtype.storage_key, namespace)
    backlog: list[bytes] = []
    if requested is None:
        existing = store.objects(rtype.storage_key, namespace)
        backlog = [_line("ADDED", render(obj)) for obj in existing if selector(obj)]
        if options.send_initial_events and options.bookmarks:
            backlog.append(_bookmark(rtype, store.resource_version, initial_events_end=True))
    else:
        for past in store.history_since(requested, subscription):
            if seen_as := transition(past, selector):
                backlog.append(_line(seen_as, render(seen_object(past, seen_as))))
    next_bookmark = time.monotonic() + bookmark_interval
    try:
        for line in backlog:
            await response.write(line)
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if request.transport is None or request.transport.is_closing():
                break
            wait = min(_LIVENESS_CHECK_SECONDS, (deadline or now + 3600) - now)
            if options.bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            try:
                event = await asyncio.wait_for(subscription.queue.get(), timeout=wait)
            except TimeoutError:
                # The queue is empty: every committed event has been written, so the current
                # resourceVersion is a correct bookmark for this watcher.
                if options.bookmarks and time.monotonic() >= next_bookmark:
                    await response.write(_bookmark(rtype, store.resource_version))
                    next_bookmark = time.monotonic() + bookmark_interval
                continue
            if event is None:  # server shutdown
                break
            if seen_as := transition(event, selector):
                await response.write(_line(seen_as, render(seen_object(event, seen_as))))
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away; nothing to tell it
    finally:
        store.unsubscribe(subscription)
    return response


async def _reached(store: Store, resource_version: int, request: web.Request, deadline: float | None) -> bool:
    """Wait until the store reaches ``resource_version``; False at the deadline or when the client left."""
    while store.resource_version < resource_version:
        closing = request.transport is None or request.transport.is_closing()
        if closing or (deadline is not None and time.monotonic() >= deadline):
            return False
        await asyncio.sleep(0.05)
    return True
