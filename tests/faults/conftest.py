"""Fixtures for the network-fault tests: an admin client, and each phase's report kept on the test item."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.support.cluster import Cluster

from leadergroup.kube import KubeClient


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[KubeClient]:
    """An admin API client for the test's own reads and writes (straight to the server, no proxy)."""
    async with KubeClient.auto(cluster.kubeconfig) as api:
        yield api


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can print logs of failed tests."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
