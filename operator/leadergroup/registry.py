"""What the operator knows of every group, and what its watches ask of it as each event arrives.

The followers call these for every event they decode (Lease renewals alone come hundreds a second), and for
the tombstones of what a listing lacks: no lock and no await, so nothing changes the state between a
question and its answer. What acts on the events is :class:`leadergroup.reconcile.GroupController`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadergroup.apply import is_owned_by
from leadergroup.groupstate import (
    GroupKey,
    GroupState,
    child_tombstone,
    group_key_of_child,
    without_managed_fields,
)
from leadergroup.kube.resources import Resource
from leadergroup.status import DeploymentView, LeaseView


class GroupRegistry:
    """The state of each group this replica has met, by namespace and name."""

    def __init__(self) -> None:
        self.groups: dict[GroupKey, GroupState] = {}

    def state(self, key: GroupKey) -> GroupState:
        """The state of a group, created empty on first use."""
        return self.groups.setdefault(key, GroupState())

    def forget(self, key: GroupKey) -> None:
        """Drop a deleted group's state."""
        self.groups.pop(key, None)

    def is_renewal(self, lease: Mapping[str, Any]) -> bool:
        """Whether a Lease event only renews what the status already reports; if so, keep it and say so.

        Called for every Lease event, hundreds a second: no lock and no await, so nothing can change the
        state between the comparison and the update. Anything else goes to ``GroupController.observe_lease``.
        """
        key = group_key_of_child(lease)
        state = self.groups.get(key) if key is not None else None
        if state is None or state.lease is None:
            return False
        if state.known and not is_owned_by(lease, state.uid):
            return True  # not this group's Lease: observe_lease would ignore it too
        if LeaseView.of(lease) != state.lease:
            return False
        # Kept for its latest resourceVersion: a release is conditional on it.
        state.lease_body = without_managed_fields(lease)
        return True

    def followed_leases(self, namespace: str | None) -> list[Mapping[str, Any]]:
        """The last seen Lease of each reconciled group (in ``namespace``, or everywhere when None).

        A listing that lacks one hands it over as the Lease's deletion; so for the pods and the children.
        """
        return [
            state.lease_body
            for (group_namespace, _), state in self.groups.items()
            if state.known and state.lease_body and namespace in (None, group_namespace)
        ]

    def followed_pods(self, namespace: str | None) -> list[Mapping[str, Any]]:
        """What is kept of each pod of the groups (in ``namespace``, or everywhere when None)."""
        return [
            view.body
            for (group_namespace, _), state in self.groups.items()
            if namespace in (None, group_namespace)
            for view in state.pods.values()
        ]

    def followed_children(self, resource: Resource, namespace: str | None) -> list[Mapping[str, Any]]:
        """A tombstone of each child of that kind the reconciled groups have (in ``namespace``, or all)."""
        return [
            child_tombstone(resource.kind, resource.api_version, name, key, state.uid)
            for key, state in self.groups.items()
            if state.group is not None and namespace in (None, key[0])
            for kind, name in state.converged
            if kind == resource.kind
        ]

    @staticmethod
    def _readiness_changed(state: GroupState, event_type: str | None, deployment: Mapping[str, Any]) -> bool:
        return (
            state.known
            and event_type != "DELETED"
            and is_owned_by(deployment, state.uid)
            and DeploymentView.of(deployment) != state.deployment
        )

    def child_event_matters(self, event_type: str | None, child: Mapping[str, Any]) -> bool:
        """Whether ``GroupController.observe_child`` (``observe_deployment`` for one) would act on it.

        No lock and no await: called for every child event as it arrives, so that the many that change
        nothing (our own writes' echoes, the children of groups not reconciled yet, whose reconcile reads
        them anyway) are dropped before anything holds them.
        """
        key = group_key_of_child(child)
        state = self.groups.get(key) if key is not None else None
        if state is None:
            return False
        if child.get("kind") == "Deployment" and self._readiness_changed(state, event_type, child):
            return True
        return self._may_have_drifted(state, event_type, child)

    @staticmethod
    def _may_have_drifted(state: GroupState, event_type: str | None, child: Mapping[str, Any]) -> bool:
        if state.group is None or not is_owned_by(child, state.uid):
            return False
        if event_type == "DELETED":
            return True
        metadata = child.get("metadata") or {}
        identity = (str(child.get("kind")), str(metadata.get("name")))
        # Not the echo of our own write, nor a version we judged already (server-normalised values).
        return state.converged.get(identity) != str(metadata.get("resourceVersion"))
