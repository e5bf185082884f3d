"""Project-wide fixtures: the `cluster` backends (the emulator and a real API server) and their markers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.controlplane.build import RECIPES, ToolchainMissing, ensure_built
from tests.support.cluster import (
    Cluster,
    RealBackend,
    emulator_cluster,
    real_backend_required,
    real_cluster,
    real_cluster_kubeconfig,
    require_kubectl,
    selected_backends,
)

# Longest first (seconds on 2 workers): 165, 150, 150, 110, 100, 60, 50, 50.
LONGEST_FILES = (
    "test_operator_faults.py",
    "test_clientgo_mixed.py",
    "test_restarts.py",
    "test_safety.py",
    "test_leadership.py",
    "test_elector_faults.py",
    "test_peering_faults.py",
    "test_demo.py",
)

# Why the real backend cannot run here (no Go toolchain), found once per session before any test runs.
_real_backend_unavailable: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "emulator_only(reason): needs the emulator (not run on the real backend)"
    )
    config.addinivalue_line(
        "markers", "real_cluster_only(reason): needs a real API server (not run on the emulator)"
    )
    config.addinivalue_line("markers", "real_backend: runs on the real API server (`-m 'not real_backend'`)")


def _item_backend(item: pytest.Item) -> str | None:
    """The backend an item runs on: its `cluster` parameter, or "real" when it asks for `real_backend`."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "cluster" in callspec.params:
        return str(callspec.params["cluster"])
    if "real_backend" in getattr(item, "fixturenames", ()):
        return "real"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the combinations a marker rules out, so each test runs exactly where it means something."""
    kept, dropped = [], []
    for item in items:
        backend = _item_backend(item)
        if (backend == "real" and item.get_closest_marker("emulator_only")) or (
            backend == "emulator" and item.get_closest_marker("real_cluster_only")
        ):
            dropped.append(item)
        else:
            if backend == "real":
                item.add_marker(pytest.mark.real_backend)
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    # The longest files first: with two workers (make test) they then run beside the many short ones
    # instead of alone at the end.
    rank = {name: index for index, name in enumerate(LONGEST_FILES)}
    items[:] = sorted(kept, key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the real backend's Go programs before the first test (a build takes minutes; tests time out)."""
    global _real_backend_unavailable
    wanted = any(_item_backend(item) == "real" for item in session.items)
    if not wanted or real_cluster_kubeconfig() is not None or session.config.option.collectonly:
        return
    try:
        for recipe in RECIPES:
            ensure_built(recipe)
    except ToolchainMissing as missing:
        if real_backend_required():
            raise pytest.UsageError(f"LEADERGROUP_REQUIRE_REAL_BACKEND is set, but {missing}") from missing
        _real_backend_unavailable = f"real backend skipped: {missing}"
        print(f"\n{_real_backend_unavailable}", file=sys.stderr)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _item_backend(item) == "real" and _real_backend_unavailable is not None:
        pytest.skip(_real_backend_unavailable)


@pytest.fixture(scope="session")
def real_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealBackend]:
    """The session's real API server with the project's CRDs installed by `kubectl apply -k crds/`.

    Our own control plane (tests/controlplane), or the cluster of LEADERGROUP_TEST_KUBECONFIG.
    """
    external = real_cluster_kubeconfig()
    if external is not None:
        backend = RealBackend(external, require_kubectl("a cluster of your own is driven with kubectl"))
        backend.install_crds()
        yield backend
        return
    from tests.controlplane.cluster import control_plane

    # Three simulated nodes (KWOK), tainted: only pods that tolerate them are scheduled (test_nodes.py).
    # The audit log (Lease writes with their bodies) explains a failed election test after the fact.
    # Sharded list and watch (alpha, off by default) for the scale-out test (test_sharding.py); it changes
    # nothing for a client that sends no shardSelector.
    with control_plane(
        tmp_path_factory.mktemp("controlplane"),
        nodes=3,
        audit=True,
        apiserver_args=["--feature-gates=ShardedListAndWatch=true"],
    ) as plane:
        backend = RealBackend(plane.kubeconfig, str(plane.kubectl), plane)
        backend.install_crds()
        yield backend


@pytest.fixture(params=selected_backends(), ids=str)
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A fresh emulator, or a fresh namespace on the session's real API server (see tests/support/cluster)."""
    if request.param == "emulator":
        with emulator_cluster(tmp_path) as emulated:
            yield emulated
    else:
        backend: RealBackend = request.getfixturevalue("real_backend")
        with real_cluster(backend, tmp_path) as real:
            yield real
