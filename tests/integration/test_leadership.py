"""Leader-aware groups: role labels follow the holder, the leader Service, fast failover, placement."""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.elector.fleet import Fleet, holder
from tests.integration.conftest import OPERATOR_TOKEN
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.identities import service_account_kubeconfig, service_account_user
from tests.support.operator_process import OperatorProcess
from tests.support.pods import deployment_pods
from tests.support.rbac import allowed, describe

from leadergroup import constants
from leadergroup.builders.leadership import DELETION_COST_ANNOTATION, LEADER_DELETION_COST
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import (
    DEPLOYMENTS,
    DISRUPTION_BUDGETS,
    LEADERGROUPS,
    LEASES,
    PODS,
    ROLES,
    SERVICES,
)
from leadergroup.leadership import release_dead_holder

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def group_body(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    body = yaml.safe_load((SAMPLES / "minimal.yaml").read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    body["spec"].pop("lockName", None)
    body["spec"].update(spec)
    return dict(body)


async def start_group(client: KubeClient, cluster: Cluster, body: dict[str, Any]) -> list[str]:
    """Create the group and return its pods' names (made by the stand-in controller on the emulator)."""
    await client.create(LEADERGROUPS, body, cluster.namespace)
    return await deployment_pods(client, cluster, body["metadata"]["name"])


async def take(client: KubeClient, namespace: str, lease_name: str, identity: str) -> None:
    lease = copy.deepcopy(await client.get(LEASES, lease_name, namespace))
    lease["spec"].update(holderIdentity=identity, leaseDurationSeconds=15)
    await client.replace(LEASES, lease_name, lease, namespace)


Roles = dict[str, tuple[str | None, str | None]]


async def roles(client: KubeClient, namespace: str, pods: list[str]) -> Roles:
    found = {}
    for name in pods:
        metadata = (await client.get(PODS, name, namespace))["metadata"]
        found[name] = (
            (metadata.get("labels") or {}).get(constants.LABEL_ROLE),
            (metadata.get("annotations") or {}).get(DELETION_COST_ANNOTATION),
        )
    return found


async def test_role_labels_follow_the_holder_and_the_service_selects_it(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    body = group_body(namespace, "routed", leaderService={"ports": [{"name": "http", "port": 80}]})
    pods = await start_group(client, cluster, body)
    assert len(pods) == 3

    for leader in (pods[0], pods[1]):
        await take(client, namespace, "routed", leader)
        expected = {
            pod: (("leader", LEADER_DELETION_COST) if pod == leader else ("follower", None)) for pod in pods
        }

        async def labelled(expected: dict[str, tuple[str, str | None]] = expected) -> bool:
            return await roles(client, namespace, pods) == expected

        await eventually(labelled, timeout=5, message=f"roles after {leader} took the Lease")

        service = await client.get(SERVICES, "routed-leader", namespace)
        selector = ",".join(f"{k}={v}" for k, v in sorted(service["spec"]["selector"].items()))
        selected = await client.list(PODS, namespace, label_selector=selector)
        assert [p["metadata"]["name"] for p in selected["items"]] == [leader]


async def operator_wrote_pod(cluster: Cluster, client: KubeClient, namespace: str, pod: str) -> bool:
    """Whether the operator ever wrote the pod: its requests on the emulator, managedFields on a real one."""
    if cluster.emulator is not None:
        return any(
            r.user == OPERATOR_TOKEN and r.verb == "patch" and r.resource == "pods" and r.name == pod
            for r in cluster.emulator.requests
        )
    fields = (await client.get(PODS, pod, namespace))["metadata"].get("managedFields") or []
    return any(entry.get("manager") == constants.MANAGER for entry in fields)


async def test_only_the_holders_pod_is_written_followers_start_labelled(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    pods = await start_group(client, cluster, group_body(namespace, "starts"))
    assert (await roles(client, namespace, pods)) == {pod: ("follower", None) for pod in pods}
    await take(client, namespace, "starts", pods[0])
    expected = {
        pod: (("leader", LEADER_DELETION_COST) if pod == pods[0] else ("follower", None)) for pod in pods
    }

    async def labelled() -> bool:
        return await roles(client, namespace, pods) == expected

    await eventually(labelled, timeout=5, message="the holder labelled leader")
    assert await operator_wrote_pod(cluster, client, namespace, pods[0])
    assert [pod for pod in pods[1:] if await operator_wrote_pod(cluster, client, namespace, pod)] == []


async def test_a_deployment_without_the_template_role_label_is_not_rolled_out(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    """A Deployment made before its template carried the role label keeps its pods: no rollout to add it."""
    namespace = cluster.namespace
    await start_group(client, cluster, group_body(namespace, "older"))
    # As an earlier version made it; the hand-removed managed-by label is drift the operator does fix,
    # so its patch shows that it judged this very object.
    older = {
        "metadata": {"labels": {constants.LABEL_MANAGED_BY: None}},
        "spec": {"template": {"metadata": {"labels": {constants.LABEL_ROLE: None}}}},
    }
    edited = await client.patch(DEPLOYMENTS, "older", older, namespace)

    async def relabelled() -> dict[str, Any] | None:
        deployment = await client.get(DEPLOYMENTS, "older", namespace)
        labels = deployment["metadata"].get("labels") or {}
        return deployment if labels.get(constants.LABEL_MANAGED_BY) == constants.MANAGER else None

    healed = await eventually(relabelled, timeout=10, message="the Deployment's own label restored")
    assert healed["metadata"]["generation"] == edited["metadata"]["generation"]
    assert constants.LABEL_ROLE not in healed["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("failover", [True, False], ids=["fast-failover", "no-fast-failover"])
async def test_deleting_the_holder_pod_hands_over(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient, tmp_path: Path, failover: bool
) -> None:
    namespace = cluster.namespace
    # A lease long enough that only the fast path can explain a quick takeover.
    election = {"leaseDurationSeconds": 12, "renewDeadlineSeconds": 6, "retryPeriodSeconds": 1}
    body = group_body(namespace, "fast", election=election, failover={"releaseOnHolderDeletion": failover})
    pods = await start_group(client, cluster, body)
    # The electors act as the group's ServiceAccount, with only the Role the operator gave it.
    identity = await service_account_kubeconfig(cluster, client, "fast", tmp_path)
    fleet = Fleet(cluster, tmp_path, lease_name="fast", kubeconfig=identity)
    timing = ("-lease-duration=12s", "-renew-deadline=6s", "-retry-period=1s")
    try:
        for pod in pods:
            fleet.start(pod, flags=timing)
        first = await eventually(lambda: holder(client, namespace, "fast"), timeout=10, message="a holder")
        # The holder's pod is deleted: its process is gone with it.
        fleet.kill(first)
        await client.delete(PODS, first, namespace)
        deleted_at = time.monotonic()

        async def new_holder() -> str | None:
            current = await holder(client, namespace, "fast")
            return current if current and current != first else None

        if failover:
            # A standby polls every RP·[1, 2.2): well within the 12 s lease.
            taken_by = await eventually(new_holder, timeout=2.2 * 1 + 1.5, message="takeover within a retry")
            assert taken_by in pods and taken_by != first
            assert time.monotonic() - deleted_at < 12 - 4
        else:
            # Without the release, the Lease keeps naming the dead pod through the window in which the
            # fast path would have handed over; candidates wait for the 12 s lease to expire.
            while time.monotonic() - deleted_at < 2.2 * 1 + 1.5:
                assert await holder(client, namespace, "fast") == first
                await asyncio.sleep(0.1)
    finally:
        fleet.close()
    if cluster.emulator is not None:
        role = await client.get(ROLES, "fast-lease", namespace)
        user = service_account_user(namespace, "fast")
        made = [r for r in cluster.emulator.requests if r.user == user]
        assert made and all(r.resource == "leases" for r in made)
        refused = [describe(r) for r in made if not allowed(r, role["rules"])]
        assert refused == [], "elector requests the group's Role does not allow"


async def test_conditional_release_never_overrides_a_renewal(cluster: Cluster, client: KubeClient) -> None:
    namespace = cluster.namespace
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "raced", "namespace": namespace},
        "spec": {
            "holderIdentity": "pod-a",
            "leaseDurationSeconds": 15,
            "renewTime": "2026-07-24T12:00:00.000000Z",
        },
    }
    observed = await client.create(LEASES, lease, namespace)
    # The holder renews after the operator observed the Lease (so the pod was not dead after all).
    renewed = copy.deepcopy(observed)
    renewed["spec"]["renewTime"] = "2026-07-24T12:00:02.000000Z"
    renewed = await client.replace(LEASES, "raced", renewed, namespace)
    assert not await release_dead_holder(client, observed, "pod-a")
    after = await client.get(LEASES, "raced", namespace)
    assert after["spec"]["holderIdentity"] == "pod-a"
    assert after["metadata"]["resourceVersion"] == renewed["metadata"]["resourceVersion"]

    # A change that is not a renewal (a label) only refreshes the precondition: the release goes through.
    await client.patch(LEASES, "raced", {"metadata": {"labels": {"x": "y"}}}, namespace)
    assert await release_dead_holder(client, after, "pod-a")
    released = await client.get(LEASES, "raced", namespace)
    assert released["spec"]["holderIdentity"] == ""
    assert released["spec"]["leaseDurationSeconds"] == 1


async def test_placement_is_present_and_removable_by_spec(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    await client.create(LEADERGROUPS, group_body(namespace, "placed"), namespace)

    async def placed() -> bool:
        try:
            deployment = await client.get(DEPLOYMENTS, "placed", namespace)
            budget = await client.get(DISRUPTION_BUDGETS, "placed", namespace)
        except ApiError:
            return False
        spread = deployment["spec"]["template"]["spec"].get("topologySpreadConstraints") or []
        return bool(spread) and budget["spec"]["maxUnavailable"] == 1

    await eventually(placed, timeout=10, message="spread constraint and PodDisruptionBudget")
    patch = {"spec": {"placement": {"spreadAcrossNodes": False, "disruptionBudget": False}}}
    await client.patch(LEADERGROUPS, "placed", patch, namespace)

    async def removed() -> bool:
        deployment = await client.get(DEPLOYMENTS, "placed", namespace)
        try:
            await client.get(DISRUPTION_BUDGETS, "placed", namespace)
            return False
        except ApiError as error:
            if not error.not_found:
                raise
        return "topologySpreadConstraints" not in deployment["spec"]["template"]["spec"]

    await eventually(removed, timeout=10, message="spread constraint and budget removed")


async def test_a_holder_pod_leaving_the_selector_keeps_its_lease(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    """Watches report a pod that loses its labels as DELETED; only a pod gone from the API is dead."""
    namespace = cluster.namespace
    pods = await start_group(client, cluster, group_body(namespace, "quarantine"))
    await take(client, namespace, "quarantine", pods[0])

    async def labelled() -> bool:
        return (await roles(client, namespace, [pods[0]]))[pods[0]][0] == "leader"

    await eventually(labelled, timeout=5, message="the holder is labelled leader")
    # Taken out of the group's selector (quarantined by hand): alive, still renewing.
    quarantine = {"metadata": {"labels": {constants.LABEL_MANAGED_BY: None}}}
    await client.patch(PODS, pods[0], quarantine, namespace)
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        lease = await client.get(LEASES, "quarantine", namespace)
        assert lease["spec"]["holderIdentity"] == pods[0], "the Lease of a live holder was released"
        await asyncio.sleep(0.1)


def container_status(name: str, image: str, *, restarts: int = 0, terminated: bool = False) -> dict[str, Any]:
    """One containerStatuses entry as the kubelet writes it."""
    stamp = "2026-07-24T12:00:00Z"
    state: dict[str, Any] = (
        {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": stamp, "finishedAt": stamp}}
        if terminated
        else {"running": {"startedAt": stamp}}
    )
    return {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": not terminated,
        "started": not terminated,
        "restartCount": restarts,
        "state": state,
    }


async def report(client: KubeClient, namespace: str, pod: str, statuses: list[dict[str, Any]]) -> None:
    """Write the pod's container statuses through the status subresource, as the kubelet does."""
    await client.patch(
        PODS, pod, {"status": {"containerStatuses": statuses}}, namespace, subresource="status"
    )


EXIT_CASES = {
    # case: (failover spec, what the kubelet reports of the holder's pod, whether the Lease is released)
    "elector-terminated": ({}, [("app", True, 0)], True),
    "elector-restarted": ({}, [("app", False, 1)], True),
    "sidecar-elector-terminated": (
        {"electorContainer": "elector"},
        [("app", False, 0), ("elector", True, 0)],
        True,
    ),
    "app-next-to-sidecar-terminated": (
        {"electorContainer": "elector"},
        [("app", True, 0), ("elector", False, 0)],
        False,
    ),
    "signal-turned-off": ({"releaseOnElectorExit": False}, [("app", True, 0)], False),
}


@pytest.mark.parametrize("case", list(EXIT_CASES), ids=list(EXIT_CASES))
async def test_a_dead_elector_container_releases_the_lease(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient, tmp_path: Path, case: str
) -> None:
    failover, reported, released = EXIT_CASES[case]
    namespace = cluster.namespace
    election = {"leaseDurationSeconds": 12, "renewDeadlineSeconds": 6, "retryPeriodSeconds": 1}
    body = group_body(namespace, "exits", election=election, failover=failover)
    containers = body["spec"]["template"]["spec"]["containers"]
    containers.append({"name": "elector", "image": "leadergroup-operator:0.1.0"})
    pods = await start_group(client, cluster, body)
    images = {c["name"]: c["image"] for c in containers}
    for pod in pods:  # the kubelet's first report: everything running, nothing restarted yet
        await report(
            client, namespace, pod, [container_status(name, image) for name, image in images.items()]
        )
    identity = await service_account_kubeconfig(cluster, client, "exits", tmp_path)
    fleet = Fleet(cluster, tmp_path, lease_name="exits", kubeconfig=identity)
    timing = ("-lease-duration=12s", "-renew-deadline=6s", "-retry-period=1s")
    try:
        for pod in pods:
            fleet.start(pod, flags=timing)
        first = await eventually(lambda: holder(client, namespace, "exits"), timeout=10, message="a holder")
        fleet.kill(first)  # the holder's process dies; the kubelet reports what it saw of the containers
        statuses = [
            container_status(name, images[name], restarts=restarts, terminated=terminated)
            for name, terminated, restarts in reported
        ]
        await report(client, namespace, first, statuses)
        reported_at = time.monotonic()

        async def new_holder() -> str | None:
            current = await holder(client, namespace, "exits")
            return current if current and current != first else None

        if released:
            taken_by = await eventually(new_holder, timeout=2.2 * 1 + 2.0, message="takeover within a retry")
            assert taken_by in pods
            assert time.monotonic() - reported_at < 12 - 4, "faster than the lease could expire"
        else:
            while time.monotonic() - reported_at < 2.2 * 1 + 2.0:
                assert await holder(client, namespace, "exits") == first, (
                    "released on a signal it must ignore"
                )
                await asyncio.sleep(0.1)
    finally:
        fleet.close()


async def test_a_standby_takes_a_released_lease_before_its_next_poll(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient, tmp_path: Path
) -> None:
    # Polls at least 10 s apart: a takeover within a few seconds of the release can only come from the
    # standby's watch of its Lease, which the group's Role must allow (list/watch on that one name).
    namespace = cluster.namespace
    election = {"leaseDurationSeconds": 30, "renewDeadlineSeconds": 20, "retryPeriodSeconds": 10}
    pods = await start_group(client, cluster, group_body(namespace, "watched", election=election))
    identity = await service_account_kubeconfig(cluster, client, "watched", tmp_path)
    fleet = Fleet(cluster, tmp_path, lease_name="watched", kubeconfig=identity)
    timing = ("-lease-duration=30s", "-renew-deadline=20s", "-retry-period=10s")
    try:
        first = fleet.start(pods[0], flags=timing)
        await eventually(lambda: first.is_leading(), timeout=10, message="the first elector leads")
        standby = fleet.start(pods[1], flags=timing)
        await eventually(
            lambda: "Attempting to acquire" in standby.log(), timeout=10, message="the standby polled once"
        )
        polled_at = time.monotonic()
        await asyncio.sleep(0.5)  # its first poll found the Lease held
        fleet.terminate(first.identity)  # graceful: it releases the Lease

        async def taken() -> bool:
            return await holder(client, namespace, "watched") == standby.identity

        await eventually(taken, timeout=6, message="the standby takes the released Lease")
        assert time.monotonic() - polled_at < 10, "sooner than its next poll could have come"
    finally:
        fleet.close()
    if cluster.emulator is not None:
        user = service_account_user(namespace, "watched")
        watches = [r for r in cluster.emulator.requests if r.user == user and r.verb == "watch"]
        assert watches and all(r.name == "watched" for r in watches), "a single-object watch, by name"
