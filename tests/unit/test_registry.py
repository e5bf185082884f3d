"""GroupRegistry: which child events are worth handing over, and what a listing that lacks a child reports."""

from __future__ import annotations

from tests.support.groups import child, reconciled

from leadergroup.apply import is_owned_by
from leadergroup.groupstate import group_key_of_child
from leadergroup.kube.resources import ROLES, SERVICE_ACCOUNTS
from leadergroup.registry import GroupRegistry


def test_a_child_of_a_group_not_reconciled_yet_is_dropped() -> None:
    registry = GroupRegistry()
    assert not registry.child_event_matters(None, child("Role", "7")), "a restart's list, unreconciled"
    registry.state(("ns", "g"))  # met through an event only
    assert not registry.child_event_matters("DELETED", child("Role", "7"))


def test_child_events_the_controller_acts_on_are_kept() -> None:
    registry = GroupRegistry()
    reconciled(registry)
    assert registry.child_event_matters("MODIFIED", child("Role", "8")), "a version not judged yet"
    assert registry.child_event_matters("DELETED", child("ServiceAccount", "7")), "a child deleted"
    ready = child("Deployment", "7", readyReplicas=2)
    assert registry.child_event_matters("MODIFIED", ready), "readiness changed"


# ---- what a listing that lacks a child reports: GroupRegistry.followed_children


def test_each_child_a_reconciled_group_has_is_followed_as_a_tombstone_of_its_kind() -> None:
    registry = GroupRegistry()
    reconciled(registry)
    registry.state(("ns", "unreconciled"))  # known by an event only: nothing of it is followed
    (tombstone,) = registry.followed_children(ROLES, None)
    assert tombstone["kind"] == "Role" and tombstone["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert tombstone["metadata"]["name"] == "g"
    assert group_key_of_child(tombstone) == ("ns", "g") and is_owned_by(tombstone, "uid-g")
    assert registry.followed_children(ROLES, "ns") == [tombstone]
    assert registry.followed_children(ROLES, "elsewhere") == []
    assert [t["kind"] for t in registry.followed_children(SERVICE_ACCOUNTS, None)] == ["ServiceAccount"]
    # Its synthesized deletion is one the controller acts on.
    assert registry.child_event_matters("DELETED", tombstone)
