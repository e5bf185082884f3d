"""Kubeconfig loading: the server, the namespace and the bearer token reach our client."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leadergroup.kube import KubeClient
from leadergroup.kube.config import from_kubeconfig


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
