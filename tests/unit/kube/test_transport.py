"""Proxies and ``tls-server-name``: client-go's choices, and requests that really go that way."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from tests.controlplane.pki import Pki, make_pki
from tests.support.tls_server import tls_server

from leadergroup import handlers
from leadergroup.kube import ApiUnavailable, ConfigError, KubeClient, config, resources
from leadergroup.kube.config import from_kubeconfig, in_cluster
from leadergroup.kube.transport import TransportError, proxy_for

HTTPS_SERVER = "https://apiserver.example.com:6443"


@pytest.mark.parametrize(
    ("server", "proxy_url", "environ", "expected"),
    [
        (HTTPS_SERVER, "http://squid:3128", {"HTTPS_PROXY": "http://env:1"}, "http://squid:3128"),
        (HTTPS_SERVER, None, {"HTTPS_PROXY": "http://env:1", "HTTP_PROXY": "http://plain:1"}, "http://env:1"),
        (HTTPS_SERVER, None, {"https_proxy": "https://lower:443"}, "https://lower:443"),
        (HTTPS_SERVER, None, {"HTTPS_PROXY": "env:3128"}, "http://env:3128"),
        ("http://apiserver:8080", None, {"HTTPS_PROXY": "http://env:1"}, None),
        ("http://apiserver:8080", None, {"HTTP_PROXY": "http://plain:1"}, "http://plain:1"),
        (HTTPS_SERVER, None, {}, None),
    ],
)
def test_the_proxy_is_the_kubeconfigs_else_the_environments(
    server: str, proxy_url: str | None, environ: dict[str, str], expected: str | None
) -> None:
    assert proxy_for(server, proxy_url, environ) == expected


@pytest.mark.parametrize(
    ("server", "no_proxy", "proxied"),
    [
        ("https://127.0.0.1:6443", "", False),  # loopback is never proxied, as in Go
        ("https://[::1]:6443", "", False),
        ("https://localhost:6443", "", False),
        (HTTPS_SERVER, "*", False),
        (HTTPS_SERVER, "example.com", False),  # a domain and its subdomains
        ("https://example.com:6443", ".example.com", True),  # a leading dot: subdomains only
        (HTTPS_SERVER, ".example.com", False),
        (HTTPS_SERVER, "other.org, apiserver.example.com:6443", False),
        (HTTPS_SERVER, "apiserver.example.com:443", True),  # another port
        ("https://apiserver.example.com", "apiserver.example.com:443", False),  # https's own port
        (HTTPS_SERVER, "ample.com", True),  # not a suffix on a label boundary
        ("https://10.96.0.1:443", "10.0.0.0/8", False),
        ("https://10.96.0.1:443", "10.96.0.1", False),
        ("https://10.96.0.1:443", "192.168.0.0/16,not/a/cidr", True),
    ],
)
def test_no_proxy_follows_go(server: str, no_proxy: str, proxied: bool) -> None:
    environ = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": no_proxy}
    assert (proxy_for(server, None, environ) is not None) is proxied


def test_a_socks_or_malformed_proxy_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="SOCKS proxies are not supported"):
        proxy_for(HTTPS_SERVER, "socks5://127.0.0.1:1080")
    with pytest.raises(TransportError, match=r"\$HTTPS_PROXY 'ftp://x' is not an http"):
        proxy_for(HTTPS_SERVER, None, {"HTTPS_PROXY": "ftp://x"})
    path = kubeconfig(tmp_path / "kc", {"server": HTTPS_SERVER, "proxy-url": "socks5://127.0.0.1:1080"})
    with pytest.raises(ConfigError, match=r"kc: proxy-url socks5://127\.0\.0\.1:1080: SOCKS"):
        from_kubeconfig(path)


def test_in_cluster_honours_the_proxy_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki
) -> None:
    (tmp_path / "token").write_text("pod-token")
    monkeypatch.setattr(config, "IN_CLUSTER_SECRETS", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("HTTPS_PROXY", "http://egress:3128")
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "")
    assert in_cluster().proxy == "http://egress:3128"
    monkeypatch.setenv("NO_PROXY", "10.96.0.0/12,.svc")
    assert in_cluster().proxy is None


def kubeconfig(path: Path, cluster: dict[str, Any], token: str = "s3cret") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@dataclass
class Seen:
    """What the proxy and the API server stand-in saw."""

    connects: list[str] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)


@dataclass(frozen=True)
class Setup:
    """A TLS server reachable only through an HTTP CONNECT proxy, both on loopback."""

    server_port: int
    proxy_url: str
    ca_file: Path
    seen: Seen

    @property
    def server(self) -> str:
        """A name no resolver knows and the certificate does not carry: only the proxy reaches it."""
        return f"https://apiserver.internal.invalid:{self.server_port}"

    @property
    def connect_line(self) -> str:
        """The request line the proxy sees for :attr:`server`."""
        return f"CONNECT apiserver.internal.invalid:{self.server_port} HTTP/1.1"

    def cluster(
        self, *, proxy_url: bool = True, tls_server_name: str | None = "kubernetes"
    ) -> dict[str, Any]:
        """A kubeconfig cluster for :attr:`server`, through the proxy and with a name the certificate has."""
        cluster: dict[str, Any] = {"server": self.server, "certificate-authority": str(self.ca_file)}
        if proxy_url:
            cluster["proxy-url"] = self.proxy_url
        if tls_server_name:
            cluster["tls-server-name"] = tls_server_name
        return cluster


@pytest.fixture
async def behind_a_proxy(pki: Pki) -> AsyncIterator[Setup]:
    seen = Seen()

    async def namespaces(request: web.Request) -> web.Response:
        seen.authorizations.append(request.headers.get("Authorization"))
        return web.json_response({"kind": "NamespaceList", "items": [{"metadata": {"name": "default"}}]})

    def record_server_name(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        seen.server_names.append(name)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Every CONNECT, whatever host it names, ends at the stand-in: the names need not resolve.
        request = await reader.readuntil(b"\r\n\r\n")
        seen.connects.append(request.split(b"\r\n")[0].decode())
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", server_port)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    routes = {"/api/v1/namespaces": namespaces}
    async with tls_server(pki, routes, on_server_name=record_server_name) as server_port:
        proxy = await asyncio.start_server(tunnel, "127.0.0.1", 0)
        proxy_port = proxy.sockets[0].getsockname()[1]
        try:
            yield Setup(server_port, f"http://127.0.0.1:{proxy_port}", pki.ca_cert, seen)
        finally:
            proxy.close()


async def test_requests_go_through_the_proxy_and_check_the_tls_server_name(
    tmp_path: Path, behind_a_proxy: Setup
) -> None:
    cluster = behind_a_proxy.cluster(tls_server_name="kubernetes.default.svc")
    async with KubeClient.auto(kubeconfig(tmp_path / "kc", cluster)) as client:
        listed = await client.list(resources.NAMESPACES)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["default"]
    seen = behind_a_proxy.seen
    assert seen.connects == [behind_a_proxy.connect_line]
    assert seen.server_names == ["kubernetes.default.svc"]
    assert seen.authorizations == ["Bearer s3cret"]

    # Without tls-server-name the server's certificate is checked against the host of `server`.
    without_name = behind_a_proxy.cluster(tls_server_name=None)
    async with KubeClient.auto(kubeconfig(tmp_path / "kc2", without_name)) as client:
        with pytest.raises(ApiUnavailable, match="certificate"):
            await client.list(resources.NAMESPACES)


async def test_the_environments_proxy_is_used_without_proxy_url(
    tmp_path: Path, behind_a_proxy: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("https_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", behind_a_proxy.proxy_url)
    async with KubeClient.auto(
        kubeconfig(tmp_path / "kc", behind_a_proxy.cluster(proxy_url=False))
    ) as client:
        await client.list(resources.NAMESPACES)
    assert behind_a_proxy.seen.connects == [behind_a_proxy.connect_line]


async def test_kopfs_login_session_takes_the_same_way(
    tmp_path: Path, behind_a_proxy: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = kubeconfig(tmp_path / "kc", behind_a_proxy.cluster(), token="kopf-token")
    monkeypatch.setenv("KUBECONFIG", str(path))
    context = await handlers.login()  # type: ignore[call-arg, misc]  # Kopf types it as a handler
    assert context.server == behind_a_proxy.server
    async with (
        context.aiohttp_session as session,
        session.get(behind_a_proxy.server + "/api/v1/namespaces") as answer,
    ):
        assert answer.status == 200
    assert behind_a_proxy.seen.connects == [behind_a_proxy.connect_line]
    assert behind_a_proxy.seen.server_names == ["kubernetes"]
    assert behind_a_proxy.seen.authorizations == ["Bearer kopf-token"]
