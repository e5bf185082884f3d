"""The integration suite's fixtures, for the network-fault scenarios: an admin client, logs of failed tests."""

from tests.integration.conftest import client, pytest_runtest_makereport

__all__ = ["client", "pytest_runtest_makereport"]
