"""The two backends of the integration suite: the emulator and a real Kubernetes API server.

Every test that takes the ``cluster`` fixture runs once on each backend (``test_x[emulator]``,
``test_x[real]``):

- **emulator**: a fresh ``leadergroup.sim`` emulator per test with the project's CRDs;
- **real**: a fresh namespace on one real control plane per session, built from ``k8s.io/kubernetes``
  (``tests/controlplane``), or on the cluster ``LEADERGROUP_TEST_KUBECONFIG`` names. The session installs
  the CRDs with ``kubectl apply -k crds/``, as a user would; a CRD the server refuses fails every test.

``LEADERGROUP_TEST_BACKENDS=emulator`` (or ``real``) runs one backend only. Without Go the real backend is
skipped with what to install, unless ``LEADERGROUP_REQUIRE_REAL_BACKEND=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from leadergroup import packaged
from leadergroup.sim import Emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
REAL_CLUSTER_ENV = "LEADERGROUP_TEST_KUBECONFIG"
BACKENDS_ENV = "LEADERGROUP_TEST_BACKENDS"
REQUIRE_REAL_ENV = "LEADERGROUP_REQUIRE_REAL_BACKEND"
BACKENDS = ("emulator", "real")
ADMIN_TOKEN = "admin"


def project_crds() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in ``crds/`` (shipped in the package through a link)."""
    return packaged.crds()


def real_cluster_kubeconfig() -> Path | None:
    """The kubeconfig of a cluster of the user's own, when the suite is pointed at one."""
    value = os.environ.get(REAL_CLUSTER_ENV)
    return Path(value) if value else None


def selected_backends() -> list[str]:
    """The backends the ``cluster`` fixture runs on: both, unless ``LEADERGROUP_TEST_BACKENDS`` narrows."""
    value = os.environ.get(BACKENDS_ENV, ",".join(BACKENDS))
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown or not chosen:
        raise pytest.UsageError(f"{BACKENDS_ENV}={value!r}: choose from {', '.join(BACKENDS)}")
    return chosen


def real_backend_required() -> bool:
    """CI sets ``LEADERGROUP_REQUIRE_REAL_BACKEND=1``: the real backend may never be skipped there."""
    return os.environ.get(REQUIRE_REAL_ENV, "") not in ("", "0", "false")


def require_kubectl(why: str) -> str:
    """The kubectl on PATH, else the one built with the test control plane; else skip, saying ``why``.

    The emulator's tests and a cluster of the user's own use it: a machine with Go but no kubectl of its
    own gets the one ``make test`` built.
    """
    found = shutil.which("kubectl")
    if found:
        return found
    from tests.controlplane.build import CONTROL_PLANE  # the build module is only needed here

    built = CONTROL_PLANE.bin_dir() / "kubectl"
    if not built.is_file():
        pytest.skip(f"no kubectl on PATH and none built yet (make controlplane): {why}")
    return str(built)


def run_kubectl(
    binary: str, kubeconfig: Path, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``binary`` (a kubectl) with ``kubeconfig``; its output is captured as text."""
    return subprocess.run(
        [binary, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


@dataclass
class RealBackend:
    """The session's real API server: its admin kubeconfig, the kubectl to use, and the control plane."""

    kubeconfig: Path
    kubectl_binary: str
    plane: Any | None = None  # tests.controlplane.cluster.ControlPlane when we started it

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this server as the admin."""
        return run_kubectl(self.kubectl_binary, self.kubeconfig, *args, check=check, timeout=timeout)

    def install_crds(self) -> None:
        """``kubectl apply -k crds/``, then wait for the CRDs; on refusal, fail with kubectl's words."""
        applied = self.kubectl("apply", "-k", str(CRD_DIR), check=False)
        if applied.returncode != 0:
            pytest.fail(f"kubectl apply -k crds/ was refused by the real API server:\n{applied.stderr}")
        names = [f"crd/{crd['metadata']['name']}" for crd in project_crds()]
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)


@dataclass
class Cluster:
    """What a test gets from the ``cluster`` fixture."""

    backend: Literal["emulator", "real"]
    kubeconfig: Path
    namespace: str
    emulator: Emulator | None
    workdir: Path = field(repr=False)
    real: RealBackend | None = field(default=None, repr=False)

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as the admin (the control plane's own kubectl on the real backend)."""
        binary = self.real.kubectl_binary if self.real is not None else require_kubectl("kubectl by hand")
        return run_kubectl(binary, self.kubeconfig, *args, check=check, timeout=timeout)

    def kubeconfig_for(self, token: str) -> Path:
        """A kubeconfig that tags requests with ``token`` (emulator); the admin one on a real cluster."""
        if self.emulator is None:
            return self.kubeconfig
        return self.emulator.write_kubeconfig(
            # The kubernetes loader splits paths on ":" (as in $KUBECONFIG): keep it out of the file name.
            self.workdir / f"kubeconfig-{re.sub(r'[^A-Za-z0-9._-]', '_', token)}",
            token=token,
            namespace=self.namespace,
        )


def fresh_namespace_name() -> str:
    """``lgtest-<random>``."""
    return f"lgtest-{secrets.token_hex(4)}"


@contextmanager
def emulator_cluster(workdir: Path) -> Iterator[Cluster]:
    """A fresh emulator with the project's CRDs and a fresh namespace."""
    with Emulator() as emulator:
        emulator.load_crds(*project_crds())
        namespace = fresh_namespace_name()
        emulator.create_namespace(namespace)
        kubeconfig = emulator.write_kubeconfig(
            workdir / "kubeconfig-admin", token=ADMIN_TOKEN, namespace=namespace
        )
        yield Cluster("emulator", kubeconfig, namespace, emulator, workdir)
        # A 500 that no fault injected is an emulator bug: never let it pass as the system under test's.
        assert emulator.api.internal_errors == [], f"the emulator failed: {emulator.api.internal_errors}"


@contextmanager
def real_cluster(backend: RealBackend, workdir: Path) -> Iterator[Cluster]:
    """A fresh namespace on the session's real API server, deleted (without waiting) afterwards."""
    namespace = fresh_namespace_name()
    backend.kubectl("create", "namespace", namespace)
    kubeconfig = workdir / "kubeconfig-admin"
    kubeconfig.write_text(_with_namespace(backend.kubeconfig.read_text(), namespace))
    try:
        yield Cluster("real", kubeconfig, namespace, None, workdir, backend)
    finally:
        backend.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


def _with_namespace(kubeconfig_text: str, namespace: str) -> str:
    """The same kubeconfig with ``namespace`` as its current context's namespace."""
    config = yaml.safe_load(kubeconfig_text)
    for context in config.get("contexts") or []:
        if context["name"] == config.get("current-context"):
            context["context"]["namespace"] = namespace
    return str(yaml.safe_dump(config))
