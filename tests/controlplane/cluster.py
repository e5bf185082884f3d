"""A real Kubernetes control plane on 127.0.0.1, started in seconds from the cached build.

etcd, kube-apiserver (TLS, client-certificate admin, ServiceAccount token signing, RBAC), the controller
manager (garbage collection, Deployments → ReplicaSets → Pods, namespaces, ServiceAccount tokens) and the
scheduler, each a child process that dies with its parent (the kernel's parent-death signal), so a test
session that is killed leaves nothing behind. There is no kubelet. With ``nodes=N``, KWOK plays the kubelet
of N simulated nodes (:mod:`tests.controlplane.nodes`): the scheduler places pods that tolerate the nodes'
taint (``KWOK_TOLERATION``) on them, and KWOK makes them Running and Ready and finishes their graceful
deletion. Pods without the toleration are scheduled nowhere and stay Pending; pods annotated with
``KWOK_OWN_STATUS`` are scheduled, but their status is left to the test (a kubelet stand-in of its own).

Fault tests restart etcd or kube-apiserver in place (:meth:`ControlPlane.stop_process`,
:meth:`ControlPlane.start_etcd`, :meth:`ControlPlane.start_apiserver`, or :meth:`ControlPlane.restart`):
same port, same flags, same data directory, the log appended to.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tests.controlplane.build import CONTROL_PLANE, KWOK, ensure_built
from tests.controlplane.nodes import add_kwok_nodes, kwok_arguments
from tests.controlplane.pki import ClientCertificate, Pki, make_pki

from leadergroup.procutil import free_port, parent_death_signal

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
_STOP_GRACE = 10.0


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class ControlPlane:
    """A running control plane: its admin kubeconfig, its binaries and its processes' logs."""

    workdir: Path
    bin_dir: Path
    pki: Pki
    api_port: int
    etcd_port: int
    etcd_peer_port: int = 0  # chosen at etcd's first start, kept across restarts
    apiserver_args: list[str] = field(default_factory=list)  # the extra flags, kept across restarts
    audit_log: Path | None = None
    # Lease writes logged with their bodies: an election's history, at a few kB per renewal. A benchmark
    # with thousands of renewing Leases logs metadata only, so the log does not outgrow what it measures.
    audit_lease_bodies: bool = True
    kwok_bin_dir: Path | None = None
    children: list[_Child] = field(default_factory=list)

    @property
    def server(self) -> str:
        """The API server's URL."""
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (a client certificate in ``system:masters``)."""
        return self.workdir / "admin.kubeconfig"

    @property
    def kubectl(self) -> Path:
        """The kubectl built from the same release."""
        return self.bin_dir / "kubectl"

    def log(self, name: str) -> str:
        """What one of the processes (``etcd``, ``kube-apiserver``, ...) has logged so far."""
        child = next(child for child in self.children if child.name == name)
        return child.log.read_text(errors="replace")

    def write_kubeconfig(self, path: Path, user: ClientCertificate, namespace: str = "default") -> Path:
        """A kubeconfig for this server with ``user``'s client certificate embedded."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "leadergroup-test",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": _b64(self.pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": user.cert.stem,
                    "user": {
                        "client-certificate-data": _b64(user.cert),
                        "client-key-data": _b64(user.key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "leadergroup-test",
                    "context": {
                        "cluster": "leadergroup-test",
                        "user": user.cert.stem,
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "leadergroup-test",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def pids(self) -> dict[str, int]:
        """The process ids of the processes still running, by name (for CPU accounting)."""
        return {child.name: child.process.pid for child in self.children if child.process.poll() is None}

    def alive(self) -> list[str]:
        """The names of the processes still running."""
        return [child.name for child in self.children if child.process.poll() is None]

    def stop_process(self, name: str, timeout: float = _STOP_GRACE) -> float:
        """SIGTERM one process (``etcd``, ``kube-apiserver``, ...) and wait until it exits; its exit time.

        SIGKILL if it is still running after ``timeout``.

        Raises:
            RuntimeError: it is not running.
        """
        child = next((c for c in self.children if c.name == name and c.process.poll() is None), None)
        if child is None:
            raise RuntimeError(f"{name} is not running")
        started = time.monotonic()
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
        self.children.remove(child)
        return time.monotonic() - started

    def start_etcd(self) -> None:
        """Start etcd again after :meth:`stop_process`: same port and data directory; wait until healthy.

        Start from the thread that started the control plane (the main thread): the child dies with it.
        """
        _start_etcd(self)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again after :meth:`stop_process`: same port and flags; wait until ready.

        Start from the thread that started the control plane (the main thread): the child dies with it.
        """
        _start_apiserver(self, self.apiserver_args)

    def restart(self, name: str, down: float = 0.0) -> None:
        """Stop ``etcd`` or ``kube-apiserver`` and start it again ``down`` seconds after the SIGTERM.

        Both stop taking connections at the SIGTERM, so ``down`` is the outage their clients see (at least
        the time the process takes to exit). Returns once it is healthy (etcd) or ready (the API server).
        """
        starts = {"etcd": self.start_etcd, "kube-apiserver": self.start_apiserver}
        if name not in starts:
            raise ValueError(f"cannot restart {name}: only {', '.join(starts)}")
        exited = self.stop_process(name)
        time.sleep(max(0.0, down - exited))
        starts[name]()

    def stop(self) -> None:
        """SIGTERM every process (newest first), SIGKILL what is left after a grace period."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        for child in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _spawn(plane: ControlPlane, name: str, args: list[str], bin_dir: Path | None = None) -> None:
    log = plane.workdir / f"{name}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str((bin_dir or plane.bin_dir) / name), *args],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=plane.workdir,
            preexec_fn=parent_death_signal(os.getpid()),
            start_new_session=True,
        )
    plane.children.append(_Child(name, process, log))


def _wait_for(plane: ControlPlane, name: str, probe: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        child = plane.children[-1]
        if child.process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {child.process.returncode}:\n{child.log.read_text()[-5000:]}"
            )
        try:
            if probe():
                return
        except (OSError, urllib.error.URLError) as error:
            last_error = error
        time.sleep(0.1)
    raise RuntimeError(f"{name} not ready after {timeout:.0f} s ({last_error}):\n{plane.log(name)[-5000:]}")


def _admin_context(plane: ControlPlane) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(plane.pki.ca_cert))
    context.load_cert_chain(str(plane.pki.admin.cert), str(plane.pki.admin.key))
    return context


def _start_etcd(plane: ControlPlane) -> None:
    plane.etcd_peer_port = plane.etcd_peer_port or free_port()
    peer_port = plane.etcd_peer_port
    client_url = f"http://127.0.0.1:{plane.etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    _spawn(
        plane,
        "etcd",
        [
            "--name=default",
            f"--data-dir={plane.workdir / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            # A test cluster is thrown away with its session: durability buys nothing, fsync costs a lot.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
    )

    def healthy() -> bool:
        with urllib.request.urlopen(f"{client_url}/health", timeout=1) as answer:
            return b'"true"' in answer.read()

    _wait_for(plane, "etcd", healthy, timeout=30)


def _start_apiserver(plane: ControlPlane, extra: list[str]) -> None:
    pki = plane.pki
    args = [
        f"--etcd-servers=http://127.0.0.1:{plane.etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={plane.api_port}",
        f"--tls-cert-file={pki.serving.cert}",
        f"--tls-private-key-file={pki.serving.key}",
        f"--client-ca-file={pki.ca_cert}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account_public}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        # A loopback address cannot be an Endpoint: without this the server logs an error every 10 s.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
    ]
    if plane.audit_log is not None:
        policy = plane.workdir / "audit-policy.yaml"
        policy.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "audit.k8s.io/v1",
                    "kind": "Policy",
                    "omitStages": ["RequestReceived"],
                    # Lease writes with their bodies (who wrote which holder: the election's own history),
                    # everything else by metadata only.
                    "rules": [
                        *(
                            [
                                {
                                    "level": "RequestResponse",
                                    "verbs": ["create", "update", "patch"],
                                    "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}],
                                }
                            ]
                            if plane.audit_lease_bodies
                            else []
                        ),
                        {"level": "Metadata"},
                    ],
                }
            )
        )
        args += [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={plane.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
            # Never rotate: 0 means lumberjack's default, a rotation every 100 MB (a 1,000-group benchmark
            # writes that in minutes, and readers following the file by offset would lose their place).
            "--audit-log-maxsize=1000000",
        ]
    _spawn(plane, "kube-apiserver", [*args, *extra])
    context = _admin_context(plane)

    def ready() -> bool:
        with urllib.request.urlopen(f"{plane.server}/readyz", timeout=2, context=context) as answer:
            return answer.status == 200

    _wait_for(plane, "kube-apiserver", ready, timeout=60)


def _start_controllers(plane: ControlPlane, manager_args: list[str], scheduler_args: list[str]) -> None:
    pki = plane.pki
    manager_config = plane.write_kubeconfig(
        plane.workdir / "controller-manager.kubeconfig", pki.controller_manager
    )
    _spawn(
        plane,
        "kube-controller-manager",
        [
            f"--kubeconfig={manager_config}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--use-service-account-credentials",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            "--leader-elect=false",
            "--controllers=*",
            *manager_args,
        ],
    )
    scheduler_config = plane.write_kubeconfig(plane.workdir / "scheduler.kubeconfig", pki.scheduler)
    _spawn(
        plane,
        "kube-scheduler",
        [
            f"--kubeconfig={scheduler_config}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--leader-elect=false",
            *scheduler_args,
        ],
    )


def _wait_for_default_service_account(plane: ControlPlane, timeout: float = 60) -> None:
    """The controller manager is at work once it has made the ``default`` ServiceAccount of ``default``."""
    context = _admin_context(plane)
    url = f"{plane.server}/api/v1/namespaces/default/serviceaccounts/default"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in ("kube-controller-manager", "kube-scheduler"):
            if name not in plane.alive():
                raise RuntimeError(f"{name} exited:\n{plane.log(name)[-5000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):
                return
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        time.sleep(0.2)
    raise RuntimeError(f"the controller manager made no ServiceAccount in {timeout:.0f} s")


def _start_kwok(plane: ControlPlane, nodes: int) -> None:
    _spawn(plane, "kwok", kwok_arguments(plane.workdir, plane.kubeconfig), bin_dir=plane.kwok_bin_dir)
    add_kwok_nodes(plane.kubectl, plane.kubeconfig, plane.workdir, nodes)


@contextlib.contextmanager
def control_plane(
    workdir: Path | None = None,
    *,
    audit: bool = False,
    nodes: int = 0,
    apiserver_args: list[str] | None = None,
    audit_lease_bodies: bool = True,
    controller_manager_args: list[str] | None = None,
    scheduler_args: list[str] | None = None,
) -> Iterator[ControlPlane]:
    """Build (once per machine) and start a control plane; stop it and remove its files on exit.

    ``audit`` turns on the API server's audit log (level Metadata, JSON lines) at ``plane.audit_log``,
    with Lease writes at RequestResponse unless ``audit_lease_bodies`` is False; ``nodes`` starts KWOK
    with that many simulated nodes; ``apiserver_args``, ``controller_manager_args`` and ``scheduler_args``
    are added to those programs' command lines.
    """
    bin_dir = ensure_built(CONTROL_PLANE)
    kwok_bin_dir = ensure_built(KWOK) if nodes else None
    owned = workdir is None
    root = Path(tempfile.mkdtemp(prefix="leadergroup-controlplane-")) if workdir is None else workdir
    root.mkdir(parents=True, exist_ok=True)
    plane = ControlPlane(
        workdir=root,
        bin_dir=bin_dir,
        pki=make_pki(root / "pki"),
        api_port=free_port(),
        etcd_port=free_port(),
        apiserver_args=list(apiserver_args or []),
        audit_log=root / "audit.log" if audit else None,
        audit_lease_bodies=audit_lease_bodies,
        kwok_bin_dir=kwok_bin_dir,
    )
    try:
        _start_etcd(plane)
        _start_apiserver(plane, plane.apiserver_args)
        plane.write_kubeconfig(plane.kubeconfig, plane.pki.admin)
        _start_controllers(plane, controller_manager_args or [], scheduler_args or [])
        _wait_for_default_service_account(plane)
        if nodes:
            _start_kwok(plane, nodes)
        yield plane
    finally:
        plane.stop()
        if owned:
            shutil.rmtree(root, ignore_errors=True)
