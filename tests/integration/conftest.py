"""Fixtures for tests that run the real operator against the `cluster` (emulator or real)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.support.cluster import Cluster
from tests.support.operator_process import OperatorProcess
from tests.support.rbac import denied

from leadergroup.kube import KubeClient

OPERATOR_TOKEN = "operator"


@pytest.fixture
def operator(cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OperatorProcess]:
    """The operator serving the test's namespace, standalone, with its own identity on the emulator.

    After the test, on the emulator, every request it made must be allowed by the shipped ClusterRole,
    and its log must show no traceback: the operator never crashes on what a test does to it.
    """
    log_path = tmp_path / "operator.log"
    kubeconfig = cluster.kubeconfig_for(OPERATOR_TOKEN)
    process = OperatorProcess(kubeconfig, cluster.namespace, log_path, "--standalone").start()
    yield process
    process.terminate()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"---- operator log ----\n{process.log()[-20000:]}")
        return
    assert "Traceback" not in process.log(), process.log()[-20000:]
    if cluster.emulator is not None:
        made = [record for record in cluster.emulator.requests if record.user == OPERATOR_TOKEN]
        assert made, "the operator made no request under its own identity"
        # Served with --namespace, Kopf also watches namespaces; the shipped install is cluster-wide and
        # does not (docs/operations.md says what a namespaced install adds).
        assert denied(r for r in made if r.resource != "namespaces") == [], "not allowed by the ClusterRole"


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
