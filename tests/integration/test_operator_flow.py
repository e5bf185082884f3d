"""The operator end to end: a LeaderGroup becomes its children, its status follows the Lease, drift heals."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.operator_process import OperatorProcess
from tests.support.tables import table_rows

from leadergroup import constants
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import (
    DEPLOYMENTS,
    EVENTS,
    LEADERGROUPS,
    LEASES,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
)

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"


def sample(name: str, namespace: str) -> dict[str, Any]:
    body = yaml.safe_load((SAMPLES / name).read_text())
    body["metadata"]["namespace"] = namespace
    return dict(body)


def condition(group: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in group.get("status", {}).get("conditions", []) if c["type"] == kind), {})


async def wait_stalled(client: KubeClient, name: str, namespace: str) -> dict[str, Any]:
    """The group's Stalled condition once it is True."""

    async def stalled() -> dict[str, Any] | None:
        found = condition(await client.get(LEADERGROUPS, name, namespace), "Stalled")
        return found if found.get("status") == "True" else None

    found: dict[str, Any] = await eventually(stalled, timeout=10, message=f"{name} goes Stalled")
    return found


async def take_lease(client: KubeClient, name: str, namespace: str, holder: str) -> dict[str, Any]:
    """Acquire the Lease as an elector does: a conditional PUT of the record."""
    lease = await client.get(LEASES, name, namespace)
    lease = copy.deepcopy(lease)
    old = lease["spec"].get("holderIdentity") or ""
    lease["spec"].update(
        holderIdentity=holder,
        leaseDurationSeconds=15,
        acquireTime="2026-07-24T12:00:00.000000Z",
        renewTime="2026-07-24T12:00:00.000000Z",
        leaseTransitions=int(lease["spec"].get("leaseTransitions") or 0)
        + (1 if old and old != holder else 0),
    )
    return await client.replace(LEASES, name, lease, namespace)


