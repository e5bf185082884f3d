"""The integration suite's fixtures for the network-fault scenarios: an admin client, failed tests' logs."""

from tests.integration.conftest import client, pytest_runtest_makereport

__all__ = ["client", "pytest_runtest_makereport"]
