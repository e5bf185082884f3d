"""What the demo shows: one snapshot of the group's children, Lease, status, events and electors."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from leadergroup import constants
from leadergroup.demo.processes import Children
from leadergroup.elector.record import InvalidMicroTimeError, parse_micro_time
from leadergroup.kube import ApiError, KubeClient, Resource
from leadergroup.kube.resources import (
    DEPLOYMENTS,
    DISRUPTION_BUDGETS,
    EVENTS,
    LEADERGROUPS,
    LEASES,
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
)

CHILD_KINDS = (SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS, LEASES, DEPLOYMENTS, SERVICES, DISRUPTION_BUDGETS)
# What the operator creates for the demo's group (the Service and the budget are optional children).
EXPECTED_CHILDREN = ("ServiceAccount", "Role", "RoleBinding", "Lease", "Deployment")
EVENTS_SHOWN = 5
# Children change rarely, the Lease every RP seconds: listing seven kinds on every poll is wasted load.
CHILDREN_REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class LeaseState:
    """The Lease record's fields as electors read them."""

    holder: str
    transitions: int
    renew_time: str
    duration: int | None


@dataclass(frozen=True)
class GroupStatus:
    """The LeaderGroup's status as ``kubectl get lg`` would show it."""

    holder: str
    ready: str
    transitions: int
    conditions: tuple[tuple[str, str, str], ...]  # (type, status, reason)


@dataclass(frozen=True)
class EventLine:
    """One Kubernetes Event about the LeaderGroup."""

    when: str
    reason: str
    message: str


@dataclass(frozen=True)
class ElectorState:
    """One local elector process (its identity is a pod's name)."""

    identity: str
    pid: int
    state: str  # "leading", "following", "killed" or "exited (N)"
    pod_role: str  # the pod's leadergroup.dev/role label ("" when unset)


@dataclass(frozen=True)
class Snapshot:
    """Everything the view shows, observed at ``taken`` (monotonic seconds)."""

    taken: float
    children: tuple[str, ...] = ()  # "Kind/name", in the order the builders make them
    lease: LeaseState | None = None
    group: GroupStatus | None = None
    events: tuple[EventLine, ...] = ()
    electors: tuple[ElectorState, ...] = field(default_factory=tuple)

    @property
    def holder(self) -> str:
        """The Lease's holder ("" when nobody holds it)."""
        return self.lease.holder if self.lease else ""


def lease_state(lease: dict[str, Any]) -> LeaseState:
    """The interesting fields of a Lease body."""
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    return LeaseState(
        holder=str(spec.get("holderIdentity") or ""),
        transitions=int(spec.get("leaseTransitions") or 0),
        renew_time=str(spec.get("renewTime") or ""),
        duration=int(duration) if duration is not None else None,
    )


def group_status(group: dict[str, Any]) -> GroupStatus:
    """The interesting fields of a LeaderGroup's status."""
    status = group.get("status") or {}
    conditions = tuple(
        (str(c.get("type", "?")), str(c.get("status", "?")), str(c.get("reason", "")))
        for c in status.get("conditions") or []
    )
    return GroupStatus(
        holder=str(status.get("holder") or ""),
        ready=str(status.get("ready") or ""),
        transitions=int(status.get("leaseTransitions") or 0),
        conditions=conditions,
    )


def has_expected_children(children: Iterable[str]) -> bool:
    """Whether ``Kind/name`` entries cover every kind in :data:`EXPECTED_CHILDREN`."""
    kinds = {child.split("/", 1)[0] for child in children}
    return all(kind in kinds for kind in EXPECTED_CHILDREN)


def _moment(stamp: str) -> datetime.datetime | None:
    try:
        return parse_micro_time(stamp)
    except InvalidMicroTimeError:
        return None


def clock_time(stamp: str) -> str:
    """``HH:MM:SS`` (local time) of an RFC 3339 stamp, with milliseconds when it has a fraction."""
    moment = _moment(stamp)
    if moment is None:
        return stamp or "-"
    local = moment.astimezone()
    return local.strftime("%H:%M:%S.%f")[:-3] if "." in stamp else local.strftime("%H:%M:%S")


def seconds_ago(stamp: str) -> float | None:
    """How long ago an RFC 3339 stamp was, by this machine's clock."""
    moment = _moment(stamp)
    return None if moment is None else max(0.0, time.time() - moment.timestamp())


