"""GroupController: reconciles take turns (CONVERGING_AT_ONCE converge, the rest wait lock-free); child
events that change nothing need no request (which ones those are: test_registry.py)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from tests.support.groups import child, group, reconciled

from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import EVENTS
from leadergroup.reconcile import CONVERGING_AT_ONCE, GroupController, TransientError


class StalledServer:
    """A client whose every request waits for an answer that never comes (the test cancels it)."""

    def __init__(self) -> None:
        self.requests = 0

    def __getattr__(self, name: str) -> Any:
        async def request(*_: Any, **__: Any) -> Any:
            self.requests += 1
            await asyncio.Event().wait()

        return request


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


# ---- child events that change nothing


class RefusingServer:
    """A client that fails the test on any request: the events it gets must need none."""

    def __getattr__(self, name: str) -> Any:
        async def request(*args: Any, **__: Any) -> Any:
            raise AssertionError(f"{name}{args} sent for an event that changes nothing")

        return request


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


# ---- observedGeneration claims only a spec whose children were applied


class ChildWritesFail:
    """Status patches and Events go through and are recorded; every request about a child fails with 503."""

    def __init__(self) -> None:
        self.status_patches: list[dict[str, Any]] = []

    async def patch(self, resource: Any, name: str, body: dict[str, Any], namespace: str, **kw: Any) -> Any:
        if kw.get("subresource") != "status":
            raise ApiError(503, "ServiceUnavailable", "the server is overloaded")
        self.status_patches.append(body["status"])
        return {"metadata": {"name": name, "resourceVersion": str(100 + len(self.status_patches))}}

    async def create(self, resource: Any, body: dict[str, Any], namespace: str, **_: Any) -> Any:
        if resource is EVENTS:
            return body
        raise ApiError(503, "ServiceUnavailable", "the server is overloaded")

    async def get_or_none(self, *_: Any, **__: Any) -> Any:
        raise ApiError(503, "ServiceUnavailable", "the server is overloaded")


def lease(holder: str, transitions: int) -> dict[str, Any]:
    labelled = child("Lease", str(200 + transitions))
    return {**labelled, "spec": {"holderIdentity": holder, "leaseTransitions": transitions}}


async def test_observed_generation_moves_only_once_the_new_spec_is_applied() -> None:
    server = ChildWritesFail()
    controller = GroupController(cast(KubeClient, server))
    state = reconciled(controller)
    state.observed_generation, state.status = 1, {"observedGeneration": 1}
    scaled = group("g")
    scaled["metadata"].update(uid="uid-g", generation=2, resourceVersion="50")
    scaled["spec"]["replicas"] = 5

    # The new spec is seen; its reconcile has not run yet (its turn, or Kopf's handler, comes later).
    await controller.observe_group("MODIFIED", scaled)
    await controller.observe_lease("MODIFIED", lease("pod-a", 1))
    assert server.status_patches[-1]["holder"] == "pod-a"
    assert state.status["observedGeneration"] == 1, "the status must not claim a spec not yet applied"

    # Its reconcile fails before the Deployment is scaled: the status still describes generation 1.
    with pytest.raises(TransientError):
        await controller.reconcile(scaled)
    await controller.observe_lease("MODIFIED", lease("pod-b", 2))
    assert server.status_patches[-1]["holder"] == "pod-b"
    assert {patch.get("observedGeneration", 1) for patch in server.status_patches} == {1}
    assert state.status["observedGeneration"] == 1


async def test_observed_generation_follows_another_replica_that_applied_the_spec() -> None:
    controller = GroupController(cast(KubeClient, ChildWritesFail()))
    state = reconciled(controller)
    state.observed_generation, state.status = 1, {"observedGeneration": 1}
    handled_elsewhere = group("g")
    handled_elsewhere["metadata"].update(uid="uid-g", generation=2, resourceVersion="60")
    handled_elsewhere["status"] = {"observedGeneration": 2, "holder": "pod-a"}

    # A replica that was paused while the other one applied generation 2 must not write it back to 1.
    await controller.observe_group("MODIFIED", handled_elsewhere)
    await controller.observe_lease("MODIFIED", lease("pod-b", 2))
    assert state.status["observedGeneration"] == 2
