"""Exec credential plugins: the protocol client-go speaks, with a real plugin process."""

from __future__ import annotations

import json
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadergroup.kube import execplugin
from leadergroup.kube.execplugin import (
    Credential,
    ExecPluginError,
    cached_token,
    credential,
    parse_credential,
    run_plugin,
)

V1 = "client.authentication.k8s.io/v1"

# Prints an ExecCredential whose token tells what the plugin saw: its args, an env var of the kubeconfig
# and the cluster of KUBERNETES_EXEC_INFO. Each run appends a line to runs.log next to it.
PLUGIN = """\
import json, os, pathlib, sys
here = pathlib.Path(sys.argv[0]).parent
with open(here / "runs.log", "a") as log:
    log.write("run\\n")
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
seen = {"args": sys.argv[1:], "region": os.environ.get("REGION"), "spec": info["spec"]}
status = {"token": json.dumps(seen)}
expires = os.environ.get("EXPIRES")
if expires:
    status["expirationTimestamp"] = expires
print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}))
"""


def write_plugin(directory: Path, body: str = PLUGIN) -> Path:
    path = directory / "plugin"
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def plugin_config(command: Path | str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": V1, "command": str(command), "args": ["get-token", "--x"], **extra}


def test_the_plugin_gets_its_args_env_and_the_cluster_and_its_token_is_used(tmp_path: Path) -> None:
    plugin = plugin_config(
        write_plugin(tmp_path), env=[{"name": "REGION", "value": "eu-1"}], provideClusterInfo=True
    )
    cluster = {
        "server": "https://k:6443",
        "certificate-authority-data": "Q0E=",
        "tls-server-name": "kubernetes",
        "proxy-url": "http://proxy:3128",
        "certificate-authority": "/not/passed/ca.crt",
    }
    credential = run_plugin(plugin, cluster)
    seen = json.loads(credential.token or "")
    assert seen["args"] == ["get-token", "--x"]
    assert seen["region"] == "eu-1"
    assert seen["spec"] == {
        "interactive": False,
        "cluster": {
            "server": "https://k:6443",
            "certificate-authority-data": "Q0E=",
            "tls-server-name": "kubernetes",
            "proxy-url": "http://proxy:3128",
        },
    }
    assert credential.expires_at is None

    without_cluster = json.loads(run_plugin(plugin_config(write_plugin(tmp_path)), cluster).token or "")
    assert without_cluster["spec"] == {"interactive": False}, "cluster info only when asked for"


def test_an_expired_token_runs_the_plugin_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPIRES", "2000-01-01T00:00:00Z")
    plugin = plugin_config(write_plugin(tmp_path))
    first = run_plugin(plugin, {})
    assert first.expires_at == pytest.approx(946684800.0)
    token = cached_token(plugin, {}, first)
    token()
    token()
    assert (tmp_path / "runs.log").read_text().count("run") == 3, "the first run, then one per expired call"

    monkeypatch.setenv("EXPIRES", "2999-01-01T00:00:00Z")
    fresh = cached_token(plugin, {}, run_plugin(plugin, {}))
    fresh()
    fresh()
    assert (tmp_path / "runs.log").read_text().count("run") == 4, "a valid token is not fetched again"

    closing = datetime.now(UTC) + timedelta(seconds=execplugin.EXPIRY_MARGIN_SECONDS / 2)
    monkeypatch.setenv("EXPIRES", closing.isoformat().replace("+00:00", "Z"))
    lapsing = cached_token(plugin, {}, run_plugin(plugin, {}))
    lapsing()
    assert (tmp_path / "runs.log").read_text().count("run") == 6, "one about to expire is fetched again"


def test_the_process_shares_one_credential_per_plugin_and_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def runs() -> int:
        return (tmp_path / "runs.log").read_text().count("run")

    plugin = plugin_config(write_plugin(tmp_path))
    first = credential(plugin, {"server": "https://a"})
    assert credential(plugin, {"server": "https://a"}) is first and runs() == 1, "reused while valid"
    assert credential(plugin, {"server": "https://b"}) is not first and runs() == 2, "another cluster"
    refused = credential(plugin, {"server": "https://a"}, fresh=True)
    assert refused is not first and runs() == 3, "fresh: the server refused the one known"
    assert credential(plugin, {"server": "https://a"}) is refused and runs() == 3, "the new one is shared"

    monkeypatch.setenv("EXPIRES", "2000-01-01T00:00:00Z")
    other = plugin_config(write_plugin(tmp_path), args=["other"])
    lapsed = credential(other, {})
    assert credential(other, {}) is not lapsed and runs() == 5, "an expired one is not reused"


def test_failures_say_what_went_wrong(tmp_path: Path) -> None:
    with pytest.raises(ExecPluginError, match="not found: brew install it"):
        run_plugin(plugin_config(tmp_path / "absent", installHint="brew install it"), {})
    failing = write_plugin(
        tmp_path, "import sys\nsys.stderr.write('no credentials for profile x')\nsys.exit(3)\n"
    )
    with pytest.raises(ExecPluginError, match="exited with 3: no credentials for profile x"):
        run_plugin(plugin_config(failing), {})
    with pytest.raises(ExecPluginError, match=r"apiVersion 'client\.authentication\.k8s\.io/v1alpha1'"):
        run_plugin(plugin_config(failing, apiVersion="client.authentication.k8s.io/v1alpha1"), {})


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ("not json", "no ExecCredential JSON"),
        (json.dumps({"apiVersion": V1, "kind": "Config"}), "other than an ExecCredential"),
        (
            json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential"}),
            "asked for",
        ),
        (json.dumps({"apiVersion": V1, "kind": "ExecCredential", "status": {}}), "neither a token"),
        (
            json.dumps(
                {"apiVersion": V1, "kind": "ExecCredential", "status": {"clientCertificateData": "PEM"}}
            ),
            "without its key",
        ),
        (
            json.dumps(
                {
                    "apiVersion": V1,
                    "kind": "ExecCredential",
                    "status": {"token": "t", "expirationTimestamp": "soon"},
                }
            ),
            "not RFC 3339",
        ),
    ],
)
def test_bad_exec_credentials_are_refused(stdout: str, message: str) -> None:
    with pytest.raises(ExecPluginError, match=message):
        parse_credential(stdout, V1)


def test_a_client_certificate_credential() -> None:
    document = {
        "apiVersion": V1,
        "kind": "ExecCredential",
        "status": {"clientCertificateData": "CERT", "clientKeyData": "KEY"},
    }
    assert parse_credential(json.dumps(document), V1) == Credential(None, "CERT", "KEY", None)
