"""GroupController: reconciles take turns (CONVERGING_AT_ONCE converge, the rest wait lock-free), and which
child events are worth handing over at all."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import yaml

from leadergroup import constants
from leadergroup.apply import is_owned_by
from leadergroup.groupstate import GroupState, group_key_of_child
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import ROLES, SERVICE_ACCOUNTS
from leadergroup.model import LeaderGroup
from leadergroup.reconcile import CONVERGING_AT_ONCE, GroupController
from leadergroup.status import DeploymentView

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"


class StalledServer:
    """A client whose every request waits for an answer that never comes (the test cancels it)."""

    def __init__(self) -> None:
        self.requests = 0

    def __getattr__(self, name: str) -> Any:
        async def request(*_: Any, **__: Any) -> Any:
            self.requests += 1
            await asyncio.Event().wait()

        return request


def group(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1}
    return body


async def test_a_group_waiting_for_its_turn_leaves_its_lock_free_for_its_pods_and_children() -> None:
    server = StalledServer()
    controller = GroupController(cast(KubeClient, server))
    converging = [
        asyncio.create_task(controller.reconcile(group(f"g{index}"), fresh=True))
        for index in range(CONVERGING_AT_ONCE)
    ]
    waiting = asyncio.create_task(controller.reconcile(group("late"), fresh=True))
    try:
        for _ in range(10):
            await asyncio.sleep(0)
        assert server.requests == CONVERGING_AT_ONCE, "each group in its turn sends its first create"
        assert all(controller.state(("ns", f"g{i}")).lock.locked() for i in range(CONVERGING_AT_ONCE))
        # The late group has not started: the events of its pods and children are not held up behind it.
        assert not waiting.done()
        assert not controller.state(("ns", "late")).lock.locked()
    finally:
        for task in (*converging, waiting):
            task.cancel()
        await asyncio.gather(*converging, waiting, return_exceptions=True)


# ---- which child events are worth a task: GroupController.child_event_matters


class RefusingServer:
    """A client that fails the test on any request: the events it gets must need none."""

    def __getattr__(self, name: str) -> Any:
        async def request(*args: Any, **__: Any) -> Any:
            raise AssertionError(f"{name}{args} sent for an event that changes nothing")

        return request


def child(kind: str, version: str, owner: str = "uid-g", **status: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {
            "name": "g",
            "namespace": "ns",
            "resourceVersion": version,
            "labels": {constants.LABEL_GROUP: "g"},
            "ownerReferences": [{"uid": owner}],
        },
        "status": status,
    }


def reconciled(controller: GroupController) -> GroupState:
    """The state a reconcile leaves: the group known, each child judged at version 7."""
    state = controller.state(("ns", "g"))
    state.uid, state.group = "uid-g", LeaderGroup.from_body(group("g"))
    for kind in ("Deployment", "ServiceAccount", "Role"):
        state.converged[(kind, "g")] = "7"
    state.deployment = DeploymentView.of(child("Deployment", "7", readyReplicas=3))
    return state


async def test_child_events_that_change_nothing_are_dropped_and_need_no_request() -> None:
    controller = GroupController(cast(KubeClient, RefusingServer()))
    unseen = child("Role", "7")
    assert not controller.child_event_matters(None, unseen), "a restart's list, before its group's reconcile"
    reconciled(controller)
    nothing_new = [
        (None, child("Role", "7")),  # the echo of our own write
        ("MODIFIED", child("ServiceAccount", "7")),
        ("MODIFIED", child("Role", "8", owner="uid-other")),  # not this group's
        ("MODIFIED", child("Deployment", "7", readyReplicas=3)),  # same version, same readiness
        ("DELETED", child("Role", "9", owner="uid-other")),
    ]
    for event_type, body in [(None, unseen), *nothing_new]:
        assert not controller.child_event_matters(event_type, body), (event_type, body)
        observe = controller.observe_deployment if body["kind"] == "Deployment" else controller.observe_child
        await observe(event_type, body)  # and indeed the handler does nothing with it


def test_child_events_the_controller_acts_on_are_kept() -> None:
    controller = GroupController(cast(KubeClient, RefusingServer()))
    reconciled(controller)
    assert controller.child_event_matters("MODIFIED", child("Role", "8")), "a version not judged yet"
    assert controller.child_event_matters("DELETED", child("ServiceAccount", "7")), "a child deleted"
    ready = child("Deployment", "7", readyReplicas=2)
    assert controller.child_event_matters("MODIFIED", ready), "readiness changed"


# ---- what a listing that lacks a child reports: GroupController.followed_children


def test_each_child_a_reconciled_group_has_is_followed_as_a_tombstone_of_its_kind() -> None:
    controller = GroupController(cast(KubeClient, RefusingServer()))
    reconciled(controller)
    controller.state(("ns", "unreconciled"))  # known by an event only: nothing of it is followed
    (tombstone,) = controller.followed_children(ROLES, None)
    assert tombstone["kind"] == "Role" and tombstone["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert tombstone["metadata"]["name"] == "g"
    assert group_key_of_child(tombstone) == ("ns", "g") and is_owned_by(tombstone, "uid-g")
    assert controller.followed_children(ROLES, "ns") == [tombstone]
    assert controller.followed_children(ROLES, "elsewhere") == []
    assert [t["kind"] for t in controller.followed_children(SERVICE_ACCOUNTS, None)] == ["ServiceAccount"]
    # Its synthesized deletion is one the controller acts on.
    assert controller.child_event_matters("DELETED", tombstone)