def _event_stamp(item: dict[str, Any]) -> str:
    metadata = item.get("metadata") or {}
    return str(item.get("lastTimestamp") or item.get("eventTime") or metadata.get("creationTimestamp") or "")


def latest_events(items: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The ``count`` most recent Events, oldest first.

    By resourceVersion when every one is a number (its order is the order of writes, as on every API
    server we know of, and it breaks ties between Events of the same second); otherwise, as the API
    says resourceVersions are opaque, by their timestamps.
    """
    versions = [str((item.get("metadata") or {}).get("resourceVersion", "")) for item in items]
    if all(version.isdigit() for version in versions):
        ordered = sorted(items, key=lambda item: int(item["metadata"]["resourceVersion"]))
    else:
        oldest = datetime.datetime.min.replace(tzinfo=datetime.UTC)
        ordered = sorted(items, key=lambda item: _moment(_event_stamp(item)) or oldest)
    return ordered[-count:] if count else []


class Observer:
    """Reads the group's state through the API and the electors' state from their processes."""

    def __init__(self, client: KubeClient, namespace: str, group: str, lock: str, children: Children) -> None:
        self.client = client
        self.namespace = namespace
        self.group = group
        self.lock = lock
        self.children = children
        self._selector = f"{constants.LABEL_GROUP}={group}"
        self._last = Snapshot(taken=time.monotonic())
        self._children_listed_at = float("-inf")

    async def _get(self, resource: Resource, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get(resource, name, self.namespace)
        except ApiError:
            return None  # not there yet, or a hiccup: the next poll tells

    async def _list(self, resource: Resource, selector: str | None = None) -> list[dict[str, Any]] | None:
        try:
            found = await self.client.list(resource, self.namespace, label_selector=selector)
        except ApiError:
            return None
        return list(found.get("items") or [])

    async def _children(self) -> tuple[str, ...]:
        if time.monotonic() - self._children_listed_at < CHILDREN_REFRESH_SECONDS:
            return self._last.children
        listed = await asyncio.gather(*(self._list(kind, self._selector) for kind in CHILD_KINDS))
        names: list[str] = []
        for kind, items in zip(CHILD_KINDS, listed, strict=True):
            names.extend(f"{kind.kind}/{item['metadata']['name']}" for item in items or [])
        if not has_expected_children(names):
            self._children_listed_at = float("-inf")  # still being created: look again next time
        else:
            self._children_listed_at = time.monotonic()
        return tuple(names)

    async def snapshot(self) -> Snapshot:
        """Observe everything once (the API reads run concurrently)."""
        children, lease, group, events, pods = await asyncio.gather(
            self._children(),
            self._get(LEASES, self.lock),
            self._get(LEADERGROUPS, self.group),
            self._list(EVENTS),
            self._list(PODS, self._selector),
        )
        last = self._last
        roles = {
            pod["metadata"]["name"]: (pod["metadata"].get("labels") or {}).get(constants.LABEL_ROLE, "")
            for pod in pods or []
        }
        self._last = Snapshot(
            taken=time.monotonic(),
            children=children,
            lease=lease_state(lease) if lease else last.lease,
            group=group_status(group) if group else last.group,
            events=self._events(events) if events is not None else last.events,
            electors=self._electors(roles),
        )
        return self._last

    def _events(self, items: list[dict[str, Any]]) -> tuple[EventLine, ...]:
        ours = [
            item
            for item in items
            if (item.get("involvedObject") or {}).get("kind") == constants.KIND
            and (item.get("involvedObject") or {}).get("name") == self.group
        ]
        return tuple(
            EventLine(
                clock_time(_event_stamp(item)), str(item.get("reason", "")), str(item.get("message", ""))
            )
            for item in latest_events(ours, EVENTS_SHOWN)
        )

    def _electors(self, roles: dict[str, str]) -> tuple[ElectorState, ...]:
        states = []
        for identity, child in self.children.electors.items():
            if child.killed and not child.alive:
                state = "killed (SIGKILL)"
            elif not child.alive:
                state = f"exited ({child.process.returncode})"
            else:
                state = "leading" if child.leading() else "following"
            states.append(ElectorState(identity, child.pid, state, roles.get(identity, "")))
        return tuple(states)
