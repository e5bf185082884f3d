"""The shipped ClusterRole grants exactly what the operator uses.

The operator runs as shipped (cluster-wide, with Kopf peering, its own token on the emulator) through a
scenario that exercises every code path that talks to the API; every request it makes must be allowed by
manifests/clusterrole.yaml, and every permission there must have been used — except the deliberate ones
listed in ``DELIBERATE``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import rbac
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.operator_process import OperatorProcess

from leadergroup import constants
from leadergroup.cli.peering import CLUSTER_PEERINGS, DEFAULT_PEERING_NAME
from leadergroup.kube import KubeClient
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
from leadergroup.sim.standins import replicate

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"
OPERATOR_TOKEN = "leadergroup-operator"
# Granted although the scenario never needs them, each with its reason. Empty today: `update` on leases,
# which the operator must hold anyway to create Roles granting it (RBAC escalation prevention), is also
# used by fast failover (releasing a deleted holder's Lease).
DELIBERATE: set[rbac.Grant] = set()


def group_body(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    body = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    body["spec"].update(spec)
    return dict(body)


@pytest.fixture
def shipped_operator(
    cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[OperatorProcess]:
    """The operator with the shipped arguments: every namespace, peering through the default object."""
    process = OperatorProcess(
        cluster.kubeconfig_for(OPERATOR_TOKEN), None, tmp_path / "operator.log", "--peering-lifetime", "10"
    )
    process.start()
    yield process
    process.terminate()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"---- operator log ----\n{process.log()[-20000:]}")


@pytest.mark.emulator_only("attributes requests to the operator by its bearer token in the emulator's log")
async def test_shipped_cluster_role_covers_exactly_what_the_operator_does(
    cluster: Cluster, shipped_operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    assert cluster.emulator is not None

    # Create: a plain group and one with a leader Service.
    await client.create(LEADERGROUPS, group_body("plain", namespace), namespace)
    ports = [{"name": "http", "port": 80, "targetPort": 8080}]
    await client.create(
        LEADERGROUPS, group_body("routed", namespace, leaderService={"ports": ports}), namespace
    )
    await eventually(lambda: client.get_or_none(DEPLOYMENTS, "plain", namespace), timeout=10)
    await eventually(lambda: client.get_or_none(SERVICES, "routed-leader", namespace), timeout=10)

    # Update: replicas follow the spec.
    await client.patch(LEADERGROUPS, "plain", {"spec": {"replicas": 2}}, namespace)

    async def scaled() -> bool:
        deployment = await client.get_or_none(DEPLOYMENTS, "plain", namespace)
        return bool(deployment and deployment["spec"]["replicas"] == 2)

    await eventually(scaled, timeout=10, message="the Deployment follows spec.replicas")

    # Children edited by hand are patched back at the next reconcile (here: a spec change). Unlabelled,
    # they drop out of the operator's label-filtered watches, so only a reconcile brings them back.
    children = [
        (SERVICE_ACCOUNTS, "routed"),
        (ROLES, "routed-lease"),
        (ROLE_BINDINGS, "routed-lease"),
        (LEASES, "routed"),
        (SERVICES, "routed-leader"),
        (DISRUPTION_BUDGETS, "routed"),
    ]
    tampered = {"metadata": {"labels": {constants.LABEL_MANAGED_BY: "someone-else"}}}
    for resource, name in children:
        await client.patch(resource, name, tampered, namespace)
    await client.patch(LEADERGROUPS, "routed", {"spec": {"replicas": 2}}, namespace)
    for resource, name in children:

        async def healed(resource: Any = resource, name: str = name) -> bool:
            labels = (await client.get(resource, name, namespace))["metadata"].get("labels") or {}
            return bool(labels.get(constants.LABEL_MANAGED_BY) == constants.MANAGER)

        await eventually(healed, timeout=10, message=f"{resource} {name} healed")

    # Optional children dropped from the spec are deleted (Service, PodDisruptionBudget).
    await client.patch(
        LEADERGROUPS,
        "routed",
        {"spec": {"leaderService": None, "placement": {"disruptionBudget": False}}},
        namespace,
    )
    await eventually(
        lambda: _absent(client, SERVICES, "routed-leader", namespace), timeout=10, message="Service removed"
    )

    # A child deleted by hand comes back.
    role = await client.get(ROLES, "plain-lease", namespace)
    await client.delete(ROLES, "plain-lease", namespace)

    async def role_back() -> bool:
        again = await client.get_or_none(ROLES, "plain-lease", namespace)
        return bool(again and again["metadata"]["uid"] != role["metadata"]["uid"])

    await eventually(role_back, timeout=10, message="the Role is recreated")

    # A child's name taken by an object the group does not own: Stalled, and Kopf retries the group (its
    # retry progress is the one write to a LeaderGroup outside status); freed, the group converges.
    squatter = {"metadata": {"name": "squatted", "namespace": namespace}}
    await client.create(SERVICE_ACCOUNTS, squatter, namespace)
    await client.create(LEADERGROUPS, group_body("squatted", namespace), namespace)

    async def retried() -> bool:
        group = await client.get(LEADERGROUPS, "squatted", namespace)
        return f"{constants.GROUP}/reconcile_group" in (group["metadata"].get("annotations") or {})

    await eventually(retried, timeout=10, message="Kopf keeps the stalled group's retry")
    await client.delete(SERVICE_ACCOUNTS, "squatted", namespace)
    await eventually(lambda: client.get_or_none(DEPLOYMENTS, "squatted", namespace), timeout=10)

    # Pods appear (stand-in controllers); the Lease changes hands: status follows, pods get their roles,
    # a LeaderChanged Event is posted.
    pods = await replicate(client, namespace, "plain")
    lease = copy.deepcopy(await client.get(LEASES, "plain", namespace))
    lease["spec"].update(holderIdentity=pods[0], leaseDurationSeconds=15)
    await client.replace(LEASES, "plain", lease, namespace)

    async def labelled() -> bool:
        pod = await client.get(PODS, pods[0], namespace)
        return bool((pod["metadata"].get("labels") or {}).get(constants.LABEL_ROLE) == constants.ROLE_LEADER)

    await eventually(labelled, timeout=10, message="the holder's pod is labelled leader")

    async def event_posted() -> bool:
        events = await client.list(EVENTS, namespace)
        return any(e.get("reason") == "LeaderChanged" for e in events.get("items", []))

    await eventually(event_posted, timeout=10, message="a LeaderChanged Event")

    # The holder's pod is deleted: fast failover clears the Lease's holder.
    await client.delete(PODS, pods[0], namespace)

    async def released() -> bool:
        current = await client.get(LEASES, "plain", namespace)
        return not current["spec"].get("holderIdentity")

    await eventually(released, timeout=10, message="the Lease is released")

    # The group goes away.
    await client.delete(LEADERGROUPS, "plain", namespace)
    await eventually(lambda: _absent(client, DEPLOYMENTS, "plain", namespace), timeout=10)

    # Keep-alives and their removal on exit are part of what the operator does.
    await eventually(lambda: _peering_records(client), timeout=15, message="a keep-alive")
    assert shipped_operator.terminate() == 0

    requests = [r for r in cluster.emulator.requests if r.user == OPERATOR_TOKEN]
    rules = rbac.cluster_role_rules()
    refused = rbac.denied(requests, rules)
    assert not refused, f"requests the shipped ClusterRole would refuse: {refused}"
    unused = {grant for grant in rbac.grants(rules) if not rbac.used(grant, requests)}
    needless = sorted(map(str, unused - DELIBERATE))
    assert not needless, f"granted but never used (remove, or justify in DELIBERATE): {needless}"
    stale = sorted(map(str, DELIBERATE - unused))
    assert not stale, f"deliberate exceptions that are in use now (drop them from DELIBERATE): {stale}"


async def _absent(client: KubeClient, resource: Any, name: str, namespace: str) -> bool:
    return await client.get_or_none(resource, name, namespace) is None


async def _peering_records(client: KubeClient) -> dict[str, Any]:
    body = await client.get_or_none(CLUSTER_PEERINGS, DEFAULT_PEERING_NAME, None)
    return dict((body or {}).get("status") or {})


def test_rbac_matching_follows_kube_rules() -> None:
    """The checker itself: subresources, resourceNames, discovery."""

    class Record:
        def __init__(self, verb: str, group: str, resource: str, **kw: Any) -> None:
            self.verb, self.group, self.resource = verb, group, resource
            self.subresource = kw.get("subresource")
            self.name = kw.get("name")
            self.path = kw.get("path", "")

    rules = [
        {"apiGroups": ["leadergroup.dev"], "resources": ["leadergroups"], "verbs": ["get", "patch"]},
        {
            "apiGroups": ["kopf.dev"],
            "resources": ["clusterkopfpeerings"],
            "resourceNames": ["p"],
            "verbs": ["get"],
        },
    ]
    assert rbac.allowed(Record("patch", "leadergroup.dev", "leadergroups", name="x"), rules)
    assert not rbac.allowed(Record("patch", "leadergroup.dev", "leadergroups", subresource="status"), rules)
    assert not rbac.allowed(Record("get", "", "leadergroups"), rules), "the API group matters"
    assert rbac.allowed(Record("get", "kopf.dev", "clusterkopfpeerings", name="p"), rules)
    assert not rbac.allowed(Record("get", "kopf.dev", "clusterkopfpeerings", name="q"), rules)
    assert not rbac.allowed(Record("list", "kopf.dev", "clusterkopfpeerings"), rules), (
        "names never match a list"
    )
    assert rbac.allowed(Record("get", "", "", path="/apis/apps/v1"), rules), "discovery is for everyone"
    assert not rbac.allowed(Record("post", "", "", path="/apis/apps/v1"), rules)


def _can_i(cluster: Cluster, subject: str, namespace: str, *what: str) -> bool:
    result = cluster.kubectl(
        "auth", "can-i", "--as", subject, "-n", namespace, *what, check=False, timeout=30
    )
    return result.stdout.strip() == "yes"


@pytest.mark.real_cluster_only("asks the real API server's authorizer (kubectl auth can-i)")
async def test_group_service_account_may_hold_its_own_lease_and_nothing_else(
    cluster: Cluster, operator: OperatorProcess, client: KubeClient
) -> None:
    namespace = cluster.namespace
    await client.create(LEADERGROUPS, group_body("canary", namespace, lockName="canary-lock"), namespace)
    await eventually(lambda: client.get_or_none(ROLES, "canary-lease", namespace), timeout=20)
    subject = f"system:serviceaccount:{namespace}:canary"

    async def bound() -> bool:
        return _can_i(cluster, subject, namespace, "get", "leases/canary-lock")

    await eventually(bound, timeout=20, message="the RoleBinding takes effect")
    # list/watch on the one name: the single-object watch (fieldSelector=metadata.name=canary-lock).
    for verb in ("get", "update", "patch", "list", "watch"):
        assert _can_i(cluster, subject, namespace, verb, "leases/canary-lock"), verb
    for what in (
        ("list", "leases"),
        ("watch", "leases"),
        ("watch", "leases/another-lock"),
        ("create", "leases"),
        ("delete", "leases/canary-lock"),
        ("get", "leases/another-lock"),
        ("update", "leases/another-lock"),
        ("get", "pods"),
        ("get", "secrets"),
    ):
        assert not _can_i(cluster, subject, namespace, *what), what
