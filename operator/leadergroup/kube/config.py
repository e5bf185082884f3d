"""Where the API server is and how to authenticate, from a kubeconfig or the in-cluster ServiceAccount.

Parsing is left to the ``kubernetes`` package's loaders, so every auth method they know (tokens, client
certificates, exec plugins, the projected in-cluster token with its rotation) works here too.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config


class ConfigError(Exception):
    """No usable kubeconfig and not running inside a cluster."""


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to one API server."""

    server: str
    token: Callable[[], str | None]
    ssl_context: ssl.SSLContext | None
    namespace: str = "default"
    source: str = ""
    # The same TLS material as paths, for clients that build their own context (Kopf's login).
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False

    def bearer_token(self) -> str | None:
        """The current token without its ``Bearer`` prefix."""
        token = self.token()
        if token and token.lower().startswith("bearer "):
            return token[len("bearer ") :]
        if token and token.lower().startswith("basic "):
            return None  # basic auth is not a bearer token
        return token


def _ssl_context(configuration: k8s_client.Configuration) -> ssl.SSLContext | None:
    if not configuration.host.startswith("https"):
        return None
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


def _tls_files(configuration: k8s_client.Configuration) -> dict[str, Any]:
    return {
        "ca_file": configuration.ssl_ca_cert or None,
        "cert_file": configuration.cert_file or None,
        "key_file": configuration.key_file or None,
        "insecure": not configuration.verify_ssl,
    }


# How long a token read from the loader is reused. Its refresh hook re-reads the whole kubeconfig (or the
# projected token file) on every call: at 1,000 groups that was 40 % of the operator's CPU per request.
# Rotated tokens (exec plugins, projected ServiceAccount tokens) live for minutes at least.
TOKEN_RECHECK_SECONDS = 1.0


def _token_source(configuration: k8s_client.Configuration) -> Callable[[], str | None]:
    cached: list[tuple[float, str | None]] = []

    def token() -> str | None:
        now = time.monotonic()
        if not cached or now - cached[0][0] >= TOKEN_RECHECK_SECONDS:
            # get_api_key_with_prefix runs the loader's refresh hook, so rotated tokens are picked up. The
            # loaders store a token as "BearerToken"; older ones and basic auth use "authorization".
            value = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
            cached[:] = [(now, str(value) if value else None)]
        return cached[0][1]

    return token


def from_kubeconfig(path: str | os.PathLike[str] | None = None, *, context: str | None = None) -> Connection:
    """Load a kubeconfig file (``path``, else ``$KUBECONFIG``, else ``~/.kube/config``)."""
    configuration = k8s_client.Configuration()
    # Read $KUBECONFIG now: the kubernetes package reads it once, when it is imported.
    config_file = str(path) if path is not None else os.environ.get("KUBECONFIG") or None
    try:
        k8s_config.load_kube_config(
            config_file=config_file, context=context, client_configuration=configuration, persist_config=False
        )
        _, active = k8s_config.list_kube_config_contexts(config_file=config_file)
    except (k8s_config.ConfigException, OSError) as error:
        raise ConfigError(f"Cannot load kubeconfig {config_file or '(default)'}: {error}") from error
    namespace = str((active or {}).get("context", {}).get("namespace") or "default")
    return Connection(
        server=configuration.host.rstrip("/"),
        token=_token_source(configuration),
        ssl_context=_ssl_context(configuration),
        namespace=namespace,
        source=config_file or "~/.kube/config",
        **_tls_files(configuration),
    )


IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def in_cluster() -> Connection:
    """Use the pod's ServiceAccount token and the ``KUBERNETES_SERVICE_*`` environment."""
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)
    except k8s_config.ConfigException as error:
        raise ConfigError(f"Not running in a cluster: {error}") from error
    namespace = IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.exists() else "default"
    return Connection(
        server=configuration.host.rstrip("/"),
        token=_token_source(configuration),
        ssl_context=_ssl_context(configuration),
        namespace=namespace,
        source="in-cluster",
        **_tls_files(configuration),
    )


def auto(kubeconfig: str | os.PathLike[str] | None = None) -> Connection:
    """The kubeconfig if one is given or found, else the in-cluster config (as kubectl and Kopf do)."""
    if kubeconfig is not None:
        return from_kubeconfig(kubeconfig)
    if os.environ.get("KUBECONFIG") or Path("~/.kube/config").expanduser().exists():
        return from_kubeconfig()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster()
    raise ConfigError(
        "No kubeconfig found (pass --kubeconfig, set KUBECONFIG or create ~/.kube/config) "
        "and not running inside a cluster"
    )
