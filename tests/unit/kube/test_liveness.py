"""The watches' idle bound: a silent stream is dead, a stream of bookmarks alive; the book of watches."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from leadergroup.kube import KubeClient, WatchSilent
from leadergroup.kube.config import Connection
from leadergroup.kube.liveness import (
    DEAD_AFTER_BOUNDS,
    FORBIDDEN_RETRY_SECONDS,
    RETRY_MAX_SECONDS,
    WATCH_IDLE_SECONDS,
    WATCH_SERVER_TIMEOUT_RANGE,
    WatchBook,
    keepalive_socket,
    retry_delay,
    server_timeout_seconds,
)
from leadergroup.kube.resources import LEASES

Streamer = Callable[[web.StreamResponse], Awaitable[None]]


def test_the_idle_bound_lies_between_a_healthy_streams_longest_silence_and_client_gos_45s() -> None:
    assert WATCH_SERVER_TIMEOUT_RANGE[1] < WATCH_IDLE_SECONDS < 45
    timeouts = {server_timeout_seconds() for _ in range(200)}
    assert min(timeouts) >= WATCH_SERVER_TIMEOUT_RANGE[0]
    assert max(timeouts) <= WATCH_SERVER_TIMEOUT_RANGE[1]
    assert len(timeouts) > 1  # jittered: the watches of a process do not all end at once


def test_retries_double_up_to_a_bound_and_repeated_refusals_wait_longest() -> None:
    delays = [retry_delay(failures) for failures in range(1, 10)]
    assert 0.8 <= delays[0] <= 1.0
    assert 3.2 <= delays[2] <= 4.0
    assert all(delay <= RETRY_MAX_SECONDS for delay in delays)
    assert delays[-1] >= 0.8 * RETRY_MAX_SECONDS
    assert retry_delay(1, refusals=1) <= 1.0  # the first refusal may be a restarting server's
    assert retry_delay(5, refusals=2) == FORBIDDEN_RETRY_SECONDS


def test_sockets_keep_tcp_keepalive_on() -> None:
    sock = keepalive_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0)))
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 15
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    finally:
        sock.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_watch_is_dead_once_it_heard_nothing_for_twice_its_bound() -> None:
    clock = Clock()
    book = WatchBook(idle_seconds=10, clock=clock)
    quiet, chatty = object(), object()
    book.started("leases", "", quiet)
    book.started("pods", "team-a", chatty)
    clock.now += 2 * 10 - 1
    book.heard("pods", "team-a", chatty)
    assert book.dead() == []
    clock.now += 2
    [(record, silent_for)] = book.dead()
    assert (record.resource, record.scope, silent_for) == ("leases", "", pytest.approx(21))
    assert book.running() == 2


def test_a_paused_watch_is_never_dead_and_watching_keeps_the_last_heard_time() -> None:
    clock = Clock()
    book = WatchBook(idle_seconds=10, clock=clock)
    owner = object()
    book.started("leases", "", owner)
    clock.now += 15
    book.watching("leases", "", owner)  # a new stream of the same watch: still silent since the start
    clock.now += 6
    assert len(book.dead()) == 1
    book.stopped("leases", "", owner)
    clock.now += 1000
    assert book.dead() == []
    assert book.running() == 0


def test_restarts_are_counted_by_resource_and_reason() -> None:
    book = WatchBook()
    book.restarted("leases", "idle")
    book.restarted("leases", "idle")
    book.restarted("pods", "server-closed")
    assert book.restart_counts() == [("leases", "idle", 2), ("pods", "server-closed", 1)]
    assert DEAD_AFTER_BOUNDS == 2


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Streamer], Awaitable[KubeClient]]]:
    """A plain-HTTP stand-in API server whose Lease watch streams what the test's ``streamer`` writes."""
    runners: list[web.AppRunner] = []
    clients: list[KubeClient] = []

    async def start(streamer: Streamer) -> KubeClient:
        async def watch(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            response.content_type = "application/json"
            await response.prepare(request)
            await streamer(response)
            return response

        app = web.Application()
        app.router.add_get("/apis/coordination.k8s.io/v1/namespaces/ns/leases", watch)
        runner = web.AppRunner(app, shutdown_timeout=0.1)  # the silent handlers never end by themselves
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        runners.append(runner)
        client = KubeClient(Connection(f"http://127.0.0.1:{port}", lambda: None, None))
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for runner in runners:
        await runner.cleanup()


def event(kind: str, resource_version: str) -> bytes:
    body = {"type": kind, "object": {"kind": "Lease", "metadata": {"resourceVersion": resource_version}}}
    return json.dumps(body).encode() + b"\n"


async def test_a_watch_that_goes_silent_is_ended_after_its_idle_bound(
    serve: Callable[[Streamer], Awaitable[KubeClient]],
) -> None:
    async def one_event_then_silence(response: web.StreamResponse) -> None:
        await response.write(event("ADDED", "1"))
        await asyncio.Event().wait()  # a connection that died silently: no FIN, no RST, nothing

    client = await serve(one_event_then_silence)
    received = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(WatchSilent) as silent:
        async with asyncio.timeout(10):  # the test's own bound, far above the watch's
            async for item in client.watch(LEASES, "ns", idle_timeout=0.5):
                received.append(item["type"])
    assert received == ["ADDED"]
    assert silent.value.silent_for == 0.5
    assert 0.5 <= loop.time() - started < 5


async def test_a_watch_silent_before_its_headers_is_ended_too() -> None:
    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # the request arrives; no answer ever leaves

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, KubeClient(Connection(f"http://127.0.0.1:{port}", lambda: None, None)) as client:
        with pytest.raises(WatchSilent):
            async with asyncio.timeout(10):
                async for _ in client.watch(LEASES, "ns", idle_timeout=0.5):
                    pass


async def test_a_watch_that_delivers_only_bookmarks_is_alive(
    serve: Callable[[Streamer], Awaitable[KubeClient]],
) -> None:
    async def bookmarks(response: web.StreamResponse) -> None:
        for number in range(8):  # 8 x 0.2 s: three times the idle bound, never silent for as long as it
            await asyncio.sleep(0.2)
            await response.write(event("BOOKMARK", str(number)))

    client = await serve(bookmarks)
    kinds = [item["type"] async for item in client.watch(LEASES, "ns", idle_timeout=0.5)]
    assert kinds == ["BOOKMARK"] * 8  # and the stream ended as the server ended it, without WatchSilent
