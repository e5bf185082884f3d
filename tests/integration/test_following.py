"""The operator's own watches: Lease renewals stop in the event loop, holder changes reach the status;
pods are kept cut down, listed in pages; a Lease, pod or child deleted or edited while paused is noticed on
resume.

The followers run here in the test's process, with a real :class:`GroupController` and the API server of
the `cluster` fixture; the group is reconciled once by hand, as Kopf's create handler would.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.pods import deployment_pods

from leadergroup import constants
from leadergroup.following import ChildFollower, LeaseFollower, PodFollower
from leadergroup.following import Following as FollowingConfig
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DISRUPTION_BUDGETS, LEADERGROUPS, LEASES, PODS, ROLES
from leadergroup.procutil import free_port, operator_command, wait_until_alive
from leadergroup.reconcile import GroupController

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"
MANAGED_SELECTOR = f"{constants.LABEL_MANAGED_BY}={constants.MANAGER}"


class ManualGate:
    """A peering gate the test opens and closes."""

    def __init__(self) -> None:
        self.active = asyncio.Event()
        self.paused = asyncio.Event()
        self.open()

    def open(self) -> None:
        self.paused.clear()
        self.active.set()

    def close(self) -> None:
        self.active.clear()
        self.paused.set()

    async def wait_active(self) -> None:
        await self.active.wait()

    async def wait_paused(self) -> None:
        await self.paused.wait()


class Following:
    """A reconciled group and a follower of its namespace's Leases."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.gate = ManualGate()
        self.controller = GroupController(client)
        following = FollowingConfig((namespace,), MANAGED_SELECTOR, self.gate)
        self.follower = LeaseFollower(self.controller, client, following, retry_delay=0.1)
        # Pages of one pod: a group's three pods take three pages of one list.
        self.pod_follower = PodFollower(self.controller, client, following, retry_delay=0.1, page_size=1)
        self.lease_name = ""
        self.cluster: Cluster | None = None

    async def start(self, name: str = "followed") -> None:
        body = yaml.safe_load(SAMPLE.read_text())
        body["metadata"] = {"name": name, "namespace": self.namespace}
        group = await self.client.create(LEADERGROUPS, body, self.namespace)
        assert await self.controller.reconcile(group, fresh=True) is None
        self.lease_name = str(group["spec"].get("lockName") or name)  # the group's name by default
        self.task = asyncio.create_task(self.follower.run())

    async def follow_pods(self) -> None:
        self.pod_task = asyncio.create_task(self.pod_follower.run())

    async def stop(self) -> None:
        tasks = [task for task in (self.task, getattr(self, "pod_task", None)) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def lease(self) -> dict[str, Any]:
        return await self.client.get(LEASES, self.lease_name, self.namespace)

    async def write_lease(self, holder: str, renew_time: str) -> dict[str, Any]:
        """PUT the Lease as an elector does (new holder: acquire; same holder: renew)."""
        lease = copy.deepcopy(await self.lease())
        spec = lease["spec"]
        if spec.get("holderIdentity") != holder:
            spec["acquireTime"] = renew_time
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
                1 if spec.get("holderIdentity") else 0
            )
        spec.update(holderIdentity=holder, leaseDurationSeconds=15, renewTime=renew_time)
        return await self.client.replace(LEASES, self.lease_name, lease, self.namespace)

    async def status_holder(self, name: str = "followed") -> str | None:
        group = await self.client.get(LEADERGROUPS, name, self.namespace)
        return (group.get("status") or {}).get("holder")


@pytest.fixture
async def following(cluster: Cluster) -> AsyncIterator[Following]:
    async with KubeClient.auto(cluster.kubeconfig) as client:
        setup = Following(client, cluster.namespace)
        setup.cluster = cluster
        await setup.start()
        yield setup
        await setup.stop()


async def test_renewals_stop_in_the_event_loop_and_a_new_holder_reaches_the_status(
    following: Following,
) -> None:
    await following.write_lease("pod-a", "2026-12-02T10:00:00.000000Z")
    await eventually(lambda: following.status_holder(), message="the first holder in status")
    assert await following.status_holder() == "pod-a"
    seen = following.follower.renewals
    for second in range(1, 6):
        await following.write_lease("pod-a", f"2026-12-02T10:00:0{second}.000000Z")
    last = await following.lease()

    # Every renewal is dropped as such, and the controller keeps the newest Lease for a conditional write.
    def kept_latest() -> bool:
        state = following.controller.groups[(following.namespace, "followed")]
        body = state.lease_body or {}
        return body.get("metadata", {}).get("resourceVersion") == last["metadata"]["resourceVersion"]

    await eventually(kept_latest, message="the controller holds the last renewal")
    assert following.follower.renewals >= seen + 5

    await following.write_lease("pod-b", "2026-12-02T10:00:10.000000Z")

    async def moved() -> bool:
        return await following.status_holder() == "pod-b"

    await eventually(moved, message="status.holder follows the new holder")


