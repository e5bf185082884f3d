"""What the operator remembers of each group between events (in memory, rebuilt after a restart)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadergroup import constants
from leadergroup.model import LeaderGroup
from leadergroup.status import DeploymentView, LeaseView, Stall

GroupKey = tuple[str, str]  # (namespace, name)

# How long a pod's watch events are ignored while waiting for the one that carries our own label patch.
# Events are delivered in order, so the ones before it are older than the patch; judging them would patch
# again. The limit only matters if a watch restart skipped that event.
PATCH_ECHO_WAIT_SECONDS = 10.0


class TransientError(Exception):
    """The API server failed in a way worth retrying (throttled, unavailable, lost a race)."""


def observed_generation(status: Mapping[str, Any]) -> int:
    """The spec generation a status says it describes (0 before any)."""
    return int(status.get("observedGeneration") or 0)


def group_key_of_child(body: Mapping[str, Any]) -> GroupKey | None:
    """The group a labelled child (or pod) belongs to, from its namespace and group label."""
    metadata = body.get("metadata") or {}
    group = (metadata.get("labels") or {}).get(constants.LABEL_GROUP)
    namespace = metadata.get("namespace")
    return (str(namespace), str(group)) if group and namespace else None


def child_tombstone(kind: str, api_version: str, name: str, key: GroupKey, owner_uid: str) -> dict[str, Any]:
    """The last that is known of a child the operator made, for the deletion no watch reported.

    A listing that lacks a child the group had is the only news of a deletion made while nothing watched
    (the replica paused, or its watch too old to resume); like client-go's ``DeletedFinalStateUnknown``,
    the tombstone says whose child it was: the group (label) and the owner (uid).
    """
    namespace, group = key
    metadata = {
        "name": name,
        "namespace": namespace,
        "labels": {constants.LABEL_GROUP: group},
        "ownerReferences": [{"uid": owner_uid}],
    }
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def without_managed_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of ``body`` without ``metadata.managedFields``.

    They are kilobytes per object, never read here, and an update that leaves them out keeps the
    server's (only an explicit ``[{}]`` clears them): a Lease kept for a conditional release needs none.
    """
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping) or "managedFields" not in metadata:
        return dict(body)
    return {**body, "metadata": {key: value for key, value in metadata.items() if key != "managedFields"}}


@dataclass
class Echo:
    """Waits for the watch to deliver our own write, so that older events are not mistaken for news.

    Events of one object arrive in order: those before the one carrying our write's resourceVersion
    predate it. Judging them would undo or repeat the write. The wait ends on that event, or after
    ``PATCH_ECHO_WAIT_SECONDS`` if a watch restart skipped it.
    """

    awaiting: str | None = None
    since: float = 0.0

    def expect(self, written: Mapping[str, Any]) -> None:
        """Remember the resourceVersion our write produced."""
        self.awaiting = str((written.get("metadata") or {}).get("resourceVersion"))
        self.since = time.monotonic()

    def is_stale(self, event: Mapping[str, Any]) -> bool:
        """Whether the event predates our last write; ends the wait once the write's echo arrives."""
        if self.awaiting is None:
            return False
        version = str((event.get("metadata") or {}).get("resourceVersion"))
        if version == self.awaiting or time.monotonic() - self.since > PATCH_ECHO_WAIT_SECONDS:
            self.awaiting = None
            return False
        return True


POD_METADATA_KEPT = (
    "name",
    "namespace",
    "uid",
    "labels",
    "annotations",
    "deletionTimestamp",
    "resourceVersion",
)


