"""The control plane restarts under a working operator pair and its electors: nothing goes deaf.

Issue "No watch goes deaf", scenario 3. On a control plane of this module's own (the session's is shared
by tests running beside this one), two operator replicas run under Kopf peering (the shipped lifetime),
two LeaderGroups each have two electors (``leadergroup-elector`` processes acting as the group's
ServiceAccount, with the group's pods' names as identities; there is no kubelet, the pods stay Pending).
Then one of:

- the API server is stopped (SIGTERM: it stops listening at once and exits within a second or two) and
  started again on the same port with the same flags, 15 s after the SIGTERM;
- etcd is stopped (SIGTERM) and started again on the same data directory and port 3 s after the SIGTERM
  (or once it has exited), under a running API server.

Within ``RECOVERY_BOUND`` of the server being ready again (client-go's HTTP/2 health-check bound, the
issue's target): every group has exactly one leading elector, its Lease names it and its status shows
it; the standby has heard the active replica's keep-alive again (the audit log shows its Kopf watching
the peering object since) and exactly one replica says it works (Kopf's own words in its log); a
Deployment deleted by hand is back and a holder written into a Lease by hand reaches the group's status
(each probe gets at least ``PROBE_MINIMUM`` however late it starts). Throughout: the children are exactly
one of each per group, owned by the group that exists; no operator replica and no elector exits, no two
electors of a group lead at once, no operator logs a traceback. From the moment the replicas agree, all
the work (writes other than peering keep-alives, told apart by each replica's ServiceAccount in the API
server's audit log) is done by the replica Kopf lets work. What the standby wrote before that is printed.

``--shutdown-watch-termination-grace-period``: without it, kube-apiserver 1.37 stops listening at SIGTERM
but holds its open watch connections, silent, until its 60 s request timeout before exiting (measured);
with it, it ends the watches at once and exits in about a second, as a restart should.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.elector.fleet import Fleet, overlaps
from tests.support.cluster import Cluster, RealBackend, real_cluster_kubeconfig
from tests.support.eventually import eventually
from tests.support.identities import service_account_kubeconfig, service_account_user
from tests.support.operator_process import OperatorProcess
from tests.support.pods import deployment_pods

from leadergroup import constants
from leadergroup.cli.peering import NAMESPACED_PEERINGS
from leadergroup.elector.record import format_micro_time
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import (
    DEPLOYMENTS,
    DISRUPTION_BUDGETS,
    LEADERGROUPS,
    LEASES,
    NAMESPACES,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    Resource,
)

pytestmark = pytest.mark.timeout(150)

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"
GROUPS = ("alpha", "beta")
REPLICAS = ("operator-a", "operator-b")  # started in this order: a works, b stands by
# The electors' timing, and the groups' (their pods would be given the same).
ELECTION = {"leaseDurationSeconds": 3, "renewDeadlineSeconds": 2, "retryPeriodSeconds": 1}
TIMING = ("-lease-duration=3s", "-renew-deadline=2s", "-retry-period=1s")
APISERVER_DOWN = 15.0
ETCD_DOWN = 3.0
RECOVERY_BOUND = 45.0  # from the server ready again: everything heard and served again
PROBE_MINIMUM = 5.0  # what a probe gets at least (a live watch serves it in well under a second)
SETTLE_BOUND = 20.0  # before the restart, and after a release by hand: LD + 2.2 RP, status, slack
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
PEERING_RESOURCES = {"kopfpeerings", "clusterkopfpeerings"}


def children_of(name: str) -> dict[Resource, str]:
    """The children every group of this module has, by kind: their names."""
    return {
        SERVICE_ACCOUNTS: name,
        ROLES: f"{name}-lease",
        ROLE_BINDINGS: f"{name}-lease",
        LEASES: name,
        DEPLOYMENTS: name,
        DISRUPTION_BUDGETS: name,
    }


@pytest.fixture(scope="module")
def real_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealBackend]:
    """A control plane of this module's own (with the CRDs and an audit log), which the tests restart.

    It overrides the session's ``real_backend``: the tests are real-backend tests (marked, and skipped
    without Go as those are), but must not restart the server other tests share.
    """
    if real_cluster_kubeconfig() is not None:
        pytest.skip("restarting the API server and etcd needs a control plane of our own")
    from tests.controlplane.cluster import control_plane

    with control_plane(
        tmp_path_factory.mktemp("restarted-controlplane"),
        audit=True,
        audit_lease_bodies=False,
        apiserver_args=["--shutdown-watch-termination-grace-period=2s"],
    ) as plane:
        backend = RealBackend(plane.kubeconfig, str(plane.kubectl), plane)
        backend.install_crds()
        yield backend


@dataclass
class Scene:
    """Two operator replicas, the groups and their electors, in a namespace of the restarted server."""

    backend: RealBackend
    cluster: Cluster
    client: KubeClient
    peering: str
    operators: dict[str, OperatorProcess] = field(default_factory=dict)
    fleets: dict[str, Fleet] = field(default_factory=dict)
    audit_read: int = 0  # how far the audit log has been read
    audited: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)  # the replicas' requests

    @property
    def namespace(self) -> str:
        return self.cluster.namespace

    @property
    def plane(self) -> Any:
        return self.backend.plane

    def requests(self, since: float) -> list[tuple[str, float, dict[str, Any]]]:
        """The replicas' requests in the API server's audit log since ``since``: (replica, time, entry)."""
        users = {service_account_user(self.namespace, name): name for name in REPLICAS}
        with self.plane.audit_log.open("rb") as log:
            log.seek(self.audit_read)
            lines = log.read().split(b"\n")
        self.audit_read += sum(len(line) + 1 for line in lines[:-1])  # the last one may be incomplete
        for line in lines[:-1]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # the tail of a line written before this scene began
                continue
            replica = users.get((entry.get("user") or {}).get("username"))
            if replica is not None:
                at = datetime.fromisoformat(entry["stageTimestamp"].replace("Z", "+00:00")).timestamp()
                self.audited.append((replica, at, entry))
        return [request for request in self.audited if request[1] >= since]

    def work_writes(self, since: float, until: float | None = None) -> dict[str, list[str]]:
        """Per replica, its writes other than peering keep-alives in [since, until) (epoch seconds)."""
        found: dict[str, list[str]] = {name: [] for name in REPLICAS}
        for replica, at, entry in self.requests(since):
            ref = entry.get("objectRef") or {}
            if entry["verb"] not in WRITES or ref.get("resource") in PEERING_RESOURCES:
                continue
            if until is None or at < until:
                code = (entry.get("responseStatus") or {}).get("code")
                found[replica].append(f"{entry['verb']} {ref.get('resource')}/{ref.get('name')}: {code}")
        return found

    def logs(self) -> str:
        parts = [f"---- {name} ----\n{process.log()[-12000:]}" for name, process in self.operators.items()]
        parts += [fleet.logs() for fleet in self.fleets.values()]
        return "\n".join(parts)


def kopf_active(process: OperatorProcess) -> bool:
    """Whether Kopf last said it resumes (not that it pauses); a replica that starts behind says neither."""
    log = process.log()
    return log.rfind("Resuming operations") > log.rfind("Pausing operations")


def the_active_replica(scene: Scene) -> str | None:
    """The one replica Kopf lets work, or None while none or both do."""
    active = [name for name, process in scene.operators.items() if kopf_active(process)]
    return active[0] if len(active) == 1 else None


async def standby_heard_the_active(scene: Scene, since: float) -> bool:
    """Whether each lower-priority replica's Kopf heard the highest's first keep-alive after ``since``.

    It did when its watch of the peering object (one started after ``since``, per the audit log) was open
    at that keep-alive or began after it. From then on a standby cannot resume on the highest's record
    gone stale while the server was away (some runs show it doing so, and working beside the active
    replica for a few seconds, until it hears better).
    """
    records = await peering_records(scene)
    if set(records) != set(REPLICAS):
        return False
    first = max(records, key=lambda name: records[name]["priority"])
    touched: float | None = None
    watches: dict[str, tuple[str, float, float | None]] = {}  # replica: its latest Kopf peering watch
    for replica, at, entry in scene.requests(since):
        ref = entry.get("objectRef") or {}
        if not entry.get("userAgent", "").startswith("kopf/") or ref.get("resource") not in PEERING_RESOURCES:
            continue
        code = (entry.get("responseStatus") or {}).get("code")
        if replica == first and entry["verb"] == "patch" and code == 200 and touched is None:
            touched = at
        if entry["verb"] == "watch" and entry["stage"] == "ResponseStarted":
            watches[replica] = (entry["auditID"], at, None)
        elif entry["verb"] == "watch" and watches.get(replica, ("",))[0] == entry["auditID"]:
            watches[replica] = (entry["auditID"], watches[replica][1], at)
    if touched is None:
        return False
    for replica in set(REPLICAS) - {first}:
        if replica not in watches:
            return False
        _, started, ended = watches[replica]
        # Open when the keep-alive came, or started after it (its list showed it); then a second for Kopf
        # to act on it.
        if (ended is not None and ended < touched) or (ended or time.time()) - max(started, touched) < 1.0:
            return False
    return True


def group_body(name: str, namespace: str) -> dict[str, Any]:
    body = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    body["spec"].update(replicas=2, election=ELECTION)
    return dict(body)


async def peering_records(scene: Scene) -> dict[str, Any]:
    body = await scene.client.get_or_none(NAMESPACED_PEERINGS, scene.peering, scene.namespace)
    return dict((body or {}).get("status") or {})


async def replica_kubeconfig(scene: Scene, name: str, tmp_path: Path) -> Path:
    """A ServiceAccount for one replica, bound to cluster-admin: the audit log then names its writes.

    RBAC is not what these tests are about (tests/integration covers the shipped ClusterRole).
    """
    client, namespace = scene.client, scene.namespace
    await client.create(SERVICE_ACCOUNTS, {"metadata": {"name": name}}, namespace)
    binding = {
        "metadata": {"name": f"{namespace}-{name}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    await client.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body=binding)
    return await service_account_kubeconfig(scene.cluster, client, name, tmp_path)


@pytest.fixture
async def scene(
    real_backend: RealBackend, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Scene]:
    """operator-a working, operator-b standing by, and two settled groups with two electors each."""
    namespace = f"lgtest-{secrets.token_hex(4)}"
    kubeconfig = tmp_path / "kubeconfig-admin"
    config = yaml.safe_load(real_backend.kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = namespace
    kubeconfig.write_text(yaml.safe_dump(config))
    cluster = Cluster("real", kubeconfig, namespace, None, tmp_path, real_backend)
    async with KubeClient.auto(kubeconfig) as client:
        await client.create(NAMESPACES, {"metadata": {"name": namespace}})
        built = Scene(real_backend, cluster, client, peering=f"lgtest-{secrets.token_hex(3)}")
        built.audit_read = real_backend.plane.audit_log.stat().st_size  # earlier tests' requests
        try:
            for count, name in enumerate(REPLICAS, start=1):
                process = OperatorProcess(
                    await replica_kubeconfig(built, name, tmp_path),
                    namespace,
                    tmp_path / f"{name}.log",
                    "--peering",
                    built.peering,
                    env={"POD_ID": name},
                )
                built.operators[name] = process.start()

                async def registered(count: int = count) -> bool:
                    return len(await peering_records(built)) >= count

                await eventually(registered, timeout=10, message=f"{name}'s keep-alive")
            assert the_active_replica(built) == REPLICAS[0]
            for group in GROUPS:
                await client.create(LEADERGROUPS, group_body(group, namespace), namespace)
            for group in GROUPS:
                pods = await deployment_pods(client, cluster, group)
                identity = await service_account_kubeconfig(cluster, client, group, tmp_path)
                (tmp_path / group).mkdir()
                fleet = Fleet(cluster, tmp_path / group, lease_name=group, kubeconfig=identity)
                built.fleets[group] = fleet
                for pod in pods:
                    fleet.start(pod, flags=TIMING)
            await settled(built, time.monotonic() + SETTLE_BOUND, "before the restart")
            yield built
        finally:
            for fleet in built.fleets.values():
                fleet.close()
            for process in built.operators.values():
                process.terminate()
            report = getattr(request.node, "rep_call", None)
            if report is None or report.failed:
                print(built.logs())


async def agreement(scene: Scene, group: str) -> str | None:
    """The holder, when exactly one elector leads, the Lease names it and the status shows it; else None."""
    leaders = scene.fleets[group].leaders()
    if len(leaders) != 1:
        return None
    try:
        lease = await scene.client.get(LEASES, group, scene.namespace)
        body = await scene.client.get(LEADERGROUPS, group, scene.namespace)
    except ApiError:  # ApiUnavailable too: the server is not back yet
        return None
    holder = (lease.get("spec") or {}).get("holderIdentity")
    shown = (body.get("status") or {}).get("holder")
    return holder if holder == leaders[0].identity == shown else None


async def by(deadline: float, condition: Callable[[], Awaitable[Any] | Any], what: str) -> float:
    """Wait until ``condition`` holds, by ``deadline`` (monotonic) but at least ``PROBE_MINIMUM``; seconds."""
    started = time.monotonic()
    timeout = max(PROBE_MINIMUM, deadline - started)
    await eventually(condition, timeout=timeout, interval=0.1, message=what)
    return round(time.monotonic() - started, 1)


async def settled(scene: Scene, deadline: float, when: str) -> float:
    """Wait until every group agrees (one leading elector, its Lease, its status); the seconds it took."""
    started = time.monotonic()
    for group in GROUPS:
        await by(
            deadline,
            lambda group=group: agreement(scene, group),
            f"{group}: one leading elector, named by its Lease and its status, {when}",
        )
    return round(time.monotonic() - started, 1)


async def assert_children_owned_and_unique(scene: Scene) -> None:
    """Exactly one child of each kind per group, under its name, owned by the group that exists."""
    client, namespace = scene.client, scene.namespace
    selector = f"{constants.LABEL_MANAGED_BY}={constants.MANAGER}"
    owners = {
        group: (await client.get(LEADERGROUPS, group, namespace))["metadata"]["uid"] for group in GROUPS
    }
    for resource in children_of("any"):
        items = (await client.list(resource, namespace, label_selector=selector))["items"]
        found = sorted(
            ((item["metadata"].get("labels") or {}).get(constants.LABEL_GROUP), item["metadata"]["name"])
            for item in items
        )
        expected = sorted((group, children_of(group)[resource]) for group in GROUPS)
        assert found == expected, f"{resource.kind}: {found}, expected one per group: {expected}"
        for item in items:
            group = item["metadata"]["labels"][constants.LABEL_GROUP]
            refs = [
                (ref.get("kind"), ref.get("name"), ref.get("uid"))
                for ref in item["metadata"].get("ownerReferences") or []
            ]
            assert refs == [(constants.KIND, group, owners[group])], (
                f"{resource.kind} {item['metadata']['name']} is not owned by LeaderGroup {group}: {refs}"
            )


def assert_running(scene: Scene) -> None:
    """No operator replica and no elector has exited; no operator traceback; never two leaders at once."""
    exited = {
        name: p.process.returncode for name, p in scene.operators.items() if p.process.poll() is not None
    }
    assert exited == {}, f"operator replicas exited: {exited}"
    for name, process in scene.operators.items():
        assert "Traceback" not in process.log(), f"{name} logged a traceback"
    for group, fleet in scene.fleets.items():
        gone = [e.identity for e in fleet.electors.values() if e.process.poll() is not None]
        assert gone == [], f"{group}: electors exited: {gone}"
        both = overlaps(fleet.intervals())
        assert both == [], f"{group}: two electors led at once: {both}"


async def write_lease(scene: Scene, group: str, holder: str, duration: int) -> None:
    """Write the Lease's holder by hand, conditionally (the electors renew it every second: retry on 409)."""
    client, namespace = scene.client, scene.namespace

    async def written() -> bool:
        lease = await client.get(LEASES, group, namespace)
        lease["spec"].update(
            holderIdentity=holder,
            leaseDurationSeconds=duration,
            renewTime=format_micro_time(datetime.now(UTC)),
        )
        try:
            await client.replace(LEASES, group, lease, namespace)
        except ApiError as error:
            if error.conflict:
                return False
            raise
        return True

    await eventually(written, timeout=10, interval=0.1, message=f"the Lease {group} written by hand")


