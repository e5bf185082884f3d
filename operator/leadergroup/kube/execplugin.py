"""Kubeconfig ``exec`` credential plugins (``aws eks get-token``, ``gke-gcloud-auth-plugin``, ``kubelogin``).

The protocol is client-go's (client.authentication.k8s.io, v1 and v1beta1): run the command with the
kubeconfig's args and env plus ``KUBERNETES_EXEC_INFO``, read an ``ExecCredential`` from its stdout, and
reuse the credential until its ``expirationTimestamp`` (for ever when it has none). As client-go does,
the credential is shared by every client of the process with the same plugin and cluster, so that the
operator's clients start with one run of the plugin, not one each.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SUPPORTED_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
PLUGIN_TIMEOUT_SECONDS = 60.0
# A token is fetched again this long before it expires, so a request never carries one that just lapsed.
EXPIRY_MARGIN_SECONDS = 10.0


class ExecPluginError(Exception):
    """The plugin could not be run or did not print a usable ExecCredential."""


@dataclass(frozen=True)
class Credential:
    """What the plugin gave: a token and/or a client certificate (PEM), and when it expires (epoch s)."""

    token: str | None
    client_certificate: str | None
    client_key: str | None
    expires_at: float | None


# The process's credentials, by plugin and cluster; the lock also makes concurrent callers wait for one run.
_credentials: dict[str, Credential] = {}
_credentials_lock = threading.Lock()


def run_plugin(plugin: Mapping[str, Any], cluster: Mapping[str, Any]) -> Credential:
    """Run the plugin once and return its credential."""
    api_version = str(plugin.get("apiVersion") or "")
    if api_version not in SUPPORTED_API_VERSIONS:
        raise ExecPluginError(
            f"exec plugin apiVersion {api_version!r} is not supported "
            f"(use one of {', '.join(SUPPORTED_API_VERSIONS)})"
        )
    command = str(plugin.get("command") or "")
    if not command:
        raise ExecPluginError("exec plugin has no command")
    spec: dict[str, Any] = {"interactive": False}
    if plugin.get("provideClusterInfo"):
        spec["cluster"] = _cluster_info(cluster)
    env = {
        **os.environ,
        "KUBERNETES_EXEC_INFO": json.dumps(
            {"apiVersion": api_version, "kind": "ExecCredential", "spec": spec}
        ),
    }
    for variable in plugin.get("env") or ():
        env[str(variable["name"])] = str(variable["value"])
    argv = [command, *(str(arg) for arg in plugin.get("args") or ())]
    try:
        finished = subprocess.run(  # the kubeconfig's own command, as kubectl runs it
            argv, env=env, capture_output=True, text=True, timeout=PLUGIN_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError:
        hint = plugin.get("installHint")
        raise ExecPluginError(f"exec plugin {command!r} not found" + (f": {hint}" if hint else "")) from None
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ExecPluginError(f"exec plugin {command!r}: {error}") from error
    if finished.returncode != 0:
        raise ExecPluginError(
            f"exec plugin {command!r} exited with {finished.returncode}: {finished.stderr.strip()[-500:]}"
        )
    return parse_credential(finished.stdout, api_version)


def credential(plugin: Mapping[str, Any], cluster: Mapping[str, Any], *, fresh: bool = False) -> Credential:
    """The credential this process last got from the plugin for the cluster, else a new run's.

    A new run also when that one is about to expire, or with ``fresh``: after the server refused it (a
    client certificate has no expiry to warn of its rotation).
    """
    key = json.dumps({"plugin": plugin, "cluster": cluster}, sort_keys=True, default=str)
    with _credentials_lock:
        known = _credentials.get(key)
        if known is None or fresh or expiring(known):
            known = _credentials[key] = run_plugin(plugin, cluster)
        return known


def expiring(given: Credential) -> bool:
    """Whether ``given`` expires within :data:`EXPIRY_MARGIN_SECONDS` (never, without an expiry)."""
    return given.expires_at is not None and time.time() >= given.expires_at - EXPIRY_MARGIN_SECONDS


def parse_credential(stdout: str, api_version: str) -> Credential:
    """The credential of an ExecCredential document (as the plugin printed it)."""
    try:
        document = json.loads(stdout)
    except ValueError as error:
        raise ExecPluginError(f"exec plugin printed no ExecCredential JSON: {error}") from error
    if not isinstance(document, Mapping) or document.get("kind") != "ExecCredential":
        raise ExecPluginError("exec plugin printed something other than an ExecCredential")
    if document.get("apiVersion") != api_version:
        raise ExecPluginError(
            f"exec plugin answered apiVersion {document.get('apiVersion')!r}, "
            f"the kubeconfig asked for {api_version!r}"
        )
    status = document.get("status") or {}
    token = status.get("token") or None
    certificate, key = status.get("clientCertificateData") or None, status.get("clientKeyData") or None
    if bool(certificate) != bool(key):
        raise ExecPluginError("exec plugin gave a client certificate without its key, or a key without one")
    if not token and not certificate:
        raise ExecPluginError("exec plugin's ExecCredential has neither a token nor a client certificate")
    expires = status.get("expirationTimestamp")
    return Credential(
        token=token,
        client_certificate=certificate,
        client_key=key,
        expires_at=_epoch(str(expires)) if expires else None,
    )


class ExecToken:
    """A token source that renews its credential only when it is about to expire.

    Calling it returns the current token, renewed first when :meth:`due` (by :func:`credential`: another
    client's newer one, else a new run of the plugin); an asynchronous caller checks :meth:`due` and then
    makes that call in a thread, since a plugin may take seconds.
    """

    def __init__(
        self,
        plugin: Mapping[str, Any],
        cluster: Mapping[str, Any],
        first: Credential,
        renew: Callable[[Mapping[str, Any], Mapping[str, Any]], Credential] = credential,
    ) -> None:
        self._plugin, self._cluster, self._renew = plugin, cluster, renew
        self._current = first

    def due(self) -> bool:
        """Whether the next call renews the credential: it expires within the margin."""
        return expiring(self._current)

    def __call__(self) -> str | None:
        """The current token, renewed first when :meth:`due`."""
        if self.due():
            self._current = self._renew(self._plugin, self._cluster)
        return self._current.token


def cached_token(
    plugin: Mapping[str, Any],
    cluster: Mapping[str, Any],
    first: Credential,
    renew: Callable[[Mapping[str, Any], Mapping[str, Any]], Credential] = credential,
) -> ExecToken:
    """The plugin's token, reused until it is about to expire (see :class:`ExecToken`)."""
    return ExecToken(plugin, cluster, first, renew)


def _cluster_info(cluster: Mapping[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {"server": cluster.get("server")}
    if cluster.get("certificate-authority-data"):
        info["certificate-authority-data"] = cluster["certificate-authority-data"]
    if cluster.get("insecure-skip-tls-verify"):
        info["insecure-skip-tls-verify"] = True
    for field in ("tls-server-name", "proxy-url"):
        if cluster.get(field):
            info[field] = cluster[field]
    extension = next(
        (
            entry.get("extension")
            for entry in cluster.get("extensions") or ()
            if entry.get("name") == "client.authentication.k8s.io/exec"
        ),
        None,
    )
    if extension is not None:
        info["config"] = extension
    return info


def _epoch(timestamp: str) -> float:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError as error:
        raise ExecPluginError(f"exec plugin's expirationTimestamp {timestamp!r} is not RFC 3339") from error
