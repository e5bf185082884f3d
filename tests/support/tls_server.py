"""A TLS API server stand-in on loopback, serving with the test PKI's certificate (tests.controlplane.pki)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from aiohttp import web
from tests.controlplane.pki import Pki

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServerNameCallback = Callable[[ssl.SSLObject, str | None, ssl.SSLContext], None]


def client_name(request: web.Request) -> str | None:
    """The common name of the client certificate the request came with, if any."""
    peer = request.transport.get_extra_info("peercert") if request.transport else None
    subject = dict(pair for rdn in (peer or {}).get("subject", ()) for pair in rdn)
    name = subject.get("commonName")
    return str(name) if name is not None else None


@asynccontextmanager
async def tls_server(
    pki: Pki,
    routes: Mapping[str, Handler],
    *,
    client_certificates: bool = False,
    on_server_name: ServerNameCallback | None = None,
) -> AsyncIterator[int]:
    """Serve ``routes`` (GET path to handler) over TLS on 127.0.0.1; yield the port.

    With ``client_certificates`` a certificate of the PKI's CA is required of every client;
    ``on_server_name`` sees the name each client sent in SNI.
    """
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca_cert))
    serving.load_cert_chain(pki.serving.cert, pki.serving.key)
    if client_certificates:
        serving.verify_mode = ssl.CERT_REQUIRED
    if on_server_name is not None:
        serving.sni_callback = on_server_name
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=serving)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()
