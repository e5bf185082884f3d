"""A TCP proxy in front of the API server that fails the network on demand: silence, freeze, refuse.

Bytes pass through untouched (TLS included: the API server's certificate covers 127.0.0.1 whatever the
port). The proxy runs its own asyncio loop in a daemon thread; its methods are plain, thread-safe calls that
return once the change is in effect, so sync and async tests drive it alike::

    with FaultProxy.in_front_of(server_url).start() as proxy:
        kubeconfig = proxy.kubeconfig_through(cluster.kubeconfig, tmp_path / "kubeconfig")
        ...
        proxy.freeze()  # a partition: nothing moves, nothing is closed
        proxy.thaw()  # healed: what was held back is delivered

"Forwarding nothing" is silent the way a dead network is: the proxy stops reading from both sockets, so
the kernel buffers and TCP flow control hold the data, and it never closes them (no FIN, no RST).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import yaml

T = TypeVar("T")
CALL_TIMEOUT = 10.0
# Kubeconfig keys that name files, resolved against the original's folder when copied elsewhere.
PATH_KEYS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")


class _Side(asyncio.Protocol):
    """One socket of a proxied connection: what it receives is written to its peer."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.eof = False  # this socket has sent its FIN (we passed it on)
        self.write_blocked = False  # this socket's send buffer is full: stop reading its peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # Link.update() decides when it may read
        self.link.made(self)

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self.peer.transport is not None
        self.link.proxy.bytes_forwarded += len(data)
        self.peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        assert self.peer is not None and self.peer.transport is not None
        if self.peer.eof:
            self.link.close()
        elif self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()  # a half-close travels on, as through a router
        return True  # keep our own sending direction open

    def pause_writing(self) -> None:
        self.write_blocked = True
        self.link.update()

    def resume_writing(self) -> None:
        self.write_blocked = False
        self.link.update()

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.close()


