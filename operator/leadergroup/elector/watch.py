"""Watching the one Lease, so a standby takes a released Lease at once instead of at its next poll.

client-go electors only poll, every RP·[1, 2.2): after a graceful release (holder "") the next leader comes
at the first poll of any standby, up to 2.2·RP later. A standby of ours also keeps a single-object watch
on its Lease (``fieldSelector=metadata.name=NAME``): an event whose holder is empty wakes its acquire loop,
which then reads and takes the Lease as usual. Nothing else changes: expiry is still judged on the
candidate's own clock from what its polls observe, and the watch only ever makes an attempt come sooner.

The watch needs ``list`` and ``watch`` on that one Lease name (the Role the operator makes grants them).
Where they are not granted (the blog's hand-written Role, say) the watch is refused with 403 and the
elector polls only, as client-go does (asking again every five minutes, in case the Role changes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from leadergroup.elector.lock import LeaseBackendError

logger = logging.getLogger(__name__)


# Where RBAC grants no watch, the elector polls only and asks again this often (one refused request).
FORBIDDEN_WATCH_RETRY_SECONDS = 300.0


class LeaseWatchForbidden(Exception):
    """The API server refused the watch (403): RBAC grants no list/watch on the Lease."""


class LeaseWatchSilent(LeaseBackendError):
    """The watch delivered nothing for its idle bound: its connection is presumed dead."""


class WatchableBackend(Protocol):
    """A Lease backend that can stream changes of one Lease."""

    def watch(self, namespace: str, name: str) -> AsyncIterator[dict[str, Any]]:
        """Yield the Lease each time it changes (the current Lease first), until the stream ends."""


def can_watch(backend: object) -> bool:
    """Whether the backend offers :meth:`WatchableBackend.watch`."""
    return callable(getattr(backend, "watch", None))


async def watch_releases(
    backend: WatchableBackend,
    namespace: str,
    name: str,
    on_release: Callable[[], None],
    *,
    retry_delay: float,
) -> None:
    """Call ``on_release`` whenever the Lease is seen with an empty holder; runs until cancelled.

    Streams that end or fail are opened again after ``retry_delay``. A refusal (403) is asked again after
    ``retry_delay`` once (an API server that has just restarted refuses for a moment while its authorizer's
    caches fill), then every :data:`FORBIDDEN_WATCH_RETRY_SECONDS`, polling only meanwhile.
    """
    refusals = 0
    while True:
        try:
            async for lease in backend.watch(namespace, name):
                refusals = 0
                if not ((lease.get("spec") or {}).get("holderIdentity") or ""):
                    on_release()
        except LeaseWatchForbidden:
            refusals += 1
            if refusals == 2:  # refused twice in a row: RBAC grants no watch (the blog's Role)
                logger.info("Lease %s/%s: not allowed to watch it; polling only", namespace, name)
            await asyncio.sleep(retry_delay if refusals == 1 else FORBIDDEN_WATCH_RETRY_SECONDS)
            continue
        except LeaseWatchSilent as error:
            logger.warning(
                "Lease %s/%s: watch silent, the connection presumed dead (%s); watching again",
                namespace,
                name,
                error,
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any failure: the polls go on; try the watch again later
            logger.debug("Lease %s/%s: watch ended (%s); watching again", namespace, name, error)
        await asyncio.sleep(retry_delay)
