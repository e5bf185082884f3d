"""The fault-injecting proxy itself, against a tiny echo server (and once in front of the `cluster`)."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml
from tests.support import eventually
from tests.support.cluster import Cluster
from tests.support.faultproxy import FaultProxy

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import NAMESPACES

# Long enough for a byte to cross loopback many times over; only ever used to assert that nothing came.
QUIET = 0.3


class EchoServer(socketserver.ThreadingTCPServer):
    """Echoes what it receives; counts connections and bytes, and can push bytes on every connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.connections: list[socket.socket] = []
        self.received = 0
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def push(self, data: bytes) -> None:
        """Send ``data`` on every connection, unasked (the upstream speaks first)."""
        with self.lock:
            for connection in self.connections:
                connection.sendall(data)


class EchoHandler(socketserver.BaseRequestHandler):
    server: EchoServer

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections.append(self.request)
        try:
            while data := self.request.recv(65536):
                with self.server.lock:
                    self.server.received += len(data)
                self.request.sendall(data)
        except OSError:
            pass  # reset by the proxy: what refuse() is for


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo.port).start() as running:
        yield running


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def connections(proxy: FaultProxy) -> AsyncIterator[list[Stream]]:
    """Client connections the test opens through the proxy (``await connect(proxy, connections)``)."""
    opened: list[Stream] = []
    yield opened
    for _, writer in opened:
        writer.transport.abort()


async def connect(proxy: FaultProxy, opened: list[Stream]) -> Stream:
    stream = await asyncio.open_connection("127.0.0.1", proxy.port)
    opened.append(stream)
    return stream


async def round_trip(stream: Stream, data: bytes) -> bytes:
    reader, writer = stream
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), timeout=5)


async def nothing_arrives(reader: asyncio.StreamReader) -> bool:
    """No byte, no EOF and no reset within QUIET: the connection is open and silent."""
    try:
        await asyncio.wait_for(reader.read(1), timeout=QUIET)
    except TimeoutError:
        return True
    return False


async def test_bytes_flow_both_ways_and_close_travels(
    proxy: FaultProxy, echo: EchoServer, connections: list[Stream]
) -> None:
    assert proxy.url == f"https://127.0.0.1:{proxy.port}" and proxy.port != echo.port
    first = await connect(proxy, connections)
    assert await round_trip(first, b"hello") == b"hello"
    assert await round_trip(first, b"x" * 300_000) == b"x" * 300_000  # more than any socket buffer
    assert proxy.bytes_forwarded == 2 * (5 + 300_000)
    assert proxy.open_connections == 1
    reader, writer = first
    writer.close()
    await eventually(lambda: proxy.open_connections == 0, message="the proxy closes both sides")
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""


async def test_silenced_connections_stay_open_and_silent_while_new_ones_work(
    proxy: FaultProxy, echo: EchoServer, connections: list[Stream]
) -> None:
    old = await connect(proxy, connections)
    assert await round_trip(old, b"ping") == b"ping"
    assert proxy.silence_open() == 1
    received = echo.received
    reader, writer = old
    writer.write(b"lost")
    await writer.drain()
    echo.push(b"unheard")  # the other direction
    assert await nothing_arrives(reader)
    assert echo.received == received, "nothing reached the upstream"

    new = await connect(proxy, connections)
    assert await round_trip(new, b"fresh") == b"fresh"
    assert proxy.open_connections == 2
    # A healed partition does not revive them: silenced is for ever.
    proxy.freeze()
    proxy.thaw()
    assert await nothing_arrives(reader)
    assert proxy.silence_open() == 1, "only the new connection was still talking"
    # Never closed behind the client's back (no FIN, no RST) until the proxy closes.
    proxy.close()
    # The proxy's socket still holds "lost", unread: the kernel resets the connection instead of a FIN.
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), timeout=5)


async def test_a_frozen_network_holds_everything_and_delivers_it_once_thawed(
    proxy: FaultProxy, echo: EchoServer, connections: list[Stream]
) -> None:
    old = await connect(proxy, connections)
    assert await round_trip(old, b"before") == b"before"
    proxy.freeze()
    old_reader, old_writer = old
    old_writer.write(b"held")
    await old_writer.drain()
    # A new connection is accepted, but nothing reaches the upstream, not even the connection.
    new_reader, new_writer = await connect(proxy, connections)
    new_writer.write(b"early")
    await new_writer.drain()
    assert await nothing_arrives(old_reader)
    assert await nothing_arrives(new_reader)
    assert len(echo.connections) == 1
    assert echo.received == len(b"before")
    assert proxy.open_connections == 2

    proxy.thaw()
    assert await asyncio.wait_for(old_reader.readexactly(4), timeout=5) == b"held"
    assert await asyncio.wait_for(new_reader.readexactly(5), timeout=5) == b"early"
    assert len(echo.connections) == 2


