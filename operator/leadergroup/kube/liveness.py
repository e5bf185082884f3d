"""How long a watch may stay silent, and the process's record of its watches' health.

A watch is a long-lived HTTP/1.1 response. When the path to the API server dies silently (a NAT or load
balancer that forgot the connection, a half-open connection after a network blip, an API server failover
behind a load balancer) no FIN or RST ever arrives: without a bound of its own the client waits for ever
and the operator goes deaf. client-go's informers survive this through HTTP/2 health checks (a ping after
30 s without a frame, the connection dropped 15 s later: 45 s). aiohttp speaks HTTP/1.1 and cannot ping a
connection, so every watch here keeps itself talking instead, and treats silence as death:

- it asks the server to end it after :func:`server_timeout_seconds` (24-30 s) and for bookmarks; the API
  server sends a bookmark 2 s before that deadline, then ends the stream, and the watch resumes from the
  last resourceVersion. A healthy stream, however quiet its objects, is never silent for more than 30 s;
- a stream that delivered nothing (no event, no bookmark, no end) for :data:`WATCH_IDLE_SECONDS` is dead:
  it is closed, the silence logged at WARNING, and watched again (listed again after a 410);
- TCP keepalive (:func:`keepalive_socket`) drops a connection whose peer has gone, for the requests that
  are not watches too.

:class:`WatchBook` counts the restarts by reason (the metric ``leadergroup_watch_restarts_total``) and
says which watch has heard nothing from the server for twice its bound (the liveness probe).
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

# A stream silent for this long is dead: above the 30 s a healthy one can be quiet (the server's timeout
# below), below client-go's 45 s health-check bound, so a dead watch is replaced within 45 s of going silent.
WATCH_IDLE_SECONDS = 40.0
# What the server is asked for (timeoutSeconds); jittered so that a process's watches do not all end together.
WATCH_SERVER_TIMEOUT_RANGE = (24, 30)
# A watch that heard nothing from the server for this many idle bounds could not be re-established.
DEAD_AFTER_BOUNDS = 2

# A watch that fails is asked again after 1 s, doubling up to 8 s (jittered): an API server that is down or
# slow is not flooded, and one that is back is heard within 8 s. Any answer from the server (a 410, an event)
# ends the streak.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 8.0
# A refusal (403) is the user's to fix: asked again every 30 s, with a log line each time. The first of a
# streak is asked again after 1 s: a kube-apiserver that has just started refuses for a moment while its
# authorizer's caches fill (seen after every restart of 1.37's).
FORBIDDEN_RETRY_SECONDS = 30.0

# TCP keepalive: the first probe after 15 s of silence, then every 5 s, the connection dropped after 3
# unanswered probes (30 s); data left unacknowledged for 30 s drops it too (TCP_USER_TIMEOUT).
KEEPALIVE_IDLE_SECONDS = 15
KEEPALIVE_INTERVAL_SECONDS = 5
KEEPALIVE_PROBES = 3
TCP_USER_TIMEOUT_MS = 30_000

RestartReason = Literal["idle", "error", "expired", "server-closed"]
RESTART_REASONS: tuple[RestartReason, ...] = ("idle", "error", "expired", "server-closed")


def server_timeout_seconds() -> int:
    """A watch's ``timeoutSeconds``: somewhere in :data:`WATCH_SERVER_TIMEOUT_RANGE`."""
    low, high = WATCH_SERVER_TIMEOUT_RANGE
    return random.randint(low, high)


def retry_delay(failures: int, refusals: int = 0, first: float = RETRY_FIRST_SECONDS) -> float:
    """How long to wait before asking again after ``failures`` failed attempts in a row.

    ``refusals``: how many of the last ones in a row were refused (403); ``first``: the first delay.
    """
    if refusals > 1:
        return FORBIDDEN_RETRY_SECONDS
    delay = min(first * 2.0 ** max(0, failures - 1), RETRY_MAX_SECONDS)
    return float(delay * random.uniform(0.8, 1.0))


def keepalive_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """A TCP socket with keepalive on (aiohttp's ``TCPConnector(socket_factory=...)``)."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=kind, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE_SECONDS),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_SECONDS),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
        ("TCP_USER_TIMEOUT", TCP_USER_TIMEOUT_MS),
    ):
        if hasattr(socket, option):  # Linux has them all; macOS lacks some
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    return sock


@dataclass
class WatchRecord:
    """One watch stream: what it watches, and when it last heard from the server (monotonic seconds)."""

    resource: str  # the plural, as in a URL: "leases", "leadergroups"
    scope: str  # a namespace, or "" for every namespace
    heard_at: float


class WatchBook:
    """Every watch of the process that is meant to be running, and its restarts by resource and reason.

    Watches call :meth:`started` when they start (or resume after a pause), :meth:`heard` on anything the
    server sent (response headers, an event, a bookmark, an error status: a server that answers is
    reachable), :meth:`restarted` each time a stream is replaced, and :meth:`stopped` when paused or done.
    Thread-safe: Prometheus scrapes from its own thread.
    """

    def __init__(
        self, idle_seconds: float = WATCH_IDLE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.restarts: Counter[tuple[str, str]] = Counter()
        self._watches: dict[tuple[str, str, int], WatchRecord] = {}
        self._lock = threading.Lock()

    def started(self, resource: str, scope: str, owner: object) -> None:
        """A watch (``owner``: whatever keeps it, one entry each) starts: it counts as heard from now."""
        with self._lock:
            self._watches[(resource, scope, id(owner))] = WatchRecord(resource, scope, self.clock())

    def watching(self, resource: str, scope: str, owner: object) -> None:
        """The watch is (still) meant to run: count it as heard from now if it was not known yet."""
        with self._lock:
            self._watches.setdefault((resource, scope, id(owner)), WatchRecord(resource, scope, self.clock()))

    def heard(self, resource: str, scope: str, owner: object) -> None:
        """The server sent something on this watch."""
        with self._lock:
            record = self._watches.get((resource, scope, id(owner)))
            if record is None:
                self._watches[(resource, scope, id(owner))] = WatchRecord(resource, scope, self.clock())
            else:
                record.heard_at = self.clock()

    def restarted(self, resource: str, reason: RestartReason) -> None:
        """A stream of ``resource`` ended for ``reason`` and is being replaced."""
        with self._lock:
            self.restarts[(resource, reason)] += 1

    def stopped(self, resource: str, scope: str, owner: object) -> None:
        """The watch is not meant to run any more (paused, or shut down)."""
        with self._lock:
            self._watches.pop((resource, scope, id(owner)), None)

    def dead(self) -> list[tuple[WatchRecord, float]]:
        """The watches that heard nothing from the server for :data:`DEAD_AFTER_BOUNDS` idle bounds."""
        now = self.clock()
        limit = DEAD_AFTER_BOUNDS * self.idle_seconds
        with self._lock:
            records = list(self._watches.values())
        return [(record, now - record.heard_at) for record in records if now - record.heard_at > limit]

    def running(self) -> int:
        """How many watches are meant to be running now."""
        with self._lock:
            return len(self._watches)

    def restart_counts(self) -> list[tuple[str, str, int]]:
        """``(resource, reason, count)`` for every restart seen, sorted."""
        with self._lock:
            return sorted((resource, reason, count) for (resource, reason), count in self.restarts.items())


# The operator's process: its own watches and Kopf's record here; the liveness probe and metrics read it.
WATCHES = WatchBook()