async def test_a_paused_replica_stops_following_and_catches_up_when_resumed(following: Following) -> None:
    await following.write_lease("pod-a", "2026-12-02T10:00:00.000000Z")

    async def shown(holder: str) -> bool:
        return await following.status_holder() == holder

    await eventually(lambda: shown("pod-a"), message="the first holder in status")
    following.gate.close()
    await eventually(lambda: following.follower.watching == 0, message="the watch stops when paused")
    await following.write_lease("pod-b", "2026-12-02T10:00:05.000000Z")
    await following.follower.drain()
    # Paused: the change is the active replica's to report, and only the listing on resume brings it.
    assert await following.status_holder() == "pod-a"
    following.gate.open()
    await eventually(lambda: shown("pod-b"), message="the listing on resume brings the change")


async def test_a_lease_deleted_while_paused_is_recreated_on_resume(following: Following) -> None:
    await following.write_lease("pod-a", "2026-12-02T10:00:00.000000Z")
    await eventually(lambda: following.status_holder(), message="the first holder in status")
    following.gate.close()
    await eventually(lambda: following.follower.watching == 0, message="the watch stops when paused")
    await following.client.delete(LEASES, following.lease_name, following.namespace)
    following.gate.open()

    async def recreated() -> dict[str, Any] | None:
        lease = await following.client.get_or_none(LEASES, following.lease_name, following.namespace)
        return lease if lease and (lease.get("spec") or {}).get("holderIdentity") else None

    # No DELETED event was watched: the listing's silence about the Lease is what brings it back, with
    # its last record, so the holder keeps renewing it.
    lease = await eventually(recreated, timeout=10, message="the Lease comes back on resume")
    assert lease["spec"]["holderIdentity"] == "pod-a"


# ---- pods


def kept_pods(following: Following) -> dict[str, dict[str, Any]]:
    """What the controller keeps of each pod of the group."""
    state = following.controller.groups.get((following.namespace, "followed"))
    return {pod: view.body for pod, view in state.pods.items()} if state else {}


async def group_pods(following: Following) -> list[str]:
    assert following.cluster is not None
    return await deployment_pods(following.client, following.cluster, "followed")


