"""A small asyncio Kubernetes client (JSON over aiohttp) shared by the operator, the elector and the tests."""

from leadergroup.kube.client import KubeClient, PatchType
from leadergroup.kube.config import ConfigError, Connection
from leadergroup.kube.errors import ApiError, ApiUnavailable, WatchSilent
from leadergroup.kube.resources import Resource

__all__ = [
    "ApiError",
    "ApiUnavailable",
    "ConfigError",
    "Connection",
    "KubeClient",
    "PatchType",
    "Resource",
    "WatchSilent",
]
