"""Kubeconfig files as kubectl reads them: the ``$KUBECONFIG`` list merged, one context chosen.

The rules are client-go's (``clientcmd``): in a list of files the first to set a name (cluster, user,
context) wins, and so does the first ``current-context``; files of the list that do not exist are skipped;
a relative path inside a file (certificate, key, token file, an exec command with a ``/``) is relative to
the directory of the file that holds it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_KUBECONFIG = Path("~/.kube/config")

# Fields holding file paths, per stanza: resolved against the defining file's directory when relative.
_CLUSTER_PATHS = ("certificate-authority",)
_USER_PATHS = ("client-certificate", "client-key", "tokenFile")


class KubeconfigError(Exception):
    """A kubeconfig that cannot be read or has no usable context."""


@dataclass(frozen=True)
class Selected:
    """The chosen context of the merged kubeconfig: its cluster and user stanzas, paths made absolute."""

    context: str
    cluster: Mapping[str, Any]
    user: Mapping[str, Any]
    namespace: str
    source: str


def kubeconfig_paths(explicit: str | os.PathLike[str] | None = None) -> list[Path]:
    """The files to read: the one given, else every entry of ``$KUBECONFIG``, else ``~/.kube/config``."""
    if explicit is not None:
        return [Path(explicit).expanduser()]
    listed = os.environ.get("KUBECONFIG", "")
    if listed:
        return [Path(entry).expanduser() for entry in listed.split(os.pathsep) if entry]
    return [DEFAULT_KUBECONFIG.expanduser()]


def select(paths: Sequence[Path], context: str | None = None) -> Selected:
    """Merge ``paths`` and return the ``context`` given, else the current one."""
    contexts: dict[str, Mapping[str, Any]] = {}
    clusters: dict[str, Mapping[str, Any]] = {}
    users: dict[str, Mapping[str, Any]] = {}
    current: str | None = None
    read: list[str] = []
    for path in paths:
        document = _read(path, must_exist=len(paths) == 1)
        if document is None:
            continue
        read.append(str(path))
        base = path.parent
        current = current or document.get("current-context") or None
        _merge_named(contexts, document.get("contexts"), "context", base, ())
        _merge_named(clusters, document.get("clusters"), "cluster", base, _CLUSTER_PATHS)
        _merge_named(users, document.get("users"), "user", base, _USER_PATHS)
    source = os.pathsep.join(read) or os.pathsep.join(str(path) for path in paths)
    name = context or current
    if not name:
        raise KubeconfigError(f"{source}: no current-context is set and no context was given")
    if name not in contexts:
        raise KubeconfigError(f"{source}: context {name!r} not found")
    chosen = contexts[name]
    cluster_name, user_name = chosen.get("cluster"), chosen.get("user")
    if cluster_name not in clusters:
        raise KubeconfigError(
            f"{source}: context {name!r} names cluster {cluster_name!r}, which is not defined"
        )
    cluster = clusters[str(cluster_name)]
    if not cluster.get("server"):
        raise KubeconfigError(f"{source}: cluster {cluster_name!r} has no server")
    # A context without a user (or naming none defined) connects anonymously, as kubectl does.
    user = users.get(str(user_name), {}) if user_name else {}
    namespace = str(chosen.get("namespace") or "default")
    return Selected(context=name, cluster=cluster, user=user, namespace=namespace, source=source)


def _read(path: Path, *, must_exist: bool) -> Mapping[str, Any] | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        if must_exist:
            raise KubeconfigError(f"{path}: no such file") from None
        return None
    except OSError as error:
        raise KubeconfigError(f"{path}: {error}") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KubeconfigError(f"{path}: not YAML: {error}") from error
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise KubeconfigError(f"{path}: not a kubeconfig (a {type(document).__name__}, not a mapping)")
    return document


def _merge_named(
    into: dict[str, Mapping[str, Any]],
    entries: Any,
    field: str,
    base: Path,
    path_fields: Sequence[str],
) -> None:
    for entry in entries or ():
        if not isinstance(entry, Mapping) or not entry.get("name") or entry["name"] in into:
            continue
        stanza = dict(entry.get(field) or {})
        for key in path_fields:
            if stanza.get(key):
                stanza[key] = str(_absolute(base, str(stanza[key])))
        if field == "user" and isinstance(stanza.get("exec"), Mapping):
            stanza["exec"] = _resolved_exec(base, stanza["exec"])
        into[str(entry["name"])] = stanza


def _resolved_exec(base: Path, plugin: Mapping[str, Any]) -> Mapping[str, Any]:
    command = str(plugin.get("command") or "")
    # A bare name is looked up on $PATH; one with a separator is a path, relative to the kubeconfig.
    if os.sep in command and not Path(command).is_absolute():
        return {**plugin, "command": str(_absolute(base, command))}
    return plugin


def _absolute(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path
