"""Two operator replicas with Kopf peering: one works, the other takes over when it dies.

Each replica gets its own bearer token on the emulator (``operator-a``, ``operator-b``), so the request
log tells who wrote what. Peering here is namespaced (the ``operator`` helper serves one namespace); the
replicas create their ``KopfPeering`` themselves, as the shipped cluster-wide ones do.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.operator_process import OperatorProcess

from leadergroup.cli.peering import NAMESPACED_PEERINGS
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, LEASES

pytestmark = pytest.mark.emulator_only("tells the replicas apart by their bearer tokens in the request log")

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
PEERING_RESOURCES = {"kopfpeerings", "clusterkopfpeerings"}
# Short, so that the crash test is quick: keep-alives every second, a standby waits at most 3 s.
LIFETIME = 3


def group_body(name: str, namespace: str) -> dict[str, Any]:
    body = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    return dict(body)


def work_writes(cluster: Cluster, user: str, since: float = 0.0) -> list[str]:
    """Writes by ``user`` other than peering keep-alives: the work only the active replica may do."""
    assert cluster.emulator is not None
    return [
        f"{r.verb} {r.resource}/{r.name or ''}"
        for r in cluster.emulator.requests
        if r.user == user and r.time >= since and r.verb in WRITES and r.resource not in PEERING_RESOURCES
    ]


class Replicas:
    """Operator processes sharing one peering object, each with its own token."""

    def __init__(self, cluster: Cluster, tmp_path: Path, lifetime: int = LIFETIME) -> None:
        self.cluster = cluster
        self.tmp_path = tmp_path
        self.lifetime = lifetime
        self.peering = f"lgtest-{secrets.token_hex(3)}"
        self.processes: dict[str, OperatorProcess] = {}

    def start(self, user: str, *extra: str) -> OperatorProcess:
        process = OperatorProcess(
            self.cluster.kubeconfig_for(user),
            self.cluster.namespace,
            self.tmp_path / f"{user}.log",
            "--peering",
            self.peering,
            "--peering-lifetime",
            str(self.lifetime),
            *extra,
        )
        self.processes[user] = process
        return process.start()

    async def records(self, client: KubeClient) -> dict[str, dict[str, Any]]:
        body = await client.get_or_none(NAMESPACED_PEERINGS, self.peering, self.cluster.namespace)
        return dict((body or {}).get("status") or {})

    def logs(self) -> str:
        return "\n".join(f"---- {user} ----\n{p.log()[-8000:]}" for user, p in self.processes.items())


@pytest.fixture
def replicas(cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Replicas]:
    group = Replicas(cluster, tmp_path)
    yield group
    for process in group.processes.values():
        process.terminate()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(group.logs())


async def deployment_of(client: KubeClient, name: str, namespace: str) -> dict[str, Any] | None:
    return await client.get_or_none(DEPLOYMENTS, name, namespace)


async def take_lease(client: KubeClient, name: str, namespace: str, holder: str) -> None:
    """Hand the group's Lease (named after the group) to ``holder``, as an elector's acquisition does."""
    lease = await client.get(LEASES, name, namespace)
    lease["spec"].update(
        holderIdentity=holder,
        leaseDurationSeconds=15,
        renewTime=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
    await client.replace(LEASES, name, lease, namespace)


async def holder_shown(client: KubeClient, name: str, namespace: str, holder: str) -> bool:
    group = await client.get(LEADERGROUPS, name, namespace)
    return bool((group.get("status") or {}).get("holder") == holder)


async def start_pair(replicas: Replicas, client: KubeClient) -> None:
    """Start operator-a, let it register, then operator-b: b joins below a, so a is active."""
    replicas.start("operator-a")
    await eventually(lambda: _has_record(replicas, client, 1), timeout=10, message="a's keep-alive")
    replicas.start("operator-b")
    await eventually(lambda: _has_record(replicas, client, 2), timeout=10, message="b's keep-alive")


async def _has_record(replicas: Replicas, client: KubeClient, count: int) -> bool:
    return len(await replicas.records(client)) >= count


async def test_only_the_active_replica_works_and_a_standby_takes_over_after_sigkill(
    cluster: Cluster, replicas: Replicas, client: KubeClient
) -> None:
    namespace = cluster.namespace
    await start_pair(replicas, client)
    priorities = [record["priority"] for record in (await replicas.records(client)).values()]
    assert len(set(priorities)) == 2, f"replicas need distinct priorities: {priorities}"

    await client.create(LEADERGROUPS, group_body("before", namespace), namespace)
    await eventually(lambda: deployment_of(client, "before", namespace), timeout=10, message="reconciled")
    assert work_writes(cluster, "operator-a"), "the active replica did the work"
    assert work_writes(cluster, "operator-b") == [], "the standby must not write"

    replicas.processes["operator-a"].kill()
    killed = time.time()
    await client.create(LEADERGROUPS, group_body("after", namespace), namespace)
    await eventually(
        lambda: deployment_of(client, "after", namespace),
        timeout=LIFETIME + 10,
        message="the standby reconciles a group created after the crash",
    )
    took = time.time() - killed
    assert took < LIFETIME + 5, f"takeover took {took:.1f}s with a {LIFETIME}s lifetime"
    # A create's URL names no object: b's writes that name the group (its status, Kopf's annotation)
    # follow the Deployment's creation by a few milliseconds.
    await eventually(
        lambda: any("/after" in write for write in work_writes(cluster, "operator-b", since=killed)),
        timeout=5,
        message="the standby's writes for the new group",
    )


async def test_sigterm_hands_over_at_once(cluster: Cluster, tmp_path: Path, client: KubeClient) -> None:
    # A long lifetime: a takeover faster than it proves the exiting replica removed its own record.
    replicas = Replicas(cluster, tmp_path, lifetime=60)
    try:
        await start_pair(replicas, client)
        assert replicas.processes["operator-a"].terminate() == 0
        stopped = time.time()
        records = await replicas.records(client)
        assert len(records) == 1, f"the exiting replica removes its record: {records}"
        await client.create(LEADERGROUPS, group_body("handed-over", cluster.namespace), cluster.namespace)
        await eventually(
            lambda: deployment_of(client, "handed-over", cluster.namespace),
            timeout=10,
            message="the standby works at once",
        )
        assert time.time() - stopped < 10
        assert work_writes(cluster, "operator-b", since=stopped)
    finally:
        for process in replicas.processes.values():
            process.terminate()


async def test_a_priority_tie_is_resolved(
    cluster: Cluster, replicas: Replicas, client: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicas that end up with one priority would all pause; the guard moves one of them."""
    namespace = cluster.namespace
    monkeypatch.setenv("POD_ID", "operator-zz")
    replicas.start("operator-b")
    records = await eventually(lambda: replicas.records(client), timeout=10, message="b's keep-alive")
    taken = records["operator-zz"]["priority"]
    # An explicit --priority equal to b's: a tie that b (whose identity sorts last) must break.
    monkeypatch.setenv("POD_ID", "operator-aa")
    replicas.start("operator-a", "--priority", str(taken))

    async def distinct() -> dict[str, Any] | None:
        current = await replicas.records(client)
        prios = {identity: record["priority"] for identity, record in current.items()}
        return prios if len(prios) == 2 and len(set(prios.values())) == 2 else None

    prios = await eventually(distinct, timeout=3 * LIFETIME + 5, message="distinct priorities")
    assert prios["operator-aa"] == taken and prios["operator-zz"] < taken

    await client.create(LEADERGROUPS, group_body("after-tie", namespace), namespace)
    await eventually(lambda: deployment_of(client, "after-tie", namespace), timeout=10, message="one works")


