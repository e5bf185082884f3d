"""The client after a 401: credentials loaded again (an exec plugin's new certificate), one retry."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from tests.controlplane.pki import Pki, make_pki
from tests.support.tls_server import client_name, tls_server

from leadergroup.kube import ApiError, KubeClient, resources
from leadergroup.kube import client as client_module
from leadergroup.kube.config import from_kubeconfig

# An exec plugin issuing client certificates: the first run the one in $FIRST, every later run $LATER
# (the same one when $LATER is unset). Each run appends a line to runs.log next to it.
PLUGIN = """\
import json, os, pathlib, sys
here = pathlib.Path(sys.argv[0]).parent
with open(here / "runs.log", "a") as log:
    log.write("run\\n")
runs = len((here / "runs.log").read_text().splitlines())
stem = os.environ["FIRST"] if runs == 1 else os.environ.get("LATER") or os.environ["FIRST"]
status = {
    "clientCertificateData": pathlib.Path(stem + ".crt").read_text(),
    "clientKeyData": pathlib.Path(stem + ".key").read_text(),
}
api = json.loads(os.environ["KUBERNETES_EXEC_INFO"])["apiVersion"]
print(json.dumps({"apiVersion": api, "kind": "ExecCredential", "status": status}))
"""

EXPIRED_NAME = "leadergroup-admin"  # the certificate the server below no longer accepts


@dataclass
class Server:
    """A TLS API server stand-in that answers 401 to :data:`EXPIRED_NAME` and lists namespaces to others."""

    url: str
    names_seen: list[str] = field(default_factory=list)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
async def server(pki: Pki) -> AsyncIterator[Server]:
    seen: list[str] = []

    async def namespaces(request: web.Request) -> web.Response:
        name = str(client_name(request))
        seen.append(name)
        if name == EXPIRED_NAME:
            status = {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401}
            return web.json_response(status, status=401)
        return web.json_response({"kind": "NamespaceList", "items": []})

    async with tls_server(pki, {"/api/v1/namespaces": namespaces}, client_certificates=True) as port:
        yield Server(f"https://127.0.0.1:{port}", seen)


def exec_kubeconfig(directory: Path, server: Server, pki: Pki, first: Path, later: Path | None) -> Path:
    plugin = directory / "plugin"
    plugin.write_text(f"#!{sys.executable}\n{PLUGIN}")
    plugin.chmod(0o700)
    env = [{"name": "FIRST", "value": str(first.with_suffix(""))}]
    if later is not None:
        env.append({"name": "LATER", "value": str(later.with_suffix(""))})
    exec_stanza = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin), "env": env}
    path = directory / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": server.url, "certificate-authority": str(pki.ca_cert)},
                    }
                ],
                "users": [{"name": "u", "user": {"exec": exec_stanza}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def plugin_runs(directory: Path) -> int:
    return len((directory / "runs.log").read_text().splitlines())


async def test_a_refused_certificate_is_renewed_by_the_plugin_and_the_request_retried(
    tmp_path: Path, server: Server, pki: Pki
) -> None:
    path = exec_kubeconfig(tmp_path, server, pki, pki.admin.cert, later=pki.scheduler.cert)
    async with KubeClient.auto(path) as client:
        listed = await client.list(resources.NAMESPACES)
        assert listed["kind"] == "NamespaceList"
        assert server.names_seen == [EXPIRED_NAME, "system:kube-scheduler"]
        assert plugin_runs(tmp_path) == 2
        await client.list(resources.NAMESPACES)
    assert plugin_runs(tmp_path) == 2, "the renewed certificate is kept"


async def test_credentials_refused_again_are_an_error_not_a_loop(
    tmp_path: Path, server: Server, pki: Pki
) -> None:
    path = exec_kubeconfig(tmp_path, server, pki, pki.admin.cert, later=None)
    async with KubeClient.auto(path) as client:
        with pytest.raises(ApiError) as refused:
            await client.list(resources.NAMESPACES)
        assert refused.value.status == 401
        assert plugin_runs(tmp_path) == 2, "loaded once more, then given up"
        with pytest.raises(ApiError):
            await client.list(resources.NAMESPACES)
        assert plugin_runs(tmp_path) == 2, "not again within the reconnect interval"
    assert server.names_seen == [EXPIRED_NAME] * 3


async def test_a_client_given_only_a_connection_does_not_reconnect(
    tmp_path: Path, server: Server, pki: Pki
) -> None:
    path = exec_kubeconfig(tmp_path, server, pki, pki.admin.cert, later=pki.scheduler.cert)
    async with KubeClient(from_kubeconfig(path)) as client:
        with pytest.raises(ApiError):
            await client.list(resources.NAMESPACES)
    assert plugin_runs(tmp_path) == 1


async def test_lasting_refusals_keep_only_the_recently_retired_sessions(
    tmp_path: Path, server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Clock:
        """Twenty seconds pass between two looks: every 401 may renew, and old sessions age out."""

        now = 0.0

        def monotonic(self) -> float:
            self.now += 20.0
            return self.now

    monkeypatch.setattr(client_module, "time", Clock())
    path = exec_kubeconfig(tmp_path, server, pki, pki.admin.cert, later=None)
    async with KubeClient.auto(path) as client:
        retired = []
        for _ in range(6):
            with pytest.raises(ApiError):
                await client.list(resources.NAMESPACES)
            retired += [session for _, session in client._retired_sessions if session not in retired]
        assert plugin_runs(tmp_path) == 7, "each refusal renewed once"
        assert len(client._retired_sessions) <= 2
        assert sum(session.closed for session in retired) >= len(retired) - 2
    assert all(session.closed for session in retired)