async def test_pods_are_listed_in_pages_and_kept_cut_down(
    following: Following, monkeypatch: pytest.MonkeyPatch
) -> None:
    pods = await group_pods(following)
    pages: list[str | None] = []
    listing = following.client.list

    async def list_spied(resource: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if resource == PODS:
            pages.append(kwargs.get("continue_token"))
        return await listing(resource, *args, **kwargs)

    monkeypatch.setattr(following.client, "list", list_spied)
    await following.follow_pods()
    await eventually(lambda: sorted(kept_pods(following)) == sorted(pods), message="every pod kept")
    # One list, page by page: the first without a token, each next one with the token of the one before.
    assert len(pages) >= len(pods) and pages[0] is None and all(pages[1:])
    for body in kept_pods(following).values():
        assert set(body) == {"metadata", "status"}
        assert "managedFields" not in body["metadata"]
        assert body["metadata"]["labels"][constants.LABEL_GROUP] == "followed"


async def test_a_holder_pod_deleted_while_paused_releases_the_lease_on_resume(following: Following) -> None:
    pods = await group_pods(following)
    await following.follow_pods()
    await eventually(lambda: set(pods) <= set(kept_pods(following)), message="the pods kept")
    holder = pods[0]
    await following.write_lease(holder, "2026-12-02T10:00:00.000000Z")
    await eventually(lambda: following.status_holder(), message="the holder in status")
    following.gate.close()
    await eventually(
        lambda: following.follower.watching + following.pod_follower.watching == 0,
        message="the watches stop when paused",
    )
    await following.client.delete(PODS, holder, following.namespace)

    async def gone() -> bool:
        return await following.client.get_or_none(PODS, holder, following.namespace) is None

    await eventually(gone, timeout=20, message="the pod gone from the API")
    assert holder in kept_pods(following)  # paused: nothing watched the deletion
    following.gate.open()

    # No DELETED event was watched: the listing's silence about the pod is the news, and the holder's pod
    # being gone releases the Lease (failover), so a standby need not wait out the lease.
    async def released() -> bool:
        return not (await following.lease())["spec"].get("holderIdentity")

    await eventually(released, timeout=10, message="the Lease released on resume")
    assert holder not in kept_pods(following)


# ---- children


ROLE_NAME = "followed-lease"  # the group's Role: <group>-lease


@contextlib.asynccontextmanager
async def role_follower_paused(following: Following) -> AsyncIterator[None]:
    """A follower of the Roles, watching once and then paused (the test resumes it); stopped after."""
    roles = ChildFollower(ROLES, following.controller, following.client, following.follower.following)
    task = asyncio.create_task(roles.run())
    try:
        await eventually(lambda: roles.watching == 1, message="the Role watch")
        following.gate.close()
        await eventually(lambda: roles.watching == 0, message="the watch stops when paused")
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_child_edited_while_paused_is_healed_when_the_listing_on_resume_brings_it(
    following: Following,
) -> None:
    async with role_follower_paused(following):
        name = ROLE_NAME
        role = await following.client.get(ROLES, name, following.namespace)
        wanted = role["rules"]
        await following.client.patch(
            ROLES, name, {"rules": [{**wanted[0], "verbs": ["get"]}]}, following.namespace
        )
        following.gate.open()

        # The listing's items carry no kind on a real server: the follower names it, or the edit would not
        # be recognised as this group's Role.
        async def healed() -> bool:
            current = await following.client.get(ROLES, name, following.namespace)
            return bool(current["rules"] == wanted)

        await eventually(healed, timeout=10, message="the Role healed on resume")


async def test_a_child_deleted_while_paused_is_recreated_on_resume(following: Following) -> None:
    async with role_follower_paused(following):
        name = ROLE_NAME
        deleted = await following.client.get(ROLES, name, following.namespace)
        await following.client.delete(ROLES, name, following.namespace)
        assert await following.client.get_or_none(ROLES, name, following.namespace) is None
        following.gate.open()

        # No DELETED event was watched: the listing's silence about the Role is the news (its tombstone).
        async def recreated() -> dict[str, Any] | None:
            role = await following.client.get_or_none(ROLES, name, following.namespace)
            return role if role and role["metadata"]["uid"] != deleted["metadata"]["uid"] else None

        role = await eventually(recreated, timeout=10, message="the Role recreated on resume")
        assert role["rules"] == deleted["rules"]


async def test_a_child_the_spec_no_longer_wants_leaves_no_tombstone(following: Following) -> None:
    namespace = following.namespace
    assert [
        t["metadata"]["name"] for t in following.controller.followed_children(DISRUPTION_BUDGETS, None)
    ] == [constants.disruption_budget_name("followed")]
    group = await following.client.patch(
        LEADERGROUPS, "followed", {"spec": {"placement": {"disruptionBudget": False}}}, namespace
    )
    assert await following.controller.reconcile(group) is None
    assert (
        await following.client.get_or_none(
            DISRUPTION_BUDGETS, constants.disruption_budget_name("followed"), namespace
        )
        is None
    )
    # Removed by the operator, not missed by a watch: a listing without it must not bring it back.
    assert following.controller.followed_children(DISRUPTION_BUDGETS, None) == []
    assert [t["kind"] for t in following.controller.followed_children(ROLES, namespace)] == ["Role"]


# ---- where Kopf keeps the Leases and pods: a namespace pattern, or `kopf run -m leadergroup.handlers`


def kopf_run_command(namespace: str, port: int) -> list[str]:
    """Kopf's own CLI with our handlers (its kubeconfig comes from $KUBECONFIG)."""
    return [
        sys.executable,
        "-m",
        "kopf",
        "run",
        "--standalone",
        "--namespace",
        namespace,
        "--liveness",
        f"http://127.0.0.1:{port}/healthz",
        "-m",
        "leadergroup.handlers",
    ]


@pytest.mark.parametrize("how", ["namespace-pattern", "kopf-run"])
async def test_without_our_watches_kopf_follows_the_leases_and_pods(
    cluster: Cluster, tmp_path: Path, how: str
) -> None:
    namespace = cluster.namespace
    port = free_port()
    if how == "namespace-pattern":
        pattern = f"{namespace[:-1]}*"  # matches the test's namespace: Kopf's namespace observer decides
        command = operator_command(
            cluster.kubeconfig, namespace=pattern, liveness_port=port, extra=["--standalone"]
        )
    else:
        command = kopf_run_command(namespace, port)
    log_path = tmp_path / "operator.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KUBECONFIG": str(cluster.kubeconfig)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until_alive(process, port, 30, lambda: log_path.read_text(errors="replace"))
        async with KubeClient.auto(cluster.kubeconfig) as client:
            body = yaml.safe_load(SAMPLE.read_text())
            body["metadata"] = {"name": "kopf-follows", "namespace": namespace}
            await client.create(LEADERGROUPS, body, namespace)
            lease = await eventually(
                lambda: client.get_or_none(LEASES, "kopf-follows", namespace), timeout=20, message="the Lease"
            )
            pods = await deployment_pods(client, cluster, "kopf-follows")
            lease["spec"].update(holderIdentity=pods[0], leaseDurationSeconds=15)
            await client.replace(LEASES, "kopf-follows", lease, namespace)

            async def shown() -> bool:
                group = await client.get(LEADERGROUPS, "kopf-follows", namespace)
                return (group.get("status") or {}).get("holder") == pods[0]

            await eventually(shown, timeout=20, message=f"status.holder through Kopf: {log_path}")

            # The pods too are Kopf's to follow here: the holder's pod is labelled the leader.
            async def labelled() -> bool:
                pod = await client.get(PODS, pods[0], namespace)
                return pod["metadata"]["labels"].get(constants.LABEL_ROLE) == constants.ROLE_LEADER

            await eventually(
                labelled, timeout=20, message=f"the leader's pod labelled through Kopf: {log_path}"
            )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert "Traceback" not in log_path.read_text(errors="replace")