def pod_essentials(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a pod the role labelling and the failover read; a real pod is some 16 kB of objects.

    The metadata that names it, carries its role and says whether our patch came back; per container,
    the restart count and a termination (leadership.elector_exit). Not managedFields (often kilobytes),
    spec, conditions or addresses.
    """
    metadata = pod.get("metadata") or {}
    containers = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        kept: dict[str, Any] = {"name": status.get("name"), "restartCount": status.get("restartCount", 0)}
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            kept["state"] = {"terminated": terminated}
        containers.append(kept)
    return {
        "metadata": {key: metadata[key] for key in POD_METADATA_KEPT if key in metadata},
        "status": {"containerStatuses": containers},
    }


@dataclass
class PodView:
    """What the operator keeps of a pod (:func:`pod_essentials`), and the echo of our last patch to come."""

    body: dict[str, Any]
    echo: Echo = field(default_factory=Echo)

    @classmethod
    def of(cls, pod: Mapping[str, Any], written: bool = False) -> PodView:
        """The view of ``pod``; ``written``: it is our own patch's answer, whose echo is still to come."""
        view = cls(pod_essentials(pod))
        if written:
            view.echo.expect(pod)
        return view


@dataclass
class GroupCounters:
    """Running totals the metrics endpoint reports (since this operator process started)."""

    leader_changes: int = 0
    leaderless_seconds: float = 0.0
    leaderless_since: float | None = None  # monotonic
    failover_releases: int = 0
    reconciles: int = 0
    reconcile_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def holder_seen(self, holder: str, now: float) -> None:
        """Account for the Lease's holder as observed at ``now`` (monotonic)."""
        if self.leaderless_since is not None:
            self.leaderless_seconds += now - self.leaderless_since
            self.leaderless_since = None
        if not holder:
            self.leaderless_since = now

    def leaderless_total(self, now: float) -> float:
        """Seconds without a holder, including the current leaderless stretch."""
        current = now - self.leaderless_since if self.leaderless_since is not None else 0.0
        return self.leaderless_seconds + current

    def error(self, reason: str) -> None:
        """Count a failed or stalled reconcile."""
        self.errors[reason] = self.errors.get(reason, 0) + 1


@dataclass
class GroupState:
    """What the operator knows of one group between events."""

    uid: str = ""
    # The spec generation whose children the operator last applied (or found blocked): the status's
    # observedGeneration, which must never claim a spec that has not reached the children yet.
    observed_generation: int = 0
    # The validated spec of the last reconcile; children are rebuilt from it (pure, cheap) when needed.
    group: LeaderGroup | None = None
    stall: Stall | None = None
    lease: LeaseView | None = None
    lease_body: dict[str, Any] | None = None
    deployment: DeploymentView | None = None
    status: dict[str, Any] | None = None
    status_echo: Echo = field(default_factory=Echo)
    status_written_at: float = 0.0  # monotonic time of our last status write
    readiness_pending: bool = False  # a coalesced readiness write is scheduled
    # resourceVersion of each child as we last wrote or judged it: its watch event needs no second look.
    converged: dict[tuple[str, str], str] = field(default_factory=dict)
    pods: dict[str, PodView] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    counters: GroupCounters = field(default_factory=GroupCounters)

    @property
    def known(self) -> bool:
        """Whether a reconcile has run for this group since the operator started."""
        return bool(self.uid)

    @property
    def replicas(self) -> int:
        """Wanted replicas (the default until a valid spec was seen)."""
        return self.group.spec.replicas if self.group else constants.DEFAULT_REPLICAS

    @property
    def failover(self) -> bool:
        """Whether the Lease of a deleted holder pod is released."""
        return self.group.spec.failover.release_on_holder_deletion if self.group else False

    @property
    def release_on_exit(self) -> bool:
        """Whether the Lease is released when the holder's elector container is reported terminated."""
        return self.group.spec.failover.release_on_elector_exit if self.group else False

    def see_lease(self, lease: Mapping[str, Any]) -> bool:
        """Record the Lease as observed; whether what the status reports of it changed."""
        self.lease_body = without_managed_fields(lease)
        view = LeaseView.of(lease)
        if view == self.lease:
            return False  # a renewal
        if self.lease is None or view.holder != self.lease.holder:
            self.counters.holder_seen(view.holder, time.monotonic())
            # The first observation after a start or a takeover is not a change.
            self.counters.leader_changes += 1 if view.holder and self.lease is not None else 0
        self.lease = view
        return True
