"""Where the API server is and how to authenticate, from a kubeconfig or the in-cluster ServiceAccount.

Read here rather than with the ``kubernetes`` package's loaders: importing any part of that package loads
its whole generated client (about 900 model classes), some 20 MB in every elector and operator process for
a few YAML lookups. What kubectl users rely on is covered: the ``$KUBECONFIG`` list and contexts
(:mod:`leadergroup.kube.kubeconfig`), tokens and token files, client certificates, CA bundles, basic auth,
exec credential plugins (:mod:`leadergroup.kube.execplugin`), ``proxy-url`` and the proxy environment
variables, and ``tls-server-name`` (:mod:`leadergroup.kube.transport`). The legacy ``auth-provider``
stanza (oidc, and the gcp/azure ones client-go dropped in 1.26) is left to the ``kubernetes`` package,
imported only when a kubeconfig uses it.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import os
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadergroup.kube import execplugin, transport
from leadergroup.kube.kubeconfig import KubeconfigError, Selected, kubeconfig_paths, select


class ConfigError(Exception):
    """No usable kubeconfig and not running inside a cluster."""


def _never_due() -> bool:
    return False


@dataclass(frozen=True)
class Connection:
    """Everything needed to talk to one API server."""

    server: str
    token: Callable[[], str | None]
    ssl_context: ssl.SSLContext | None
    namespace: str = "default"
    source: str = ""
    # The TLS material as paths (ssl loads certificates from files; inline data is written to private ones).
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    # The HTTP(S) proxy every request goes through, if any (leadergroup.kube.transport).
    proxy: str | None = None
    # Whether reading the token now would run an exec plugin: asynchronous callers then read it in a
    # thread, so a plugin taking seconds does not stop their event loop.
    token_due: Callable[[], bool] = _never_due

    def bearer_token(self) -> str | None:
        """The current token without its ``Bearer`` prefix."""
        token = self.token()
        if token and token.lower().startswith("bearer "):
            return token[len("bearer ") :]
        if token and token.lower().startswith("basic "):
            return None  # basic auth is not a bearer token
        return token


# How long a token read from a file is reused before the file is read again: projected ServiceAccount
# tokens and kubeconfig token files rotate, but over minutes, and reading per request cost 40 % of the
# operator's CPU at 1,000 groups (when the kubernetes package's refresh hook did it).
TOKEN_RECHECK_SECONDS = 1.0


def from_kubeconfig(
    path: str | os.PathLike[str] | None = None, *, context: str | None = None, fresh_credentials: bool = False
) -> Connection:
    """Load a kubeconfig (``path``, else the ``$KUBECONFIG`` list, else ``~/.kube/config``).

    An exec plugin's credential is the one the process already has for it while that is valid; with
    ``fresh_credentials`` (the server refused it) the plugin is run again.
    """
    try:
        selected = select(kubeconfig_paths(path), context)
        if selected.user.get("auth-provider"):
            return _from_kubernetes_loader(path, context, selected)
        return _connect(selected, fresh_credentials=fresh_credentials)
    except (KubeconfigError, execplugin.ExecPluginError) as error:
        raise ConfigError(f"Cannot load kubeconfig: {error}") from error


def _connect(selected: Selected, *, fresh_credentials: bool) -> Connection:
    cluster, user = selected.cluster, selected.user
    server = str(cluster["server"]).rstrip("/")
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    ca_file = _file_or_data(cluster, "certificate-authority", selected.source)
    cert_file = _file_or_data(user, "client-certificate", selected.source)
    key_file = _file_or_data(user, "client-key", selected.source)
    token: Callable[[], str | None] = _no_token
    token_due: Callable[[], bool] = _never_due
    if user.get("token"):
        token = _constant(str(user["token"]))
    elif user.get("tokenFile"):
        token = _file_token(Path(str(user["tokenFile"])))
    elif user.get("username") and user.get("password"):
        pair = f"{user['username']}:{user['password']}".encode()
        token = _constant("Basic " + base64.b64encode(pair).decode())
    if isinstance(user.get("exec"), Mapping):
        credential = execplugin.credential(user["exec"], cluster, fresh=fresh_credentials)
        if credential.client_certificate and credential.client_key:
            cert_file = _private_file(credential.client_certificate.encode())
            key_file = _private_file(credential.client_key.encode())
        if credential.token:
            exec_token = execplugin.cached_token(user["exec"], cluster, credential)
            token, token_due = exec_token, exec_token.due
    if bool(cert_file) != bool(key_file):
        raise ConfigError(f"{selected.source}: a client certificate needs its key, and a key its certificate")
    return _connection(
        selected, server, token, ca_file, cert_file, key_file, insecure, cluster, token_due=token_due
    )


def _connection(
    selected: Selected,
    server: str,
    token: Callable[[], str | None],
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
    insecure: bool,
    cluster: Mapping[str, Any],
    *,
    token_due: Callable[[], bool] = _never_due,
) -> Connection:
    server_name = str(cluster.get("tls-server-name") or "") or None
    try:
        proxy = transport.proxy_for(server, str(cluster.get("proxy-url") or "") or None)
    except transport.TransportError as error:
        raise ConfigError(f"{selected.source}: {error}") from error
    return Connection(
        server=server,
        token=token,
        ssl_context=_ssl_context(server, ca_file, cert_file, key_file, insecure, server_name),
        namespace=selected.namespace,
        source=selected.source,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        insecure=insecure,
        proxy=proxy,
        token_due=token_due,
    )


IN_CLUSTER_SECRETS = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster() -> Connection:
    """Use the pod's ServiceAccount token and the ``KUBERNETES_SERVICE_*`` environment."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError(
            "Not running in a cluster: KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is unset"
        )
    token_path, ca_path = IN_CLUSTER_SECRETS / "token", IN_CLUSTER_SECRETS / "ca.crt"
    if not token_path.is_file():
        raise ConfigError(f"Not running in a cluster: no ServiceAccount token at {token_path}")
    namespace_path = IN_CLUSTER_SECRETS / "namespace"
    namespace = namespace_path.read_text().strip() if namespace_path.is_file() else "default"
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    ca_file = str(ca_path) if ca_path.is_file() else None
    try:
        proxy = transport.proxy_for(server, None)  # client-go honours HTTPS_PROXY / NO_PROXY in a pod too
    except transport.TransportError as error:
        raise ConfigError(f"in-cluster: {error}") from error
    return Connection(
        server=server,
        token=_file_token(token_path),
        ssl_context=_ssl_context(server, ca_file, None, None, insecure=False),
        namespace=namespace,
        source="in-cluster",
        ca_file=ca_file,
        proxy=proxy,
    )