class _Link:
    """A client connection and the upstream connection made for it."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.client = _Side(self)
        self.upstream = _Side(self)
        self.client.peer, self.upstream.peer = self.upstream, self.client
        self.silenced = False
        self.closed = False
        self.connecting: asyncio.Task[None] | None = None

    def made(self, side: _Side) -> None:
        if self.closed:  # the upstream answered after the client's connection was closed
            assert side.transport is not None
            side.transport.abort()
            return
        if side is self.client:
            if self.proxy._listener is None:
                # Accepted by the kernel before refuse() but made after it: refused all the same.
                self.proxy._links.add(self)
                self.close("reset")
                return
            self.proxy._links.add(self)
            self.connecting = asyncio.get_running_loop().create_task(self._connect())
        self.update()

    async def _connect(self) -> None:
        await self.proxy._flowing.wait()  # a frozen network reaches nobody: connect once thawed
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(
                lambda: self.upstream, self.proxy.upstream_host, self.proxy.upstream_port
            )
        except OSError:
            self.close()

    def update(self) -> None:
        """Read from each socket exactly when the network flows and its peer can take the data."""
        for side in (self.client, self.upstream):
            peer = side.peer
            assert peer is not None
            if side.transport is None or side.transport.is_closing():
                continue
            flowing = self.proxy._flowing.is_set() and not self.silenced and not self.closed
            wanted = flowing and peer.transport is not None and not peer.write_blocked and not side.eof
            if wanted and not side.transport.is_reading():
                side.transport.resume_reading()
            elif not wanted and side.transport.is_reading():
                side.transport.pause_reading()

    def close(self, how: Literal["flush", "abort", "reset"] = "flush") -> None:
        """Close both sockets: after sending what is queued, at once (FIN), or at once with an RST."""
        if self.closed:
            return
        self.closed = True
        self.proxy._links.discard(self)
        if self.connecting is not None and not self.connecting.done():
            self.connecting.cancel()
        for side in (self.client, self.upstream):
            if side.transport is None:
                continue
            if how == "reset":
                sock = side.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if how == "flush":
                side.transport.close()
            else:
                side.transport.abort()


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of one upstream, with network faults on demand.

    Attributes:
        port: the port it listens on (fixed by :meth:`start`, kept across :meth:`refuse`/:meth:`accept`).
        url: ``<scheme>://127.0.0.1:<port>``; the scheme is the upstream URL's (https unless told).
        bytes_forwarded: bytes passed on in either direction since the start.
    """

    def __init__(self, upstream_host: str, upstream_port: int, scheme: str = "https") -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.scheme = scheme
        self.port = 0
        self.bytes_forwarded = 0
        self._links: set[_Link] = set()
        self._listener: socket.socket | None = None  # while listening
        self._making: set[asyncio.Task[Any]] = set()  # accepted connections being wrapped in links
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Set while the network flows. An Event binds to the loop that first waits on it: the proxy's own.
        self._flowing = asyncio.Event()
        self._flowing.set()

    @classmethod
    def in_front_of(cls, server_url: str) -> FaultProxy:
        """A proxy for the server of ``server_url`` (``https://127.0.0.1:6443``; http works too)."""
        parts = urlsplit(server_url)
        if not parts.hostname:
            raise ValueError(f"no host in {server_url!r}")
        default_port = 443 if parts.scheme == "https" else 80
        return cls(parts.hostname, parts.port or default_port, parts.scheme or "https")

    @property
    def url(self) -> str:
        """Where clients connect instead of the upstream."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """Client connections currently open (silenced and frozen ones included)."""
        return len(self._links)

    def start(self) -> FaultProxy:
        """Listen on a free port of 127.0.0.1 and forward."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy", daemon=True)
        self._thread.start()
        self._call(self._listen())
        return self

    def close(self) -> None:
        """Stop listening and close every connection; the proxy cannot be used again."""
        if self._loop is None or self._thread is None or self._loop.is_closed():
            return
        self._call(self._refuse("abort"))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CALL_TIMEOUT)
        self._loop.close()

    def kubeconfig_through(self, kubeconfig: Path, out: Path) -> Path:
        """Write a copy of ``kubeconfig`` to ``out`` whose every cluster's server is this proxy."""
        config = yaml.safe_load(Path(kubeconfig).read_text())
        folder = Path(kubeconfig).resolve().parent
        for entry in [*(config.get("clusters") or []), *(config.get("users") or [])]:
            details = entry.get("cluster") or entry.get("user") or {}
            for key in PATH_KEYS:
                if key in details and not Path(details[key]).is_absolute():
                    details[key] = str(folder / details[key])
        for cluster in config.get("clusters") or []:
            cluster["cluster"]["server"] = self.url
        out.write_text(yaml.safe_dump(config, sort_keys=False))
        return out

    def silence_open(self) -> int:
        """Connections open now forward nothing more, ever, and stay open until :meth:`close`.

        New connections work normally. Returns how many connections this call silenced.
        """
        return self._call(self._silence())

    def freeze(self) -> None:
        """Stop all traffic until :meth:`thaw`: open connections forward nothing; new ones are accepted
        but forward nothing (and reach the upstream only once thawed)."""
        self._call(self._set_flowing(False))

    def thaw(self) -> None:
        """Forward again: what was held back is delivered. Silenced connections stay silent."""
        self._call(self._set_flowing(True))

    def refuse(self) -> None:
        """Stop listening (new connections get ECONNREFUSED) and reset every open connection (RST)."""
        self._call(self._refuse())

    def accept(self) -> None:
        """Listen again, on the same port, after :meth:`refuse`."""
        self._call(self._listen())

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # --- on the proxy's loop --------------------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the proxy is not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=CALL_TIMEOUT)

    async def _listen(self) -> None:
        if self._listener is not None:
            return
        # Our own accepting, not loop.create_server: asyncio.Server drops (leaks, open) a connection it had
        # half-accepted when closed, and a connection accepted just before refuse() must still be reset.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._accept_ready)

    def _accept_ready(self) -> None:
        """Take every connection the kernel has accepted, each into a link of its own."""
        assert self._listener is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            link = _Link(self)
            making = loop.create_task(loop.connect_accepted_socket(lambda link=link: link.client, connection))  # type: ignore[misc]
            self._making.add(making)
            making.add_done_callback(self._making.discard)

    async def _silence(self) -> int:
        fresh = [link for link in self._links if not link.silenced]
        for link in fresh:
            link.silenced = True
            link.update()
        return len(fresh)

    async def _set_flowing(self, flowing: bool) -> None:
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()
        for link in list(self._links):
            link.update()

    async def _refuse(self, how: Literal["abort", "reset"] = "reset") -> None:
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
            while True:  # what the kernel accepted meanwhile is reset, as by a host that refuses
                try:
                    connection, _ = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()
            self._listener.close()  # new connections: ECONNREFUSED
            self._listener = None
        for link in list(self._links):
            link.close(how)
        await asyncio.sleep(0)  # the transports close their sockets in the next round of the loop