async def test_seed_sample_end_to_end(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    group = await client.create(LEADERGROUPS, sample("seed.yaml", namespace), namespace)
    name, uid = group["metadata"]["name"], group["metadata"]["uid"]
    lock = group["spec"]["lockName"]

    async def children() -> dict[str, dict[str, Any]] | None:
        found = {
            "ServiceAccount": await client.get_or_none(SERVICE_ACCOUNTS, name, namespace),
            "Role": await client.get_or_none(ROLES, f"{name}-lease", namespace),
            "RoleBinding": await client.get_or_none(ROLE_BINDINGS, f"{name}-lease", namespace),
            "Lease": await client.get_or_none(LEASES, lock, namespace),
            "Deployment": await client.get_or_none(DEPLOYMENTS, name, namespace),
        }
        return found if all(found.values()) else None

    created = await eventually(children, timeout=10, message="the five children")
    for kind, child in created.items():
        references = child["metadata"]["ownerReferences"]
        assert [(r["kind"], r["name"], r["uid"], r.get("controller")) for r in references] == [
            ("LeaderGroup", name, uid, True)
        ], kind
        assert child["metadata"]["labels"][constants.LABEL_GROUP] == name
        assert child["metadata"]["labels"][constants.LABEL_MANAGED_BY] == constants.MANAGER
    assert created["Role"]["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lock],
            "verbs": ["get", "update", "patch", "list", "watch"],
        }
    ]
    assert created["RoleBinding"]["subjects"][0]["name"] == name
    assert not created["Lease"]["spec"].get("holderIdentity")
    pod_spec = created["Deployment"]["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == name
    env = {e["name"]: e for e in pod_spec["containers"][0]["env"]}
    assert env["LEASE_NAME"]["value"] == lock
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"

    # An elector takes the Lease: the group's status follows.
    await take_lease(client, lock, namespace, "elector-7d4b9c-abcde")

    async def holder_shown() -> bool:
        current = await client.get(LEADERGROUPS, name, namespace)
        return current.get("status", {}).get("holder") == "elector-7d4b9c-abcde"

    await eventually(holder_shown, timeout=5, message="status.holder follows the Lease")

    async def leader_changed_event() -> dict[str, Any] | None:
        events = (await client.list(EVENTS, namespace))["items"]
        return next(
            (
                event
                for event in events
                if event["reason"] == "LeaderChanged" and event["involvedObject"].get("uid") == uid
            ),
            None,
        )

    event = await eventually(leader_changed_event, timeout=5, message="a LeaderChanged Event")
    assert event["message"] == "Leader changed from (none) to elector-7d4b9c-abcde"
    assert event["involvedObject"]["kind"] == "LeaderGroup"
    assert event["type"] == "Normal"

    # The Lease deleted by hand comes back with its last record: the holder keeps renewing it, and no
    # standby takes an empty Lease while the holder still believes it leads.
    old_lease_uid = (await client.get(LEASES, lock, namespace))["metadata"]["uid"]
    await client.delete(LEASES, lock, namespace)

    async def lease_back() -> dict[str, Any] | None:
        lease = await client.get_or_none(LEASES, lock, namespace)
        return lease if lease and lease["metadata"]["uid"] != old_lease_uid else None

    recreated = await eventually(lease_back, timeout=5, message="the Lease is recreated")
    assert recreated["spec"]["holderIdentity"] == "elector-7d4b9c-abcde"

    # The Deployment deleted by hand comes back.
    old_uid = created["Deployment"]["metadata"]["uid"]
    await client.delete(DEPLOYMENTS, name, namespace)

    async def deployment_back() -> bool:
        again = await client.get_or_none(DEPLOYMENTS, name, namespace)
        return bool(again and again["metadata"]["uid"] != old_uid)

    await eventually(deployment_back, timeout=5, message="the Deployment is recreated")

    # Scaled by hand: scaled back.
    await client.patch(DEPLOYMENTS, name, {"spec": {"replicas": 1}}, namespace)

    async def scaled_back() -> bool:
        again = await client.get(DEPLOYMENTS, name, namespace)
        return bool(again["spec"]["replicas"] == group["spec"]["replicas"])

    await eventually(scaled_back, timeout=5, message="replicas restored")


async def test_unowned_child_is_left_alone_and_reported(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    foreign_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "taken-lease", "namespace": namespace, "labels": {"team": "someone-else"}},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    foreign_role = await client.create(ROLES, foreign_role, namespace)
    body = sample("minimal.yaml", namespace)
    body["metadata"]["name"] = "taken"
    body["spec"].pop("lockName", None)
    await client.create(LEADERGROUPS, body, namespace)

    found = await wait_stalled(client, "taken", namespace)
    assert found["reason"] == "ChildNotOwned"
    assert f"Role {namespace}/taken-lease" in found["message"]
    group = await client.get(LEADERGROUPS, "taken", namespace)
    assert group["status"]["state"] == "Stalled"
    (row,) = table_rows(cluster.kubectl("get", "lg", "taken", "-n", namespace).stdout)
    assert row["STATUS"] == "Stalled" and row["READY"] == "0/3" and row["HOLDER"] == "", row

    # Told once per change, not once per retry: the operator retries every second here.
    await eventually(
        lambda: operator.log().count("Stalled: ") >= 3, timeout=15, message="the operator retries the group"
    )

    async def warnings() -> list[dict[str, Any]]:
        events = (await client.list(EVENTS, namespace))["items"]
        return [e for e in events if e["type"] == "Warning" and e["involvedObject"]["name"] == "taken"]

    (warning,) = await eventually(warnings, timeout=5, message="a Warning Event on the group")
    assert warning["reason"] == "ChildNotOwned"
    assert warning["message"] == found["message"]
    assert f"LeaderGroup {namespace}/taken is stalled (ChildNotOwned)" in operator.log()
    role = await client.get(ROLES, "taken-lease", namespace)
    assert role["rules"] == foreign_role["rules"]
    assert role["metadata"]["resourceVersion"] == foreign_role["metadata"]["resourceVersion"]
    assert not role["metadata"].get("ownerReferences")

    # Once the user removes the blocker, the group recovers by itself.
    await client.delete(ROLES, "taken-lease", namespace)

    async def recovered() -> bool:
        group = await client.get(LEADERGROUPS, "taken", namespace)
        role = await client.get_or_none(ROLES, "taken-lease", namespace)
        return condition(group, "Stalled").get("status") == "False" and role is not None

    await eventually(recovered, timeout=10, message="the group recovers once the blocker is gone")
    assert len(await warnings()) == 1, "recovering posts no further Warning"


async def test_a_lock_taken_by_a_foreign_lease_grants_no_rights_to_it(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    # Another controller's Lease: a group whose lockName names it must not give its pods a Role on it,
    # or any pod run as the group's ServiceAccount could take over that controller's election.
    namespace = cluster.namespace
    foreign_lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "someone-elses-lock", "namespace": namespace},
        "spec": {"holderIdentity": "their-controller-0", "leaseDurationSeconds": 15},
    }
    foreign_lease = await client.create(LEASES, foreign_lease, namespace)
    body = sample("minimal.yaml", namespace)
    body["metadata"]["name"] = "squatter"
    body["spec"]["lockName"] = "someone-elses-lock"
    await client.create(LEADERGROUPS, body, namespace)

    found = await wait_stalled(client, "squatter", namespace)
    assert found["reason"] == "ChildNotOwned"
    assert f"Lease {namespace}/someone-elses-lock" in found["message"]
    assert await client.get_or_none(SERVICE_ACCOUNTS, "squatter", namespace) is not None
    assert await client.get_or_none(ROLES, "squatter-lease", namespace) is None
    assert await client.get_or_none(ROLE_BINDINGS, "squatter-lease", namespace) is None
    assert await client.get_or_none(DEPLOYMENTS, "squatter", namespace) is None
    lease = await client.get(LEASES, "someone-elses-lock", namespace)
    assert lease["metadata"]["resourceVersion"] == foreign_lease["metadata"]["resourceVersion"]
    assert not lease["metadata"].get("ownerReferences")

    # The lock freed, the group makes its own Lease and the rights to it.
    await client.delete(LEASES, "someone-elses-lock", namespace)

    async def recovered() -> bool:
        role = await client.get_or_none(ROLES, "squatter-lease", namespace)
        lease = await client.get_or_none(LEASES, "someone-elses-lock", namespace)
        return role is not None and lease is not None and bool(lease["metadata"].get("ownerReferences"))

    await eventually(recovered, timeout=10, message="the group recovers once the Lease is gone")


async def test_deleting_the_group_removes_its_children(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    group = await client.create(LEADERGROUPS, sample("minimal.yaml", namespace), namespace)
    name = group["metadata"]["name"]
    await eventually(lambda: client.get_or_none(DEPLOYMENTS, name, namespace), timeout=10)
    await client.delete(LEADERGROUPS, name, namespace)

    async def gone() -> bool:
        return all(
            [
                await client.get_or_none(DEPLOYMENTS, name, namespace) is None,
                await client.get_or_none(SERVICE_ACCOUNTS, name, namespace) is None,
                await client.get_or_none(ROLES, f"{name}-lease", namespace) is None,
            ]
        )

    # The real garbage collector notices a new CRD at its next discovery pass (every 30 s) at worst.
    await eventually(gone, timeout=60, message="children garbage-collected")
