"""Kubeconfig and in-cluster loading: server, namespace, token and TLS reach our client (and Kopf's login)."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from tests.controlplane.pki import Pki, make_pki
from tests.support.tls_server import client_name, tls_server

from leadergroup.kube import ConfigError, Connection, KubeClient, config
from leadergroup.kube.config import from_kubeconfig, in_cluster


def write_kubeconfig(path: Path, token: str, namespace: str = "team-a") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [
                    {"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": namespace}}
                ],
                "current-context": "ctx",
            }
        )
    )
    return path


def test_token_server_and_namespace(tmp_path: Path) -> None:
    connection = from_kubeconfig(write_kubeconfig(tmp_path / "kc", "s3cret"))
    assert connection.server == "http://127.0.0.1:6443"
    assert connection.namespace == "team-a"
    assert connection.bearer_token() == "s3cret"
    assert connection.ssl_context is None


def test_kubeconfig_env_is_read_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "kc", "from-env", "ns-env")))
    connection = from_kubeconfig()
    assert connection.bearer_token() == "from-env"
    assert connection.namespace == "ns-env"


def test_client_sends_the_bearer_token(tmp_path: Path) -> None:
    client = KubeClient.auto(write_kubeconfig(tmp_path / "kc", "s3cret"))
    assert client._headers()["Authorization"] == "Bearer s3cret"


def kubeconfig_with(path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


async def client_certificate_seen(connection: Connection, pki: Pki) -> str:
    """Serve TLS that requires a client certificate of the CA; answer the name the client showed."""

    async def whoami(request: web.Request) -> web.Response:
        return web.Response(text=str(client_name(request)))

    async with tls_server(pki, {"/whoami": whoami}, client_certificates=True) as port:
        connector = aiohttp.TCPConnector(ssl=connection.ssl_context)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(f"https://127.0.0.1:{port}/whoami") as answer,
        ):
            return await answer.text()


async def test_inline_ca_and_client_certificate_reach_a_tls_server(tmp_path: Path, pki: Pki) -> None:
    path = kubeconfig_with(
        tmp_path / "kc",
        {"server": "https://127.0.0.1:1", "certificate-authority-data": b64(pki.ca_cert)},
        {"client-certificate-data": b64(pki.admin.cert), "client-key-data": b64(pki.admin.key)},
    )
    connection = from_kubeconfig(path)
    assert await client_certificate_seen(connection, pki) == "leadergroup-admin"
    # Kopf's login gets the same material as files, private to the user.
    for written in (connection.ca_file, connection.cert_file, connection.key_file):
        assert written and stat.S_IMODE(os.stat(written).st_mode) == 0o600
    assert Path(connection.cert_file or "").read_bytes() == pki.admin.cert.read_bytes()
    assert connection.bearer_token() is None


async def test_certificate_files_and_an_untrusted_server(tmp_path: Path, pki: Pki) -> None:
    files = from_kubeconfig(
        kubeconfig_with(
            tmp_path / "kc",
            {"server": "https://127.0.0.1:1", "certificate-authority": str(pki.ca_cert)},
            {"client-certificate": str(pki.scheduler.cert), "client-key": str(pki.scheduler.key)},
        )
    )
    assert await client_certificate_seen(files, pki) == "system:kube-scheduler"
    assert (files.ca_file, files.cert_file) == (str(pki.ca_cert), str(pki.scheduler.cert))

    no_ca = from_kubeconfig(
        kubeconfig_with(
            tmp_path / "no-ca",
            {"server": "https://127.0.0.1:1"},
            {"client-certificate": str(pki.scheduler.cert), "client-key": str(pki.scheduler.key)},
        )
    )
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await client_certificate_seen(no_ca, pki)
    insecure = from_kubeconfig(
        kubeconfig_with(
            tmp_path / "insecure",
            {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True},
            {"client-certificate": str(pki.scheduler.cert), "client-key": str(pki.scheduler.key)},
        )
    )
    assert insecure.insecure
    assert await client_certificate_seen(insecure, pki) == "system:kube-scheduler"


def test_bad_tls_material_is_a_config_error(tmp_path: Path, pki: Pki) -> None:
    server = {"server": "https://127.0.0.1:1"}
    with pytest.raises(ConfigError, match="client-certificate-data is not base64"):
        from_kubeconfig(
            kubeconfig_with(tmp_path / "a", server, {"client-certificate-data": "%%%", "client-key": "k"})
        )
    with pytest.raises(ConfigError, match="needs its key"):
        from_kubeconfig(kubeconfig_with(tmp_path / "b", server, {"client-certificate": str(pki.admin.cert)}))
    with pytest.raises(ConfigError, match="TLS files"):
        from_kubeconfig(
            kubeconfig_with(tmp_path / "c", {**server, "certificate-authority": str(tmp_path / "none")}, {})
        )


def test_a_token_file_is_read_again_after_rotation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "TOKEN_RECHECK_SECONDS", 0.0)
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    connection = from_kubeconfig(
        kubeconfig_with(tmp_path / "kc", {"server": "http://x"}, {"tokenFile": "token"})
    )
    assert connection.bearer_token() == "first", "relative to the kubeconfig's directory, newline stripped"
    token_file.write_text("second")
    assert connection.bearer_token() == "second"
    token_file.unlink()
    assert connection.bearer_token() == "second", "mid-rotation the last token is kept"


def test_basic_auth_is_sent_as_such(tmp_path: Path) -> None:
    path = kubeconfig_with(tmp_path / "kc", {"server": "http://x"}, {"username": "ann", "password": "pw"})
    client = KubeClient.auto(path)
    assert client._headers()["Authorization"] == "Basic " + base64.b64encode(b"ann:pw").decode()
    assert client.connection.bearer_token() is None


def test_an_exec_plugin_gives_the_token(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential"}
    credential["status"] = {"token": "from-plugin"}  # type: ignore[assignment]
    plugin.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(credential))})\n")
    plugin.chmod(0o700)
    exec_stanza = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "./plugin"}
    connection = from_kubeconfig(
        kubeconfig_with(tmp_path / "kc", {"server": "http://x"}, {"exec": exec_stanza})
    )
    assert connection.bearer_token() == "from-plugin"
    failing = {**exec_stanza, "command": "./absent", "installHint": "install the plugin"}
    with pytest.raises(ConfigError, match="install the plugin"):
        from_kubeconfig(kubeconfig_with(tmp_path / "kc2", {"server": "http://x"}, {"exec": failing}))


def test_an_auth_provider_is_left_to_the_kubernetes_package(tmp_path: Path) -> None:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    id_token = f"{part({'alg': 'none'})}.{part({'exp': 4102444800, 'iss': 'https://idp'})}.c2ln"
    provider = {"name": "oidc", "config": {"id-token": id_token, "idp-issuer-url": "https://idp"}}
    path = kubeconfig_with(tmp_path / "kc", {"server": "http://127.0.0.1:1"}, {"auth-provider": provider})
    connection = from_kubeconfig(path)
    assert connection.bearer_token() == id_token
    assert connection.server == "http://127.0.0.1:1"


def test_in_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki) -> None:
    secrets = tmp_path / "serviceaccount"
    secrets.mkdir()
    (secrets / "token").write_text("pod-token")
    (secrets / "namespace").write_text("team-b\n")
    (secrets / "ca.crt").write_bytes(pki.ca_cert.read_bytes())
    monkeypatch.setattr(config, "IN_CLUSTER_SECRETS", secrets)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    connection = in_cluster()
    assert (connection.server, connection.namespace) == ("https://10.0.0.1:443", "team-b")
    assert connection.bearer_token() == "pod-token"
    assert connection.ca_file == str(secrets / "ca.crt") and connection.ssl_context is not None
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    assert in_cluster().server == "https://[fd00::1]:443"
    (secrets / "token").unlink()
    with pytest.raises(ConfigError, match="no ServiceAccount token"):
        in_cluster()
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT")
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_PORT is unset"):
        in_cluster()