async def test_refuse_resets_open_connections_and_refuses_new_ones_until_accept(
    proxy: FaultProxy, echo: EchoServer, connections: list[Stream]
) -> None:
    reader, _ = await connect(proxy, connections)
    port = proxy.port
    proxy.refuse()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), timeout=5)
    with pytest.raises(ConnectionRefusedError):
        await connect(proxy, connections)
    assert proxy.open_connections == 0

    proxy.accept()
    assert proxy.port == port
    assert await round_trip(await connect(proxy, connections), b"back") == b"back"


async def test_refuse_while_frozen_then_accept_and_thaw(
    proxy: FaultProxy, echo: EchoServer, connections: list[Stream]
) -> None:
    proxy.freeze()
    reader, _ = await connect(proxy, connections)  # accepted, never connected upstream
    proxy.refuse()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), timeout=5)
    proxy.accept()
    proxy.thaw()
    assert await round_trip(await connect(proxy, connections), b"ok") == b"ok"
    assert len(echo.connections) == 1


def test_closing_stops_listening(echo: EchoServer) -> None:
    with FaultProxy("127.0.0.1", echo.port).start() as proxy:
        port = proxy.port
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    proxy.close()  # twice is fine


def test_in_front_of_reads_the_server_url() -> None:
    proxy = FaultProxy.in_front_of("https://127.0.0.1:6443")
    assert (proxy.upstream_host, proxy.upstream_port, proxy.scheme) == ("127.0.0.1", 6443, "https")
    emulator = FaultProxy.in_front_of("http://127.0.0.1:40123")
    assert (emulator.upstream_port, emulator.url.split(":")[0]) == (40123, "http")
    assert FaultProxy.in_front_of("https://localhost").upstream_port == 443


def test_kubeconfig_through_points_every_cluster_at_the_proxy(tmp_path: Path) -> None:
    source = tmp_path / "original" / "kubeconfig"
    source.parent.mkdir()
    source.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "a",
                "clusters": [
                    {
                        "name": "a",
                        "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority": "ca"},
                    },
                    {
                        "name": "b",
                        "cluster": {"server": "https://10.0.0.1", "certificate-authority-data": "Zm9v"},
                    },
                ],
                "users": [{"name": "u", "user": {"client-certificate": "/abs/cert", "client-key": "key"}}],
                "contexts": [{"name": "a", "context": {"cluster": "a", "user": "u"}}],
            }
        )
    )
    proxy = FaultProxy.in_front_of("https://127.0.0.1:6443")
    proxy.port = 5555  # not started: only the URL matters here
    out = proxy.kubeconfig_through(source, tmp_path / "through")
    config = yaml.safe_load(out.read_text())
    assert [c["cluster"]["server"] for c in config["clusters"]] == ["https://127.0.0.1:5555"] * 2
    assert config["clusters"][0]["cluster"]["certificate-authority"] == str(source.parent / "ca")
    assert config["clusters"][1]["cluster"]["certificate-authority-data"] == "Zm9v"
    assert config["users"][0]["user"] == {
        "client-certificate": "/abs/cert",
        "client-key": str(source.parent / "key"),
    }
    assert config["current-context"] == "a"


async def test_a_kube_client_reads_through_the_proxy(cluster: Cluster, tmp_path: Path) -> None:
    server = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    with FaultProxy.in_front_of(server).start() as proxy:
        kubeconfig = proxy.kubeconfig_through(cluster.kubeconfig, tmp_path / "kubeconfig-through")
        async with KubeClient.auto(kubeconfig) as client:
            namespace = await client.get(NAMESPACES, cluster.namespace)
        assert namespace["metadata"]["name"] == cluster.namespace
        assert proxy.bytes_forwarded > 0
        # The real API server speaks TLS only: the handshake and the request passed through untouched.
        assert proxy.url.startswith("https://" if cluster.backend == "real" else "http://")
