"""The Lease backend over a real API server, through :class:`leadergroup.kube.KubeClient`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from leadergroup.elector.lock import LeaseBackendError, LeaseConflict, LeaseNotFound
from leadergroup.elector.watch import LeaseWatchForbidden, LeaseWatchSilent
from leadergroup.kube import ApiError, KubeClient, WatchSilent
from leadergroup.kube.liveness import WATCH_IDLE_SECONDS, server_timeout_seconds
from leadergroup.kube.resources import LEASES


class KubeLeaseBackend:
    """``coordination.k8s.io/v1`` Leases over one :class:`KubeClient`; 404/409 become lock errors."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """GET the Lease; None on 404."""
        try:
            return await self.client.get(LEASES, name, namespace)
        except ApiError as error:
            if error.status == 404:
                return None
            raise LeaseBackendError(str(error)) from error

    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST the Lease; :class:`LeaseConflict` on 409."""
        try:
            return await self.client.create(LEASES, body, namespace)
        except ApiError as error:
            raise _translate(error) from error

    async def replace(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT the Lease (conditional on the ``resourceVersion`` the body carries)."""
        try:
            return await self.client.replace(LEASES, name, body, namespace)
        except ApiError as error:
            raise _translate(error) from error

    async def watch(self, namespace: str, name: str) -> AsyncIterator[dict[str, Any]]:
        """Stream the Lease's changes (current state first) over a single-object watch.

        The server ends the stream within 30 s (with a bookmark first), and a stream silent for 40 s is
        dead (:mod:`leadergroup.kube.liveness`).

        Raises:
            LeaseWatchForbidden: 403, RBAC grants no list/watch on this Lease.
            LeaseWatchSilent: nothing received for the idle bound: the connection presumed dead.
            LeaseBackendError: any other failure, the stream's end included.
        """
        try:
            async for event in self.client.watch(
                LEASES,
                namespace,
                field_selector=f"metadata.name={name}",
                timeout_seconds=server_timeout_seconds(),
                allow_bookmarks=True,
                idle_timeout=WATCH_IDLE_SECONDS,
            ):
                if event.get("type") in ("ADDED", "MODIFIED") and isinstance(event.get("object"), dict):
                    yield event["object"]
        except WatchSilent as error:
            raise LeaseWatchSilent(str(error)) from error
        except ApiError as error:
            if error.status == 403:
                raise LeaseWatchForbidden(str(error)) from error
            raise LeaseBackendError(str(error)) from error


def _translate(error: ApiError) -> LeaseBackendError:
    if error.status == 409:
        return LeaseConflict(str(error))
    if error.status == 404:
        return LeaseNotFound(str(error))
    return LeaseBackendError(str(error))