async def test_a_resumed_replica_keeps_changes_made_while_it_was_paused(
    cluster: Cluster, replicas: Replicas, client: KubeClient
) -> None:
    """A paused replica must not heal children back to the spec it saw before the pause."""
    namespace = cluster.namespace
    replicas.start("operator-b", "--priority", "100")
    await eventually(lambda: _has_record(replicas, client, 1), timeout=10, message="b's keep-alive")
    await client.create(LEADERGROUPS, group_body("kept", namespace), namespace)
    await eventually(lambda: deployment_of(client, "kept", namespace), timeout=10, message="b reconciled")

    replicas.start("operator-a", "--priority", "200")  # b pauses
    await eventually(lambda: _has_record(replicas, client, 2), timeout=10, message="a's keep-alive")
    await client.patch(LEADERGROUPS, "kept", {"spec": {"replicas": 1}}, namespace)

    async def scaled(name: str = "kept") -> bool:
        deployment = await deployment_of(client, name, namespace)
        return bool(deployment and deployment["spec"]["replicas"] == 1)

    await eventually(scaled, timeout=10, message="a applied the change")
    assert not [
        w for w in work_writes(cluster, "operator-b") if "/kept" in w and w.startswith("patch deploy")
    ]
    # A new holder while b is paused: a reports it; b, which follows Leases outside Kopf, stays silent.
    paused_since = time.time()
    await take_lease(client, "kept", namespace, "pod-x")
    await eventually(lambda: holder_shown(client, "kept", namespace, "pod-x"), timeout=10, message="a")
    assert not [w for w in work_writes(cluster, "operator-b", since=paused_since) if "/kept" in w]

    replicas.processes["operator-a"].kill()
    # b resumes once a's record expires; a group created then proves that b works again.
    await client.create(LEADERGROUPS, group_body("after-resume", namespace), namespace)
    await eventually(
        lambda: deployment_of(client, "after-resume", namespace), timeout=LIFETIME + 10, message="b resumed"
    )
    await eventually(lambda: "Resuming operations" in replicas.processes["operator-b"].log(), timeout=5)
    # b has re-listed the children; the change made during its pause stands (and keeps standing).
    for _ in range(20):
        assert await scaled()
        await asyncio.sleep(0.1)
    deployments = [w for w in work_writes(cluster, "operator-b") if w.startswith("patch deployments/kept")]
    assert deployments == [], f"b rolled the Deployment back: {deployments}"
    # b follows the Lease again: the next holder reaches the status through b.
    resumed = time.time()
    await take_lease(client, "kept", namespace, "pod-y")
    await eventually(lambda: holder_shown(client, "kept", namespace, "pod-y"), timeout=10, message="b")
    assert [w for w in work_writes(cluster, "operator-b", since=resumed) if "leadergroups/kept" in w]
