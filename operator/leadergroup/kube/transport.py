"""How requests reach the API server: through which proxy, and which name its certificate must carry.

Both follow client-go, so a kubeconfig that works for kubectl works here:

- a cluster's ``proxy-url`` is used for every request; without it the standard environment variables are
  (``HTTPS_PROXY`` for an https server, ``HTTP_PROXY`` for http, each also in lower case, and ``NO_PROXY``),
  and loopback addresses are never proxied, as Go's ``http.ProxyFromEnvironment`` does;
- a cluster's ``tls-server-name`` is the name sent in SNI and checked against the server's certificate,
  instead of the host of ``server`` (an API server reached by address, or through a tunnel).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

SUPPORTED_PROXY_SCHEMES = ("http", "https")


class TransportError(ValueError):
    """A proxy or TLS setting that cannot be used; the message says which and why."""


def proxy_for(server: str, proxy_url: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy to reach ``server`` through: the kubeconfig's ``proxy-url``, else the environment's."""
    if proxy_url:
        return _checked(proxy_url, "proxy-url")
    environ = os.environ if environ is None else environ
    target = urlsplit(server)
    scheme = "https" if target.scheme == "https" else "http"
    variable = f"{scheme.upper()}_PROXY"
    found = environ.get(variable) or environ.get(variable.lower())
    port = target.port or (443 if scheme == "https" else 80)
    if not found or _bypassed(target.hostname or "", port, environ):
        return None
    if "://" not in found:
        found = "http://" + found  # Go reads a bare host:port as an http proxy
    return _checked(found, f"${variable}")


def _checked(proxy: str, origin: str) -> str:
    parts = urlsplit(proxy)
    if parts.scheme.startswith("socks"):
        raise TransportError(
            f"{origin} {proxy}: SOCKS proxies are not supported by leadergroup's client; use an HTTP "
            "proxy (http:// or https://), or run the operator and the electors inside the cluster"
        )
    if parts.scheme not in SUPPORTED_PROXY_SCHEMES or not parts.hostname:
        raise TransportError(f"{origin} {proxy!r} is not an http:// or https:// proxy URL")
    return proxy


def _bypassed(host: str, port: int, environ: Mapping[str, str]) -> bool:
    """Go's rules: loopback always, then each ``NO_PROXY`` entry (``*``, an address, a CIDR, a domain)."""
    host = host.lower().rstrip(".")
    address = _address(host)
    if host == "localhost" or (address is not None and address.is_loopback):
        return True
    for entry in (environ.get("NO_PROXY") or environ.get("no_proxy") or "").split(","):
        entry = entry.strip().lower()
        if entry == "*":
            return True
        if not entry:
            continue
        if "/" in entry:
            try:
                if address is not None and address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass  # Go ignores entries it cannot parse
            continue
        entry_host, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if entry_host.startswith("."):
            if host.endswith(entry_host):
                return True
        elif host == entry_host or host.endswith("." + entry_host):
            return True
    return False


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:6443
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    host, colon, port = entry.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return host, int(port)
    return entry, None


class ServerNameContext(ssl.SSLContext):
    """A client TLS context that sends and verifies a fixed server name, whatever host was dialled.

    asyncio (and so aiohttp, our client's and Kopf's) hands every connection's host to ``wrap_bio``; the
    name is replaced there, so SNI and the certificate check both use the kubeconfig's ``tls-server-name``.
    """

    server_name: str

    def wrap_bio(  # type: ignore[override]
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """Wrap as :meth:`ssl.SSLContext.wrap_bio`, with ``server_name`` as the server's name."""
        return super().wrap_bio(incoming, outgoing, server_side, self.server_name, session)

    def wrap_socket(  # type: ignore[override]
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        """Wrap as :meth:`ssl.SSLContext.wrap_socket`, with ``server_name`` as the server's name."""
        return super().wrap_socket(
            sock, server_side, do_handshake_on_connect, suppress_ragged_eofs, self.server_name, session
        )


def client_context(ca_file: str | None, server_name: str | None) -> ssl.SSLContext:
    """What :func:`ssl.create_default_context` gives a client, checking ``server_name`` if one is set."""
    if not server_name:
        return ssl.create_default_context(cafile=ca_file)
    context = ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)
    context.server_name = server_name
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    return context
