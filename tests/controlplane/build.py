"""Build the Go programs the real backend runs, once per machine, into a cache outside the repository.

Two Go modules of ours say what is built, at which versions:

- ``tests/controlplane/go``: kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from
  ``k8s.io/kubernetes``, and etcd from ``go.etcd.io/etcd/server/v3`` (the release Kubernetes itself pins);
- ``tests/elector/clientgo``: the client-go leader-election program the interop tests run;
- ``tests/controlplane/kwok``: KWOK, which plays the kubelet of simulated nodes.

Binaries land in ``$LEADERGROUP_CACHE`` (default ``~/.cache/leadergroup-operator``) under a folder named
after the module and a hash of its go.mod, go.sum and sources, so a version bump builds afresh and an
unchanged recipe is never built twice. The Go build cache (``go env GOCACHE``) makes a rebuild after a
small change quick.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTROL_PLANE_MODULE = REPO_ROOT / "tests" / "controlplane" / "go"
CLIENTGO_MODULE = REPO_ROOT / "tests" / "elector" / "clientgo"
KWOK_MODULE = REPO_ROOT / "tests" / "controlplane" / "kwok"
CACHE_ENV = "LEADERGROUP_CACHE"
INSTALL_HINT = (
    "the real Kubernetes backend needs the Go toolchain (go >= 1.26, https://go.dev/doc/install) to build "
    "kube-apiserver, kube-controller-manager, kube-scheduler and etcd once (about 7 minutes on 2 cores), "
    "or LEADERGROUP_TEST_KUBECONFIG pointing at a cluster of your own"
)


class ToolchainMissing(RuntimeError):
    """Go is not installed: the real backend cannot be built here."""


@dataclass(frozen=True)
class GoRecipe:
    """One Go module of ours and the binaries built from it."""

    name: str
    module: Path
    packages: dict[str, str]  # binary name -> Go package
    cold_build: str  # how long a build from a cold Go cache takes on 2 cores, for the log
    pinned: str = "k8s.io/kubernetes"  # the Go module whose version names the build

    def kubernetes_version(self) -> str:
        """The version of :attr:`pinned` this module requires (``go.mod`` is the one place it is said)."""
        text = (self.module / "go.mod").read_text()
        found = re.search(rf"{re.escape(self.pinned)} (v\d+\.\d+\.\d+)", text)
        if found is None:
            raise RuntimeError(f"{self.module / 'go.mod'} does not require {self.pinned}")
        return found.group(1)

    def fingerprint(self) -> str:
        """A hash of everything that decides the binaries: go.mod, go.sum, our sources, the build flags."""
        digest = hashlib.sha256(" ".join(self.build_flags()).encode())
        for path in sorted(self.module.rglob("*")):
            if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
                digest.update(path.relative_to(self.module).as_posix().encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:12]

    def build_flags(self) -> list[str]:
        """``go build`` flags: no cloud providers, reproducible paths, the release in ``/version``."""
        version = self.kubernetes_version()
        if self.pinned != "k8s.io/kubernetes":
            return ["-trimpath", "-ldflags", "-s -w"]
        major, minor = version.removeprefix("v").split(".")[:2]
        stamp = [
            f"-X k8s.io/{package}.{field}={value}"
            for package in ("component-base/version", "client-go/pkg/version")
            for field, value in (("gitVersion", version), ("gitMajor", major), ("gitMinor", minor))
        ]
        return ["-tags", "providerless", "-trimpath", "-ldflags", " ".join(["-s", "-w", *stamp])]

    def bin_dir(self) -> Path:
        """Where this recipe's binaries live once built."""
        return cache_root() / "bin" / f"{self.name}-{self.kubernetes_version()}-{self.fingerprint()}"

    def built(self) -> bool:
        """Every binary of the recipe is in the cache."""
        return all((self.bin_dir() / name).is_file() for name in self.packages)


CONTROL_PLANE = GoRecipe(
    "controlplane",
    CONTROL_PLANE_MODULE,
    {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        "etcd": "go.etcd.io/etcd/server/v3",
    },
    "about 7 minutes",
)
CLIENTGO_ELECTOR = GoRecipe(
    "clientgo-elector", CLIENTGO_MODULE, {"clientgo-elector": "."}, "about a minute", "k8s.io/client-go"
)
KWOK = GoRecipe(
    "kwok", KWOK_MODULE, {"kwok": "sigs.k8s.io/kwok/cmd/kwok"}, "about a minute", "sigs.k8s.io/kwok"
)
RECIPES = (CONTROL_PLANE, CLIENTGO_ELECTOR, KWOK)


def cache_root() -> Path:
    """``$LEADERGROUP_CACHE``, else ``$XDG_CACHE_HOME/leadergroup-operator``, else ``~/.cache/...``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "leadergroup-operator"


def go_toolchain() -> str:
    """The ``go`` command, or ToolchainMissing with what to install."""
    go = shutil.which("go")
    if go is None:
        raise ToolchainMissing(INSTALL_HINT)
    return go


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time per machine (two test sessions must not build into the same folder)."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_built(recipe: GoRecipe, *, log: bool = True) -> Path:
    """Build ``recipe`` unless its binaries are cached; return the folder that holds them.

    Raises:
        ToolchainMissing: Go is not installed.
        subprocess.CalledProcessError: ``go build`` failed (its output went to stderr).
    """
    if recipe.built():
        return recipe.bin_dir()
    go = go_toolchain()
    with _build_lock():
        if recipe.built():
            return recipe.bin_dir()
        target = recipe.bin_dir()
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        started = time.monotonic()
        if log:
            print(
                f"Building {', '.join(recipe.packages)} ({recipe.kubernetes_version()}) into {target} "
                f"(once per machine; {recipe.cold_build} on 2 cores from a cold Go cache)",
                file=sys.stderr,
                flush=True,
            )
        for name, package in recipe.packages.items():
            subprocess.run(
                [go, "build", *recipe.build_flags(), "-o", str(staging / name), package],
                cwd=recipe.module,
                check=True,
                stdout=sys.stderr,
            )
        staging.rename(target)
        if log:
            print(f"Built in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return target