async def probe_hearing(scene: Scene, deadline: float) -> dict[str, float]:
    """The operator acts on a deleted Deployment and on a holder written by hand; seconds each took."""
    client, namespace = scene.client, scene.namespace
    took: dict[str, float] = {}
    old = (await client.get(DEPLOYMENTS, "alpha", namespace))["metadata"]["uid"]
    # Its pods stay (the new Deployment adopts them): the electors run as local processes with the pods'
    # names, and a deleted holder pod would have the operator release the Lease of a live elector.
    await client.delete(DEPLOYMENTS, "alpha", namespace, propagation_policy="Orphan")

    async def restored() -> bool:
        deployment = await client.get_or_none(DEPLOYMENTS, "alpha", namespace)
        return bool(deployment and deployment["metadata"]["uid"] != old)

    took["Deployment restored"] = await by(deadline, restored, "the Deployment deleted by hand back")

    # A holder no elector has, for a minute: the electors wait it out, the status must show it.
    await write_lease(scene, "beta", "by-hand", duration=60)

    async def shown() -> bool:
        body = await client.get(LEADERGROUPS, "beta", namespace)
        return (body.get("status") or {}).get("holder") == "by-hand"

    took["holder followed"] = await by(deadline, shown, "the holder written by hand in beta's status")
    # The leader steps down at its next renewal, which finds another holder; only then is the Lease
    # released as an elector releases it (holder "", 1 s), and an elector takes it at its next retry.
    await eventually(
        lambda: not scene.fleets["beta"].leaders(), timeout=10, message="beta's leader stepped down"
    )
    await write_lease(scene, "beta", "", duration=1)
    return took


