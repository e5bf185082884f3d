"""Electors as separate processes against the `cluster` (the emulator by default, or a real cluster)."""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.elector.fleet import (
    LEASE_DURATION,
    RETRY_PERIOD,
    Fleet,
    holder,
    overlaps,
    process_gone,
    read_lease,
)
from tests.support import eventually
from tests.support.cluster import Cluster

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import LEASES


@pytest.fixture
def fleet(cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    electors = Fleet(cluster, tmp_path)
    yield electors
    electors.close()
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        print(electors.logs())


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[KubeClient]:
    async with KubeClient.auto(cluster.kubeconfig) as api:
        yield api


async def test_three_electors_one_leader_then_crash_and_graceful_failover(
    fleet: Fleet, client: KubeClient, cluster: Cluster
) -> None:
    for identity in ("e1", "e2", "e3"):
        fleet.start(identity)
    first = (await eventually(fleet.leaders, timeout=20, message="a leader"))[0]
    assert await holder(client, cluster.namespace, fleet.lease_name) == first.identity
    # Every other elector sees the holder and stays a follower through several renewals.
    renew_before = (await read_lease(client, cluster.namespace, fleet.lease_name) or {})["spec"]["renewTime"]
    await eventually(
        lambda: _renewed_since(client, cluster.namespace, fleet.lease_name, renew_before), timeout=5
    )
    assert [e.identity for e in fleet.leaders()] == [first.identity]

    # Crash: SIGKILL the leader; another takes over after about one lease duration.
    fleet.kill(first.identity)
    killed_at = time.monotonic()
    second = (await eventually(fleet.leaders, timeout=LEASE_DURATION + 6, message="a new leader"))[0]
    crash_failover = time.monotonic() - killed_at
    # No earlier than LD after the last renewal it saw (at most RP before the kill); no later than
    # LD + a jittered poll (2.2 RP) + process and API slack.
    assert LEASE_DURATION - RETRY_PERIOD - 0.2 <= crash_failover <= LEASE_DURATION + 2.2 * RETRY_PERIOD + 1.5
    assert second.identity != first.identity

    # Graceful: SIGTERM releases the Lease; the last one takes over at its next poll.
    terminated_at = time.monotonic()
    assert fleet.terminate(second.identity) == 0
    third = (await eventually(fleet.leaders, timeout=6, message="a leader after release"))[0]
    graceful_failover = time.monotonic() - terminated_at
    assert graceful_failover <= 2.2 * RETRY_PERIOD + 1.5
    assert third.identity not in (first.identity, second.identity)
    spec = (await read_lease(client, cluster.namespace, fleet.lease_name) or {})["spec"]
    assert spec["holderIdentity"] == third.identity
    assert spec["leaseTransitions"] >= 2
    assert not overlaps(fleet.intervals())


async def _renewed_since(client: KubeClient, namespace: str, name: str, renew_time: str) -> bool:
    lease = await read_lease(client, namespace, name)
    return bool(lease) and lease["spec"]["renewTime"] != renew_time  # type: ignore[index]


async def test_run_stops_the_command_of_a_leader_that_loses_the_lease(
    fleet: Fleet, client: KubeClient, cluster: Cluster, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    command = ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 1000"]
    elector = fleet.start("runner", mode="run", command=command)
    await eventually(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=20, message="child")
    child = int(pid_file.read_text())
    assert not process_gone(child)
    # Someone else takes the Lease (as after a partition): the runner must see it and stop its child.
    lease = await read_lease(client, cluster.namespace, fleet.lease_name)
    assert lease is not None
    lease["spec"].update({"holderIdentity": "intruder", "leaseDurationSeconds": 3600})
    await client.replace(LEASES, fleet.lease_name, lease, cluster.namespace)
    await eventually(lambda: process_gone(child), timeout=RETRY_PERIOD + 3, message="child stopped")
    assert elector.process.poll() is None, "the elector rejoins the election"
    # The term's end is logged once its command is gone: a moment after the child, never before.
    await eventually(lambda: not elector.is_leading(), timeout=5, message="the term ended")
    assert fleet.terminate("runner") == 0, "not leading at shutdown: status 0"


async def test_lost_leadership_stops_the_commands_children_too(
    fleet: Fleet, client: KubeClient, cluster: Cluster, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # A shell that does not exec: the real work is its child, which only the process-group signal reaches.
    command = ["sh", "-c", f"sleep 1000 & echo $! > {pid_file}; wait"]
    fleet.start("parent", mode="run", command=command)
    await eventually(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=20, message="child")
    grandchild = int(pid_file.read_text())
    assert not process_gone(grandchild)
    lease = await read_lease(client, cluster.namespace, fleet.lease_name)
    assert lease is not None
    lease["spec"].update({"holderIdentity": "intruder", "leaseDurationSeconds": 3600})
    await client.replace(LEASES, fleet.lease_name, lease, cluster.namespace)
    await eventually(lambda: process_gone(grandchild), timeout=RETRY_PERIOD + 3, message="grandchild stopped")


async def test_a_second_sigterm_kills_the_commands_process_group_at_once(
    fleet: Fleet, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # Deaf to SIGTERM (ignored dispositions are inherited), and a grace period far beyond the test.
    command = ["sh", "-c", f"trap '' TERM; sleep 1000 & echo $! > {pid_file}; wait"]
    elector = fleet.start("stubborn", mode="run", flags=("-grace-period=600s",), command=command)
    await eventually(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=20, message="child")
    grandchild = int(pid_file.read_text())
    elector.process.send_signal(signal.SIGTERM)
    await eventually(lambda: "Received SIGTERM: stopping" in elector.log(), timeout=5, message="first signal")
    assert elector.process.poll() is None, "the first signal waits for the command"
    assert not process_gone(grandchild)
    elector.process.send_signal(signal.SIGTERM)
    assert elector.process.wait(timeout=5) == 128 + signal.SIGTERM
    await eventually(lambda: process_gone(grandchild), timeout=3, message="process group killed")


async def test_run_exits_with_the_commands_status_and_releases(
    fleet: Fleet, client: KubeClient, cluster: Cluster
) -> None:
    elector = fleet.start("once", mode="run", command=["sh", "-c", "sleep 0.5; exit 7"])
    assert elector.process.wait(timeout=30) == 7
    spec = (await read_lease(client, cluster.namespace, fleet.lease_name) or {})["spec"]
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1
    assert [e["event"] for e in elector.events()] == ["started", "stopped"]


async def test_run_sigterm_stops_the_command_then_releases(
    fleet: Fleet, client: KubeClient, cluster: Cluster, tmp_path: Path
) -> None:
    marker, trapping = tmp_path / "terminated", tmp_path / "trapping"
    trap = f'trap "touch {marker}; exit 3" TERM; touch {trapping}; while true; do sleep 0.05; done'
    fleet.start("graceful", mode="run", command=["sh", "-c", trap])
    await eventually(lambda: fleet.electors["graceful"].is_leading(), timeout=20)
    # SIGTERM before sh has set its trap would end it with 143: wait for the command to be ready.
    await eventually(trapping.exists, timeout=20)
    assert fleet.terminate("graceful") == 3
    assert marker.exists()
    assert await holder(client, cluster.namespace, fleet.lease_name) == ""


async def test_run_command_dies_with_a_killed_elector(fleet: Fleet, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    fleet.start("doomed", mode="run", command=["sh", "-c", f"echo $$ > {pid_file}; exec sleep 1000"])
    await eventually(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=20)
    child = int(pid_file.read_text())
    fleet.kill("doomed")
    await eventually(lambda: process_gone(child), timeout=3, message="child killed by parent-death signal")


async def test_our_elector_honours_a_lease_in_client_go_wire_format(
    fleet: Fleet, client: KubeClient, cluster: Cluster
) -> None:
    # Exactly what client-go's LeaseLock writes (LeaderElectionRecordToLeaseSpec): five fields.
    await client.create(
        LEASES,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": fleet.lease_name, "namespace": cluster.namespace},
            "spec": {
                "holderIdentity": "go-elector",
                "leaseDurationSeconds": 4,
                "acquireTime": "2001-01-01T00:00:00.000000Z",
                "renewTime": "2001-01-01T00:00:00.000000Z",
                "leaseTransitions": 9,
            },
        },
        cluster.namespace,
    )
    started = time.monotonic()
    elector = fleet.start("py")
    await eventually(elector.is_leading, timeout=15, message="takeover of the expired Go lease")
    # The renewTime is from 2001, yet the lease is honoured for its 4 s from when we first saw it.
    assert time.monotonic() - started >= 4.0
    spec = (await read_lease(client, cluster.namespace, fleet.lease_name) or {})["spec"]
    assert spec["holderIdentity"] == "py"
    assert spec["leaseTransitions"] == 10
    assert spec["leaseDurationSeconds"] == 3
    assert spec["acquireTime"].endswith("Z") and len(spec["acquireTime"]) == len(
        "2001-01-01T00:00:00.000000Z"
    )
