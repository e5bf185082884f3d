"""Fixtures for tests that run the real operator against the `cluster` (emulator or real)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.support.cluster import Cluster
from tests.support.operator_process import OperatorProcess

from leadergroup.kube import KubeClient


@pytest.fixture
def operator(cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OperatorProcess]:
    """The operator serving the test's namespace, with its own identity ("operator") on the emulator."""
    process = OperatorProcess(
        cluster.kubeconfig_for("operator"), cluster.namespace, tmp_path / "operator.log"
    )
    process.start()
    yield process
    process.terminate()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"---- operator log ----\n{process.log()[-20000:]}")


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[KubeClient]:
    """An admin API client for the test's own reads and writes."""
    async with KubeClient.auto(cluster.kubeconfig) as api:
        yield api


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can print logs of failed tests."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
