"""The two backends of the integration suite: a fresh emulator per test, or a real cluster.

Set ``LEADERGROUP_TEST_KUBECONFIG`` to run against a real cluster (kind, k3d, anything) on which the
project's CRDs are installed (``kubectl apply -f crds/``); each test then gets a fresh namespace.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from leadergroup import packaged
from leadergroup.sim import Emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
REAL_CLUSTER_ENV = "LEADERGROUP_TEST_KUBECONFIG"
ADMIN_TOKEN = "admin"


def project_crds() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in ``crds/`` (shipped in the package through a link)."""
    return packaged.crds()


def real_cluster_kubeconfig() -> Path | None:
    """The real cluster's kubeconfig when the suite is pointed at one."""
    value = os.environ.get(REAL_CLUSTER_ENV)
    return Path(value) if value else None


@dataclass
class Cluster:
    """What a test gets from the ``cluster`` fixture."""

    backend: Literal["emulator", "real"]
    kubeconfig: Path
    namespace: str
    emulator: Emulator | None
    workdir: Path = field(repr=False)

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


def _kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


@contextmanager
def real_cluster(kubeconfig: Path, workdir: Path) -> Iterator[Cluster]:
    """A fresh namespace on a real cluster; skips when the project's CRDs are not installed there."""
    for crd in project_crds():
        name = crd["metadata"]["name"]
        if _kubectl(kubeconfig, "get", "crd", name, check=False).returncode != 0:
            pytest.skip(
                f"CRD {name} is not installed on the cluster of {REAL_CLUSTER_ENV}: "
                f"run `kubectl apply -f crds/` there first"
            )
    namespace = fresh_namespace_name()
    _kubectl(kubeconfig, "create", "namespace", namespace)
    try:
        yield Cluster("real", kubeconfig, namespace, None, workdir)
    finally:
        _kubectl(
            kubeconfig, "delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False
        )