async def check_after_restart(scene: Scene, restarted_at: float, what: str) -> dict[str, float]:
    """Everything the issue asks after ``what`` (the server ready again now); seconds each step took."""
    deadline = time.monotonic() + RECOVERY_BOUND
    took = {"electors lead, status agrees": await settled(scene, deadline, f"after {what}")}
    assert_running(scene)
    await assert_children_owned_and_unique(scene)
    took["standby heard the active"] = await by(
        deadline, lambda: standby_heard_the_active(scene, restarted_at), "the standby heard the active"
    )
    took["one replica works"] = await by(deadline, lambda: the_active_replica(scene), "one replica active")
    agreed_at, active = time.time(), the_active_replica(scene)
    took.update(await probe_hearing(scene, deadline))
    took["settled after the release"] = await settled(scene, time.monotonic() + SETTLE_BOUND, "after release")
    await assert_children_owned_and_unique(scene)
    assert_running(scene)

    working = {name: writes for name, writes in scene.work_writes(since=agreed_at).items() if writes}
    assert list(working) == [active], f"only {active}, whom Kopf lets work, may work: {working}"
    transition = scene.work_writes(since=restarted_at, until=agreed_at)
    standby = {name: writes for name, writes in transition.items() if writes and name != active}
    if standby:
        print(f"Before the replicas agreed again after {what}, the standby wrote: {standby}")
    return took


async def test_everything_carries_on_after_the_apiserver_was_down_for_15s(scene: Scene) -> None:
    restarted_at = time.time()
    scene.plane.restart("kube-apiserver", down=APISERVER_DOWN)
    took = await check_after_restart(scene, restarted_at, "the API server's restart")
    print(f"Seconds after the API server's restart: {took}")


async def test_everything_carries_on_after_etcd_restarted(scene: Scene) -> None:
    restarted_at = time.time()
    scene.plane.restart("etcd", down=ETCD_DOWN)
    took = await check_after_restart(scene, restarted_at, "etcd's restart")
    print(f"Seconds after etcd's restart: {took}")
