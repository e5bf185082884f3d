"""The Lease lock: get, create-if-missing and conditional update of one Lease, over a small backend.

A backend is three coroutines over plain Lease dicts. :class:`~leadergroup.elector.memory.MemoryLeaseStore`
is an in-memory compare-and-swap store for tests; :class:`~leadergroup.elector.kube_backend.KubeLeaseBackend`
talks to an API server.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from leadergroup.elector.record import LeaderElectionRecord

# The record fields whose change counts as a sign of life of the holder (client-go compares these too).
_RECORD_FIELDS = ("holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions")


class LeaseBackendError(Exception):
    """A backend call failed for a reason other than a lost race or a missing Lease."""


class LeaseConflict(LeaseBackendError):
    """HTTP 409: the conditional update carried a stale ``resourceVersion``, or create found the Lease."""


class LeaseNotFound(LeaseBackendError):
    """HTTP 404: there is no such Lease."""


class LeaseBackend(Protocol):
    """Where Leases live. Updates must be conditional on ``metadata.resourceVersion``."""

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None when it does not exist."""

    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create the Lease and return it as stored; :class:`LeaseConflict` when it exists."""

    async def replace(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the Lease if ``body``'s resourceVersion is current; :class:`LeaseConflict` otherwise."""


class LeaseLock:
    """One Lease, seen by one candidate: the last Lease read or written is kept for the next update.

    Args:
        backend: where the Lease lives.
        namespace: the Lease's namespace.
        name: the Lease's name.
        identity: this candidate's holder identity.
    """

    def __init__(self, backend: LeaseBackend, namespace: str, name: str, identity: str) -> None:
        if not identity:
            raise ValueError("the holder identity must not be empty")
        if not name:
            raise ValueError("the Lease name must not be empty")
        self.backend = backend
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._lease: dict[str, Any] | None = None

    def describe(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def lease(self) -> dict[str, Any] | None:
        """A copy of the last Lease read or written (None before the first successful call)."""
        return copy.deepcopy(self._lease)

    @property
    def has_lease(self) -> bool:
        """Whether an update can be attempted (a Lease has been read or written)."""
        return self._lease is not None

    async def get(self) -> tuple[LeaderElectionRecord, tuple[Any, ...]] | None:
        """Read the Lease: its record and a fingerprint of the raw record fields, or None when missing.

        The fingerprint changes whenever any record field changes on the wire, even in a form this client
        cannot parse, so a holder renewing in an unusual format is still seen as alive.
        """
        lease = await self.backend.get(self.namespace, self.name)
        if lease is None:
            return None
        self._lease = lease
        return LeaderElectionRecord.from_lease(lease), record_fingerprint(lease)

    async def create(self, record: LeaderElectionRecord) -> None:
        """Create the Lease holding ``record``; :class:`LeaseConflict` when someone created it first."""
        self._lease = await self.backend.create(self.namespace, record.new_lease(self.namespace, self.name))

    async def update(self, record: LeaderElectionRecord) -> None:
        """Write ``record`` over the last Lease seen, conditional on its ``resourceVersion``.

        Raises:
            LeaseConflict: the Lease changed since it was read (the cache is dropped).
            RuntimeError: nothing has been read yet.
        """
        if self._lease is None:
            raise RuntimeError("the Lease has not been read yet: call get() or create() first")
        try:
            self._lease = await self.backend.replace(self.namespace, self.name, record.apply_to(self._lease))
        except (LeaseConflict, LeaseNotFound):
            self._lease = None
            raise


def record_fingerprint(lease: dict[str, Any]) -> tuple[Any, ...]:
    """The raw values of the record fields of a Lease, for change detection."""
    spec = lease.get("spec") or {}
    return tuple(repr(spec.get(field)) for field in _RECORD_FIELDS)
