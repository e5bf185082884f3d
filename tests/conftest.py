"""Project-wide fixtures: the `cluster` backend (emulator by default, a real cluster on request)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.cluster import (
    REAL_CLUSTER_ENV,
    Cluster,
    emulator_cluster,
    real_cluster,
    real_cluster_kubeconfig,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "emulator_only(reason): needs the emulator (skipped on a real cluster)"
    )
    config.addinivalue_line(
        "markers", "real_cluster_only(reason): needs a real cluster (skipped on the emulator)"
    )


def _reason(marker: pytest.Mark) -> str:
    return str(marker.args[0] if marker.args else marker.kwargs.get("reason", "no reason given"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    on_real_cluster = real_cluster_kubeconfig() is not None
    emulator_only = item.get_closest_marker("emulator_only")
    if emulator_only is not None and on_real_cluster:
        pytest.skip(f"emulator only: {_reason(emulator_only)}")
    real_only = item.get_closest_marker("real_cluster_only")
    if real_only is not None and not on_real_cluster:
        pytest.skip(f"real cluster only ({REAL_CLUSTER_ENV} is not set): {_reason(real_only)}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A fresh emulator (default) or a fresh namespace on the cluster of LEADERGROUP_TEST_KUBECONFIG."""
    kubeconfig = real_cluster_kubeconfig()
    if kubeconfig is None:
        with emulator_cluster(tmp_path) as emulated:
            yield emulated
    else:
        with real_cluster(kubeconfig, tmp_path) as real:
            yield real