def auto(kubeconfig: str | os.PathLike[str] | None = None, *, fresh_credentials: bool = False) -> Connection:
    """The kubeconfig if one is given or found, else the in-cluster config (as kubectl and Kopf do).

    ``fresh_credentials``: see :func:`from_kubeconfig`.
    """
    if kubeconfig is not None:
        return from_kubeconfig(kubeconfig, fresh_credentials=fresh_credentials)
    if os.environ.get("KUBECONFIG") or Path("~/.kube/config").expanduser().exists():
        return from_kubeconfig(fresh_credentials=fresh_credentials)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster()
    raise ConfigError(
        "No kubeconfig found (pass --kubeconfig, set KUBECONFIG or create ~/.kube/config) "
        "and not running inside a cluster"
    )


def _ssl_context(
    server: str,
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
    insecure: bool,
    server_name: str | None = None,
) -> ssl.SSLContext | None:
    if not server.startswith("https"):
        return None
    try:
        context = transport.client_context(ca_file, server_name)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert_file and key_file:
            context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"Cannot use the TLS files of the kubeconfig: {error}") from error
    return context


def _file_or_data(stanza: Mapping[str, Any], field: str, source: str) -> str | None:
    """A PEM file's path: ``FIELD-data`` in a private file (it wins, as in kubectl), else ``FIELD``."""
    data = stanza.get(f"{field}-data")
    if data:
        try:
            return _private_file(base64.b64decode(str(data), validate=True))
        except (binascii.Error, ValueError) as error:
            raise ConfigError(f"{source}: {field}-data is not base64: {error}") from error
    path = stanza.get(field)
    return str(path) if path else None


_private_dir: list[Path] = []


def _private_file(content: bytes) -> str:
    """Inline TLS data as a file (ssl and Kopf load certificates from paths), one per content, 0600."""
    if not _private_dir:
        directory = Path(tempfile.mkdtemp(prefix="leadergroup-tls-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        _private_dir.append(directory)
    path = _private_dir[0] / hashlib.sha256(content).hexdigest()[:32]
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
    return str(path)


def _no_token() -> str | None:
    return None


def _constant(value: str) -> Callable[[], str | None]:
    return lambda: value


def _rechecked(read: Callable[[str | None], str | None]) -> Callable[[], str | None]:
    """A token source calling ``read(last token)`` at most once per ``TOKEN_RECHECK_SECONDS``."""
    cached: list[tuple[float, str | None]] = []

    def token() -> str | None:
        now = time.monotonic()
        if not cached or now - cached[0][0] >= TOKEN_RECHECK_SECONDS:
            cached[:] = [(now, read(cached[0][1] if cached else None))]
        return cached[0][1]

    return token


def _file_token(path: Path) -> Callable[[], str | None]:
    def read(last: str | None) -> str | None:
        try:
            return path.read_text().strip() or None
        except OSError:
            return last  # mid-rotation the file can be briefly missing: keep the last token until it is back

    return _rechecked(read)


def _from_kubernetes_loader(
    path: str | os.PathLike[str] | None, context: str | None, selected: Selected
) -> Connection:
    """An ``auth-provider`` user: the kubernetes package's loader, imported only now (see the module doc)."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    config_file = str(path) if path is not None else os.environ.get("KUBECONFIG") or None
    try:
        k8s_config.load_kube_config(
            config_file=config_file, context=context, client_configuration=configuration, persist_config=False
        )
    except (k8s_config.ConfigException, OSError) as error:
        raise ConfigError(f"Cannot load kubeconfig {selected.source}: {error}") from error
    server = configuration.host.rstrip("/")
    ca_file, cert_file, key_file = (
        configuration.ssl_ca_cert or None,
        configuration.cert_file or None,
        configuration.key_file or None,
    )
    insecure = not configuration.verify_ssl
    cluster = {"tls-server-name": configuration.tls_server_name, "proxy-url": configuration.proxy}

    def read(_last: str | None) -> str | None:
        # The loader's refresh hook renews an expired auth-provider token when the key is asked for.
        value = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        return str(value) if value else None

    return _connection(selected, server, _rechecked(read), ca_file, cert_file, key_file, insecure, cluster)
