"""Kopf's watch streams under the same liveness bound as the operator's own watches.

Kopf watches the LeaderGroups, its peering objects and (with namespace patterns) namespaces. Its settings
reach most of the way (:func:`leadergroup.handlers.configure` sets ``settings.watching.server_timeout``
so that the server ends and bookmarks every stream within 30 s, and ``inactivity_timeout`` as a backstop),
but Kopf logs a dead stream at DEBUG only and counts nothing. :func:`install` wraps Kopf's one streaming
call (``kopf._cogs.clients.api.stream``, which its watcher looks up at each call) so that each of its
watch streams:

- is closed after :data:`~leadergroup.kube.liveness.WATCH_IDLE_SECONDS` without a byte of data, with a
  WARNING naming the resource and the silence; Kopf then watches again from the last resourceVersion,
  as it does when the server ends a stream;
- is counted in :data:`~leadergroup.kube.liveness.WATCHES` (restarts by reason, and when it last heard
  from the server, for the liveness probe).

This reaches into a private Kopf module, on purpose and in this one place: ``tests/unit/test_kopfwatch.py``
fails if the Kopf version installed no longer streams through it.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from kopf._cogs.clients import api as kopf_api
from kopf._cogs.clients import errors as kopf_errors

from leadergroup.kube.liveness import WATCH_IDLE_SECONDS, WATCHES, RestartReason, WatchBook

logger = logging.getLogger(__name__)

# Kopf's watches in the book: one entry per resource and scope, whichever stream serves it now.
KOPF = "kopf"
_MARK = "_leadergroup_bounded"


def describe_watch(url: str) -> tuple[str, str, str] | None:
    """``(plural, namespace or "", resourceVersion or "")`` of a watch URL; None if it is no watch."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    if query.get("watch") != ["true"]:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if not segments:
        return None
    scope = segments[-2] if len(segments) >= 3 and segments[-3] == "namespaces" else ""
    return segments[-1], scope, (query.get("resourceVersion") or [""])[0]


def install(watches: WatchBook = WATCHES, idle_seconds: float = WATCH_IDLE_SECONDS) -> None:
    """Wrap Kopf's streaming call once per process (again: a no-op)."""
    if getattr(kopf_api.stream, _MARK, False):
        return
    kopf_api.stream = bounded(kopf_api.stream, watches, idle_seconds)


def bounded(
    stream: Callable[..., AsyncIterator[Any]], watches: WatchBook, idle_seconds: float
) -> Callable[..., AsyncIterator[Any]]:
    """``stream`` (Kopf's ``api.stream``) with an idle bound and a record of each watch stream's end."""

    async def bounded_stream(url: str, **kwargs: Any) -> AsyncIterator[Any]:
        watch = describe_watch(url)
        if watch is None:  # not a watch: nothing to bound
            async for item in stream(url, **kwargs):
                yield item
            return
        resource, scope, resource_version = watch
        stopper: asyncio.Future[Any] | None = kwargs.get("stopper")
        watches.watching(resource, scope, KOPF)
        inner = stream(url, **kwargs)
        reason: RestartReason | None = None
        try:
            while True:
                deadline = asyncio.timeout(idle_seconds)
                try:
                    async with deadline:
                        item = await anext(inner)
                except StopAsyncIteration:
                    watches.heard(resource, scope, KOPF)
                    reason = reason or "server-closed"
                    return
                except TimeoutError:
                    if not deadline.expired():
                        raise  # a timeout of Kopf's or aiohttp's own, counted as an error below
                    reason = "idle"
                    logger.warning(
                        "Watch of %s %s silent for %gs, the connection presumed dead: watching again "
                        "from resourceVersion %s",
                        resource,
                        f"in {scope}" if scope else "in every namespace",
                        idle_seconds,
                        resource_version or "(listed anew)",
                    )
                    return
                watches.heard(resource, scope, KOPF)
                if isinstance(item, dict):
                    metadata = (item.get("object") or {}).get("metadata") or {}
                    resource_version = metadata.get("resourceVersion") or resource_version
                    if item.get("type") == "ERROR":  # Kopf restarts the stream itself after it
                        code = (item.get("object") or {}).get("code")
                        reason = "expired" if code == 410 else "error"
                yield item
        except Exception as error:
            reason = reason or "error"
            if isinstance(error, kopf_errors.APIError):
                watches.heard(resource, scope, KOPF)  # the server answered
            raise
        finally:
            if isinstance(inner, AsyncGenerator):
                await inner.aclose()  # closes the response, and with it the connection
            if stopper is not None and stopper.done():
                watches.stopped(resource, scope, KOPF)  # paused by peering: not meant to run now
            elif reason is not None:
                watches.restarted(resource, reason)

    setattr(bounded_stream, _MARK, True)
    return bounded_stream
