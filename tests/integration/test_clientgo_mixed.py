"""client-go electors and leadergroup-elector on one operator-made Lease, under faults.

The blog's client-go program (tests/elector/clientgo, built from k8s.io/client-go) and leadergroup-elector
campaign together for a LeaderGroup's Lease, as the group's ServiceAccount (on the real API server its
RBAC judges every request). Round after round the leader is SIGKILLed, SIGTERMed, or (ours only) frozen
with SIGSTOP past its lease and thawed, and replaced by a fresh candidate of either kind. Judged from each
process's own log of its terms: no two leaders at once; the Lease's leaseTransitions counts every term;
the operator reads the Lease into the group's status.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.controlplane.build import CLIENTGO_ELECTOR
from tests.elector.fleet import ElectorProcess, Fleet, overlaps
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.identities import service_account_kubeconfig
from tests.support.operator_process import OperatorProcess

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import LEADERGROUPS, LEASES, ROLE_BINDINGS

ROUNDS = 50
# A whole-second lease (the record carries whole seconds) and leadergroup-elector's shortest retry period.
# The margin LD - RP - RD = 0.5 s keeps the freeze judgement (a term ends at freeze + RD) honest.
LEASE, RENEW, RETRY = 3.0, 1.5, 1.0
TIMING = ("-lease-duration=3s", "-renew-deadline=1500ms", "-retry-period=1s")

pytestmark = pytest.mark.real_cluster_only(
    "client-go against the real API server's RBAC; the emulator has its own chaos test (test_safety)"
)


def lease_writes(cluster: Cluster, name: str) -> str:
    """Every write of the Lease from the API server's audit log: who wrote which holder, and the answer."""
    plane = cluster.real.plane if cluster.real is not None else None
    if plane is None or plane.audit_log is None or not plane.audit_log.exists():
        return "(no audit log)"
    lines = []
    for line in plane.audit_log.read_text().splitlines():
        entry = json.loads(line)
        ref = entry.get("objectRef") or {}
        if (
            ref.get("resource") != "leases"
            or ref.get("name") != name
            or ref.get("namespace") != cluster.namespace
        ):
            continue
        sent = ((entry.get("requestObject") or {}).get("spec") or {}).get("holderIdentity")
        version = ((entry.get("requestObject") or {}).get("metadata") or {}).get("resourceVersion")
        stored = ((entry.get("responseObject") or {}).get("metadata") or {}).get("resourceVersion")
        code = (entry.get("responseStatus") or {}).get("code")
        lines.append(
            f"{entry.get('stageTimestamp')} {entry.get('verb')} {code} holder={sent!r} "
            f"rv {version}->{stored} by {entry.get('userAgent', '')[:40]}"
        )
    return "\n".join(lines)


@pytest.fixture
def fleet_dir(tmp_path: Path, request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[dict[str, Fleet]]:
    holder: dict[str, Fleet] = {}
    yield holder
    if "fleet" in holder:
        holder["fleet"].close()
        report = getattr(request.node, "rep_call", None)
        if report is None or report.failed:
            print(holder["fleet"].logs())
            print(f"---- writes of the Lease (audit log) ----\n{lease_writes(cluster, 'mixed-lock')}")


async def freeze_past_the_lease(fleet: Fleet, leader: ElectorProcess) -> None:
    """SIGSTOP the leader until another elector leads, then SIGCONT: it must step down."""
    fleet.freeze(leader.identity, RENEW)

    def someone_else() -> bool:
        return any(e.is_leading() and e is not leader for e in fleet.alive())

    await eventually(someone_else, timeout=15, message=f"a new leader while {leader.identity} is frozen")
    fleet.thaw(leader.identity)
    await eventually(
        lambda: not leader.is_leading(), timeout=10, message=f"{leader.identity} steps down once thawed"
    )


@pytest.mark.timeout(420)
async def test_mixed_electors_never_co_lead_and_the_operator_follows(
    cluster: Cluster,
    operator: OperatorProcess,
    client: KubeClient,
    tmp_path: Path,
    fleet_dir: dict[str, Fleet],
) -> None:
    namespace = cluster.namespace
    group = {
        "apiVersion": "leadergroup.dev/v1alpha1",
        "kind": "LeaderGroup",
        "metadata": {"name": "mixed", "namespace": namespace},
        "spec": {
            "lockName": "mixed-lock",
            "replicas": 3,
            "template": {"spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}},
        },
    }
    await client.create(LEADERGROUPS, group, namespace)
    await eventually(lambda: client.get_or_none(LEASES, "mixed-lock", namespace), timeout=20)
    await eventually(lambda: client.get_or_none(ROLE_BINDINGS, "mixed-lease", namespace), timeout=20)
    kubeconfig = await service_account_kubeconfig(cluster, client, "mixed", tmp_path)
    fleet = Fleet(cluster, tmp_path, lease_name="mixed-lock", kubeconfig=kubeconfig)
    fleet_dir["fleet"] = fleet
    binary = CLIENTGO_ELECTOR.bin_dir() / "clientgo-elector"

    seed = int(os.environ.get("LEADERGROUP_CHAOS_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    generation = 0

    def spawn() -> ElectorProcess:
        nonlocal generation
        generation += 1
        if generation % 2:
            return fleet.start_clientgo(f"go-{generation}", binary, TIMING)
        return fleet.start(f"py-{generation}", flags=TIMING)

    for _ in range(3):
        spawn()

    def one_leader() -> ElectorProcess | None:
        leaders = [e for e in fleet.leaders() if not e.freezes or e.freezes[-1][1] is not None]
        return leaders[0] if len(leaders) == 1 else None

    history: list[str] = []
    for _ in range(ROUNDS):
        leader = await eventually(one_leader, timeout=15, message=f"one leader (seed {seed}, {history})")
        # Only our electors are frozen: client-go v0.37.2's release, run when a renewal fails, re-reads the
        # Lease but judges by its stale record (tryRelease, leaderelection.go), so a client-go leader thawed
        # after losing the Lease clears the new holder's Lease; measured here (audit log), see
        # docs/elector.md. Frozen client-go leaders would test client-go, not this project.
        actions = ["kill", "term", "freeze"] if leader.program == "leadergroup-elector" else ["kill", "term"]
        action = rng.choice(actions)
        history.append(f"{action}:{leader.identity}")
        if action == "kill":
            fleet.kill(leader.identity)
            spawn()
        elif action == "term":
            fleet.terminate(leader.identity)
            spawn()
        else:
            await freeze_past_the_lease(fleet, leader)
            if leader.process.poll() is not None:
                spawn()  # client-go exits when it loses the Lease, as the blog's program does

    final = await eventually(one_leader, timeout=15, message="a leader after the last round")
    intervals = fleet.intervals()
    assert overlaps(intervals) == [], f"seed {seed}: {history}"
    kinds = {e.program for e in fleet.electors.values() if e.started_count()}
    assert kinds == {"clientgo-elector", "leadergroup-elector"}, f"both kinds led: {kinds}"

    lease = await client.get(LEASES, "mixed-lock", namespace)
    # The Lease was created empty: every term began with a new holder, so each counted as a transition.
    assert lease["spec"]["leaseTransitions"] == len(intervals), (seed, history)
    assert lease["spec"]["holderIdentity"] == final.identity

    async def status_follows() -> bool:
        status = (await client.get(LEADERGROUPS, "mixed", namespace)).get("status") or {}
        return status.get("holder") == final.identity and status.get("leaseTransitions") == len(intervals)

    await eventually(status_follows, timeout=10, message="the group's status names the final leader")
