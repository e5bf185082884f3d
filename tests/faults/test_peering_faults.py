"""Two replicas under Kopf peering, all their traffic frozen for 20 s: afterwards exactly one replica works.

Issue "No watch goes deaf", scenario 4. Both replicas reach the API server through one
:class:`FaultProxy`; once the pair has settled (operator-a works, operator-b stands by), the proxy freezes
for 20 s — every open connection and every new one moves nothing, nothing is closed — and thaws. The
peering lifetime is the shipped one (10 s), shorter than the freeze: every keep-alive record expires
during it, which is the case that matters.

How a replica's work is told apart (writes other than peering keep-alives; a failed attempt counts):

- emulator: each replica has its own bearer token, and the emulator's request log names it (as
  ``tests/integration/test_peering.py`` does);
- real: ``kubeconfig_for`` gives every client the admin's certificate there, so each replica runs as a
  ServiceAccount of its own (bound to cluster-admin: RBAC is not the subject here) and the API server's
  audit log names it (as ``tests/faults/test_restarts.py`` does). Its log would say what it
  reconciled, not every request it sent.

Right after the thaw a group is created and given a holder: reconciled and shown within the bound, by
exactly one replica. Then the pair must settle — both keep-alive records renewed since the thaw, and
exactly one replica's log saying it works (Kopf's last "Resuming/Pausing operations", the activity
gate's last "active/paused") — and from then on a new group and a holder change are served by that
replica alone. Finally no write of the whole run may come from a second replica.

That last check failed in every run before ``leadergroup.kopfpeering``: Kopf stamps a keep-alive's
``lastseen`` when it builds the PATCH, so the active replica's keep-alive held by the freeze landed
already expired (stamped 15-20 s before, lifetime 10 s); the active replica, judging its own record by
that stamp, deleted it, and the standby resumed and worked alongside it until the next keep-alive, 1-5 s
later. Peers are now judged from when they were seen, as client-go judges a Lease.

Bounds, from the thaw (``RECOVERY_BOUND``): nothing was closed by the freeze, so every stream normally just
delivers what was held back; at worst a stream went deaf with it, and the 40 s idle bound
(``WATCH_IDLE_SECONDS``, counted from its last byte, which came before the freeze) replaces it at most
40 - 20 s after the thaw. Peering needs at most one lifetime more: each replica renews its record within a
lifetime, and every replica re-judges at each keep-alive event. Plus 5 s to reconcile and write.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_peering import PEERING_RESOURCES, WRITES, group_body, holder_shown, take_lease
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.faultproxy import FaultProxy
from tests.support.identities import service_account_kubeconfig, service_account_user
from tests.support.operator_process import OperatorProcess

from leadergroup.cli.peering import DEFAULT_LIFETIME, NAMESPACED_PEERINGS
from leadergroup.kube import KubeClient, Resource
from leadergroup.kube.config import from_kubeconfig
from leadergroup.kube.liveness import WATCH_IDLE_SECONDS
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, SERVICE_ACCOUNTS
from leadergroup.status import parse_time

pytestmark = pytest.mark.timeout(240)

CLUSTER_ROLE_BINDINGS = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
)
# The first to register works; the second joins below it and stands by.
ACTIVE, STANDBY = REPLICAS = ("operator-a", "operator-b")
FREEZE = 20.0
LIFETIME = DEFAULT_LIFETIME  # as shipped (manifests/deployment.yaml): 10 s, shorter than the freeze
RECOVERY_BOUND = (WATCH_IDLE_SECONDS - FREEZE) + LIFETIME + 5.0
# Kopf's words when peering pauses or resumes it, and the activity gate's (cli/activity.py, DEBUG).
KOPF_STATE = re.compile(r"(Resuming|Pausing) (?:operations|all operators)")
GATE_STATE = re.compile(r"leadergroup\.cli\.acti.*\] Peering \S+ \S+: (active|paused)$", re.MULTILINE)


class DoubleWork(AssertionError):
    """Both replicas wrote work after the thaw."""


@dataclass
class Pair:
    """Two operator replicas peering through one proxy, each with an identity of its own."""

    cluster: Cluster
    client: KubeClient
    tmp_path: Path
    proxy: FaultProxy
    peering: str = field(default_factory=lambda: f"lgtest-{secrets.token_hex(3)}")
    processes: dict[str, OperatorProcess] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # replica -> the user name its requests carry
    bindings: list[str] = field(default_factory=list)

    async def start(self, name: str) -> None:
        process = OperatorProcess(
            await self._kubeconfig(name),
            self.cluster.namespace,
            self.tmp_path / f"{name}.log",
            "--peering",
            self.peering,
            "--peering-lifetime",
            str(LIFETIME),
            env={"POD_ID": name},
        )
        self.processes[name] = process
        process.start()

    async def _kubeconfig(self, name: str) -> Path:
        cluster, namespace = self.cluster, self.cluster.namespace
        if cluster.emulator is not None:
            self.users[name] = name
            own = cluster.kubeconfig_for(name)
        else:
            await self.client.create(SERVICE_ACCOUNTS, {"metadata": {"name": name}}, namespace)
            binding_name = f"{namespace}-{name}"
            binding = {
                "metadata": {"name": binding_name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            }
            await self.client.create(CLUSTER_ROLE_BINDINGS, binding)
            self.bindings.append(binding_name)
            self.users[name] = service_account_user(namespace, name)
            own = await service_account_kubeconfig(cluster, self.client, name, self.tmp_path)
        return self.proxy.kubeconfig_through(own, self.tmp_path / f"kubeconfig-{name}-through-proxy")

    async def records(self) -> dict[str, dict[str, Any]]:
        body = await self.client.get_or_none(NAMESPACED_PEERINGS, self.peering, self.cluster.namespace)
        return dict((body or {}).get("status") or {})

    def work(self, since: float) -> dict[str, list[str]]:
        """Per replica, its writes since ``since`` (epoch seconds) other than peering keep-alives."""
        if self.cluster.emulator is not None:
            replica_of = {user: name for name, user in self.users.items()}
            found: dict[str, list[str]] = {name: [] for name in self.users}
            for r in self.cluster.emulator.requests:
                name = replica_of.get(r.user)
                if name and r.time >= since and r.verb in WRITES and r.resource not in PEERING_RESOURCES:
                    found[name].append(f"{r.verb} {r.resource}/{r.name or ''} -> {r.status}")
            return found
        return self._audited_work(since)

    def _audited_work(self, since: float) -> dict[str, list[str]]:
        assert self.cluster.real is not None and self.cluster.real.plane is not None
        replica_of = {user: name for name, user in self.users.items()}
        found: dict[str, list[str]] = {name: [] for name in self.users}
        for line in self.cluster.real.plane.audit_log.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            name = replica_of.get(str((entry.get("user") or {}).get("username")))
            ref = entry.get("objectRef") or {}
            if (
                name is None
                or entry.get("verb") not in WRITES
                or ref.get("resource") in PEERING_RESOURCES
                or _epoch(entry["stageTimestamp"]) < since
            ):
                continue
            code = (entry.get("responseStatus") or {}).get("code")
            found[name].append(f"{entry['verb']} {ref.get('resource')}/{ref.get('name') or ''} -> {code}")
        return found

    def working(self, name: str) -> bool:
        """Whether the replica's log says it works now: Kopf resumed, or its own watches' gate active.

        Kopf logs no "Pausing" for a replica that starts behind a higher priority: no line is a pause.
        """
        log = self.processes[name].log()
        kopf = KOPF_STATE.findall(log)
        gate = GATE_STATE.findall(log)
        return bool((kopf and kopf[-1] == "Resuming") or (gate and gate[-1] == "active"))

    def logs(self) -> str:
        return "\n".join(f"---- {name} ----\n{p.log()[-20000:]}" for name, p in self.processes.items())


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@pytest.fixture
async def pair(
    cluster: Cluster, client: KubeClient, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Pair]:
    if cluster.emulator is None and (
        cluster.real is None or cluster.real.plane is None or cluster.real.plane.audit_log is None
    ):
        pytest.skip("tells the replicas apart by the audit log of a control plane of our own")
    with FaultProxy.in_front_of(from_kubeconfig(cluster.kubeconfig).server).start() as proxy:
        built = Pair(cluster, client, tmp_path, proxy)
        try:
            yield built
        finally:
            for process in built.processes.values():
                process.terminate()
            for binding in built.bindings:
                await client.delete(CLUSTER_ROLE_BINDINGS, binding)
            report = getattr(request.node, "rep_call", None)
            if report is None or report.failed:
                print(built.logs())


async def reconciled(client: KubeClient, name: str, namespace: str) -> bool:
    """Its Deployment exists and its status is written."""
    group = await client.get(LEADERGROUPS, name, namespace)
    deployment = await client.get_or_none(DEPLOYMENTS, name, namespace)
    return deployment is not None and bool((group.get("status") or {}).get("observedGeneration"))


async def seconds_until(started: float, condition: Any, what: str) -> float:
    """Seconds from ``started`` (monotonic) until ``condition`` holds; fails past ``RECOVERY_BOUND``."""
    remaining = max(0.1, RECOVERY_BOUND - (time.monotonic() - started))
    await eventually(condition, timeout=remaining, interval=0.1, message=what)
    return time.monotonic() - started


def naming(writes: list[str], group: str) -> list[str]:
    """The writes that name ``group`` or one of its children (a create's URL names no object)."""
    return [w for w in writes if re.search(rf"/{group}(-lease)? ->", w)]


@pytest.mark.real_cluster_only("the fault is the proxy's, not the server's: the real server is the reference")
async def test_after_a_20s_freeze_of_all_traffic_exactly_one_replica_works(
    cluster: Cluster, client: KubeClient, pair: Pair
) -> None:
    namespace = cluster.namespace
    started = time.time()
    for count, name in enumerate(REPLICAS, start=1):
        await pair.start(name)

        async def registered(count: int = count) -> bool:
            return len(await pair.records()) >= count

        await eventually(registered, timeout=15, message=f"{name}'s keep-alive")
    priorities = {name: record["priority"] for name, record in (await pair.records()).items()}
    assert priorities[ACTIVE] > priorities[STANDBY], f"{ACTIVE} must outrank {STANDBY}: {priorities}"
    await client.create(LEADERGROUPS, group_body("before", namespace), namespace)
    await eventually(lambda: reconciled(client, "before", namespace), timeout=15, message="settled")
    before = pair.work(started)
    assert naming(before[ACTIVE], "before") and before[STANDBY] == [], f"one replica works: {before}"

    pair.proxy.freeze()
    forwarded = pair.proxy.bytes_forwarded
    held = pair.proxy.open_connections
    await asyncio.sleep(FREEZE)  # the fault itself: a deliberate duration, nothing is judged by it
    assert pair.proxy.bytes_forwarded == forwarded, "nothing may pass a frozen network"
    pair.proxy.thaw()
    thawed, thawed_at = time.monotonic(), time.time()

    # At once after the thaw: a new group, then a new holder for it.
    await client.create(LEADERGROUPS, group_body("after", namespace), namespace)
    took = {
        "new group reconciled": await seconds_until(
            thawed, lambda: reconciled(client, "after", namespace), "after"
        )
    }
    await take_lease(client, "after", namespace, "pod-x")
    took["holder in status"] = await seconds_until(
        thawed, lambda: holder_shown(client, "after", namespace, "pod-x"), "the new holder of after"
    )

    # Settled again: both records renewed since the thaw, and exactly one replica's log says it works.
    async def settled() -> dict[str, bool] | None:
        records = await pair.records()
        renewed = [
            name
            for name in REPLICAS
            if (seen := parse_time((records.get(name) or {}).get("lastseen")))
            and seen.timestamp() > thawed_at
        ]
        states = {name: pair.working(name) for name in REPLICAS}
        return states if len(renewed) == 2 and sum(states.values()) == 1 else None

    states = await eventually(settled, timeout=RECOVERY_BOUND, interval=0.1, message="one replica working")
    assert states is not None
    took["settled"] = time.monotonic() - thawed
    worker = next(name for name, working in states.items() if working)
    settled_at = time.time()

    # From now on exactly one replica works: a group created now, and a holder change of an old group.
    await client.create(LEADERGROUPS, group_body("later", namespace), namespace)
    await eventually(lambda: reconciled(client, "later", namespace), timeout=10, message="later reconciled")
    await take_lease(client, "before", namespace, "pod-y")
    await eventually(lambda: holder_shown(client, "before", namespace, "pod-y"), timeout=10, message="pod-y")
    print(f"after the thaw ({held} connections held): {took}; working: {worker}")
    steady = pair.work(settled_at)
    idle = next(name for name in REPLICAS if name != worker)
    assert naming(steady[worker], "later"), f"{worker} reconciled the group created then: {steady}"
    assert any(w.startswith("patch leadergroups/before ") for w in steady[worker]), steady
    assert steady[idle] == [], f"{idle} must not work once settled: {steady}"

    for name, process in pair.processes.items():
        assert process.process is not None and process.process.poll() is None, f"{name} exited"
        assert "Traceback" not in process.log(), f"{name} logged a Traceback"

    # The whole run, the window right after the thaw included: one replica's work only.
    overall = {name: writes for name, writes in pair.work(started).items() if writes}
    if len(overall) != 1:
        since_thaw = pair.work(thawed_at)
        peering_log = {
            name: re.findall(
                r"^.*(?:Resuming operations|Pausing operations|: active$|: paused$).*$", p.log(), re.M
            )
            for name, p in pair.processes.items()
        }
        raise DoubleWork(
            f"both replicas wrote work; since the thaw: {json.dumps(since_thaw, indent=1)}\n"
            f"peering transitions: {json.dumps(peering_log, indent=1)}"
        )
