"""The client's credentials: after a 401 loaded again (an exec plugin's new certificate) with one retry;
an expiring exec token renewed without stopping the event loop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from tests.controlplane.pki import Pki, make_pki
from tests.support.tls_server import client_name, tls_server

from leadergroup import handlers
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
    env = {"FIRST": str(first.with_suffix(""))}
    if later is not None:
        env["LATER"] = str(later.with_suffix(""))
    return plugin_kubeconfig(directory, server.url, pki, PLUGIN, env)


def plugin_kubeconfig(directory: Path, url: str, pki: Pki, source: str, env: dict[str, str]) -> Path:
    """A kubeconfig for ``url`` whose user is the exec plugin ``source`` (Python), run with ``env``."""
    plugin = directory / "plugin"
    plugin.write_text(f"#!{sys.executable}\n{source}")
    plugin.chmod(0o700)
    exec_stanza = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": str(plugin),
        "env": [{"name": name, "value": value} for name, value in env.items()],
    }
    path = directory / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {"name": "c", "cluster": {"server": url, "certificate-authority": str(pki.ca_cert)}}
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


async def test_clients_of_one_process_share_the_plugins_credential(
    tmp_path: Path, server: Server, pki: Pki
) -> None:
    path = exec_kubeconfig(tmp_path, server, pki, pki.scheduler.cert, later=None)
    async with KubeClient.auto(path) as one, KubeClient.auto(path) as another:
        await one.list(resources.NAMESPACES)
        await another.list(resources.NAMESPACES)
    assert plugin_runs(tmp_path) == 1
    assert server.names_seen == ["system:kube-scheduler"] * 2


async def test_kopfs_login_runs_the_plugin_again_and_the_clients_after_it_take_its_credential(
    tmp_path: Path, server: Server, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "KUBECONFIG", str(exec_kubeconfig(tmp_path, server, pki, pki.admin.cert, pki.scheduler.cert))
    )
    statuses = []
    for _ in range(2):  # Kopf logs in at start, and again after a 401
        context = await handlers.login()  # type: ignore[call-arg, misc]  # Kopf types it as a handler
        async with (
            context.aiohttp_session as session,
            session.get(server.url + "/api/v1/namespaces") as answer,
        ):
            statuses.append(answer.status)
    assert statuses == [401, 200] and plugin_runs(tmp_path) == 2
    async with KubeClient.auto() as client:
        await client.list(resources.NAMESPACES)
    assert plugin_runs(tmp_path) == 2, "the client took the login's credential"
    assert server.names_seen == [EXPIRED_NAME, "system:kube-scheduler", "system:kube-scheduler"]


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


# An exec plugin issuing tokens: the first run's has already expired; a later run writes "started" next to
# it and gives its token, valid for ever, only once "go" appears there, which the test's event loop writes.
SLOW_TOKEN_PLUGIN = """\
import json, os, pathlib, sys, time
here = pathlib.Path(sys.argv[0]).parent
with open(here / "runs.log", "a") as log:
    log.write("run\\n")
runs = len((here / "runs.log").read_text().splitlines())
if runs > 1:
    (here / "started").write_text("")
    deadline = time.monotonic() + 20
    while not (here / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("no go: the caller's event loop did not run while this plugin did")
        time.sleep(0.01)
expires = "2000-01-01T00:00:00Z" if runs == 1 else "2999-01-01T00:00:00Z"
status = {"token": f"token-{runs}", "expirationTimestamp": expires}
api = json.loads(os.environ["KUBERNETES_EXEC_INFO"])["apiVersion"]
print(json.dumps({"apiVersion": api, "kind": "ExecCredential", "status": status}))
"""


async def test_an_expired_exec_token_is_renewed_once_while_the_event_loop_runs(
    tmp_path: Path, pki: Pki
) -> None:
    tokens: list[str] = []

    async def namespaces(request: web.Request) -> web.Response:
        tokens.append(request.headers.get("Authorization", ""))
        return web.json_response({"kind": "NamespaceList", "items": []})

    async def say_go_once_started() -> None:
        while not (tmp_path / "started").exists():
            await asyncio.sleep(0.01)
        (tmp_path / "go").write_text("")

    async with tls_server(pki, {"/api/v1/namespaces": namespaces}) as port:
        path = plugin_kubeconfig(tmp_path, f"https://127.0.0.1:{port}", pki, SLOW_TOKEN_PLUGIN, {})
        async with KubeClient.auto(path) as client:
            assert plugin_runs(tmp_path) == 1 and client.connection.token_due()
            go = asyncio.create_task(say_go_once_started())
            # Had the plugin run in the event loop, no "go" could be written: it would fail at its deadline.
            listed = await asyncio.gather(*(client.list(resources.NAMESPACES) for _ in range(3)))
            await go
            assert [answer["kind"] for answer in listed] == ["NamespaceList"] * 3
            assert plugin_runs(tmp_path) == 2, "three requests, one renewal"
            assert tokens == ["Bearer token-2"] * 3, "no request carried the expired token"
            assert not client.connection.token_due()
