"""The kubeconfig list and context rules of kubectl (client-go's clientcmd)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadergroup.kube.kubeconfig import KubeconfigError, kubeconfig_paths, select


def kubeconfig(
    path: Path,
    *,
    clusters: dict[str, dict[str, Any]] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
    contexts: dict[str, dict[str, Any]] | None = None,
    current: str | None = None,
) -> Path:
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": body} for name, body in (clusters or {}).items()],
        "users": [{"name": name, "user": body} for name, body in (users or {}).items()],
        "contexts": [{"name": name, "context": body} for name, body in (contexts or {}).items()],
    }
    if current:
        document["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_first_file_of_the_list_wins_each_name_and_the_current_context(tmp_path: Path) -> None:
    first = kubeconfig(
        tmp_path / "a" / "config",
        clusters={"c": {"server": "https://first:6443"}},
        contexts={"dev": {"cluster": "c", "user": "u"}},
        current="dev",
    )
    second = kubeconfig(
        tmp_path / "b" / "config",
        clusters={"c": {"server": "https://second:6443"}, "other": {"server": "https://other:6443"}},
        users={"u": {"token": "from-second"}},
        contexts={"prod": {"cluster": "other", "user": "u", "namespace": "team"}},
        current="prod",
    )
    selected = select([first, tmp_path / "missing", second])
    assert selected.context == "dev"
    assert selected.cluster["server"] == "https://first:6443"
    assert selected.user == {"token": "from-second"}, "a user defined only in the second file"
    assert selected.namespace == "default"
    assert selected.source == os.pathsep.join([str(first), str(second)]), "the missing file is skipped"

    chosen = select([first, second], context="prod")
    assert (chosen.cluster["server"], chosen.namespace) == ("https://other:6443", "team")


def test_relative_paths_are_relative_to_the_file_that_holds_them(tmp_path: Path) -> None:
    clusters_file = kubeconfig(
        tmp_path / "clusters" / "config",
        clusters={"c": {"server": "https://x:6443", "certificate-authority": "pki/ca.crt"}},
        contexts={"ctx": {"cluster": "c", "user": "u"}},
        current="ctx",
    )
    users_file = kubeconfig(
        tmp_path / "users" / "config",
        users={
            "u": {
                "client-certificate": "me.crt",
                "client-key": "/abs/me.key",
                "tokenFile": "../token",
                "exec": {"command": "bin/plugin", "apiVersion": "client.authentication.k8s.io/v1"},
            }
        },
    )
    selected = select([clusters_file, users_file])
    assert selected.cluster["certificate-authority"] == str(tmp_path / "clusters" / "pki" / "ca.crt")
    assert selected.user["client-certificate"] == str(tmp_path / "users" / "me.crt")
    assert selected.user["client-key"] == "/abs/me.key"
    assert selected.user["tokenFile"] == str(tmp_path / "users" / ".." / "token")
    assert selected.user["exec"]["command"] == str(tmp_path / "users" / "bin" / "plugin")

    on_path = kubeconfig(
        tmp_path / "path" / "config",
        clusters={"c": {"server": "https://x:6443"}},
        users={"u": {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}},
        contexts={"ctx": {"cluster": "c", "user": "u"}},
        current="ctx",
    )
    assert select([on_path]).user["exec"]["command"] == "aws", "a bare command is looked up on $PATH"


def test_a_context_without_a_user_is_anonymous(tmp_path: Path) -> None:
    path = kubeconfig(
        tmp_path / "config",
        clusters={"c": {"server": "http://127.0.0.1:8080"}},
        contexts={"ctx": {"cluster": "c"}},
        current="ctx",
    )
    assert select([path]).user == {}


@pytest.mark.parametrize(
    ("document", "context", "message"),
    [
        ({"clusters": [], "contexts": []}, None, "no current-context is set"),
        ({"current-context": "gone"}, None, "context 'gone' not found"),
        ({"contexts": [{"name": "x", "context": {"cluster": "nowhere"}}]}, "x", "names cluster 'nowhere'"),
        (
            {
                "clusters": [{"name": "c", "cluster": {}}],
                "contexts": [{"name": "x", "context": {"cluster": "c"}}],
            },
            "x",
            "cluster 'c' has no server",
        ),
    ],
)
def test_unusable_kubeconfigs_say_what_is_missing(
    tmp_path: Path, document: dict[str, Any], context: str | None, message: str
) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(KubeconfigError, match=message):
        select([path], context)


def test_a_file_given_explicitly_must_exist_and_be_a_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="no such file"):
        select([tmp_path / "absent"])
    (tmp_path / "list").write_text("- a\n- b\n")
    with pytest.raises(KubeconfigError, match="not a kubeconfig"):
        select([tmp_path / "list"])
    (tmp_path / "broken").write_text("clusters: [\n")
    with pytest.raises(KubeconfigError, match="not YAML"):
        select([tmp_path / "broken"])


def test_which_files_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(["/a", "", "/b"]))
    assert kubeconfig_paths() == [Path("/a"), Path("/b")]
    assert kubeconfig_paths(tmp_path / "x") == [tmp_path / "x"], "an explicit file replaces the list"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig_paths() == [tmp_path / ".kube" / "config"]
