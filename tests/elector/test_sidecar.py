"""``leadergroup-elector sidecar``: /leader and /healthz over HTTP, as processes against the cluster."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.elector.conftest import Harness
from tests.elector.fleet import Fleet
from tests.support import eventually
from tests.support.cluster import Cluster

from leadergroup.elector import LeaseBackendError
from leadergroup.elector.sidecar import health


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def fleet(cluster: Cluster, tmp_path: Path) -> Iterator[Fleet]:
    electors = Fleet(cluster, tmp_path, lease_name="sidecar")
    yield electors
    electors.close()


async def fetch(port: int, path: str) -> tuple[int, dict[str, Any]] | None:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(total=2)) as response,
        ):
            return response.status, await response.json()
    except (aiohttp.ClientError, TimeoutError):
        return None


@pytest.mark.emulator_only("injects API failures")
async def test_sidecars_report_the_leader_and_health(fleet: Fleet, cluster: Cluster) -> None:
    ports = {"s1": free_port(), "s2": free_port()}
    for identity, port in ports.items():
        fleet.start(identity, mode="sidecar", flags=(f"-http-address=127.0.0.1:{port}",))

    async def views() -> dict[str, dict[str, Any]] | None:
        seen = {}
        for identity, port in ports.items():
            answer = await fetch(port, "/leader")
            if answer is None or not answer[1]["name"]:
                return None
            seen[identity] = answer[1]
        return seen

    seen = await eventually(views, timeout=20, message="both sidecars see a leader")
    leader = seen["s1"]["name"]
    assert leader in ports
    assert seen["s1"]["name"] == seen["s2"]["name"]
    assert {identity: view["isLeader"] for identity, view in seen.items()} == {
        identity: identity == leader for identity in ports
    }
    for port in ports.values():
        assert await fetch(port, "/healthz") == (200, {"healthy": True, "reason": "ok"})

    # The API server fails every Lease request: the leader cannot renew and goes unhealthy at once,
    # the follower once the API server has been silent for a renew deadline.
    assert cluster.emulator is not None
    for verb in ("get", "update", "create"):
        cluster.emulator.inject_fault(verb=verb, resource="leases", status=500, times=None)

    async def status(identity: str) -> int | None:
        answer = await fetch(ports[identity], "/healthz")
        return answer[0] if answer else None

    await eventually(lambda: _equals(status(leader), 503), timeout=5, message="leader unhealthy")
    follower = next(identity for identity in ports if identity != leader)
    await eventually(lambda: _equals(status(follower), 503), timeout=8, message="follower unhealthy")
    cluster.emulator.clear_faults()
    for identity in ports:
        await eventually(lambda identity=identity: _equals(status(identity), 200), timeout=10)  # type: ignore[misc]


async def test_a_sidecar_whose_port_is_taken_exits_2_with_one_line(fleet: Fleet) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        elector = fleet.start("blocked", mode="sidecar", flags=(f"-http-address=127.0.0.1:{port}",))
        assert elector.process.wait(timeout=30) == 2
    output = elector.log()
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("leadergroup-elector: error: ")]
    assert len(errors) == 1, output
    assert f"-http-address 127.0.0.1:{port}" in errors[0]
    assert "in use" in errors[0]


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return bool((await value) == expected)


async def test_health_rules_on_a_manual_clock(harness: Harness) -> None:
    elector = await harness.start("a")
    started_at = harness.clock.monotonic()
    assert health(elector, started_at) == (True, "ok")
    # The leader's renewals fail: unhealthy at once, although it still leads until its deadline.
    harness.store.fail_next("replace", LeaseBackendError("500"), times=100)
    harness.store.fail_next("get", LeaseBackendError("500"), times=100)
    await harness.clock.advance(1.0)
    assert elector.is_leader
    assert health(elector, started_at) == (False, "leader cannot renew its Lease")
    # Once no longer leading, silence of RD + 2.2 RP (4.2 s here) since the last answer makes it unhealthy.
    await harness.clock.advance(3.1)
    assert elector.renew_deadline_at is not None
    assert harness.clock.monotonic() > elector.renew_deadline_at
    assert health(elector, started_at)[0]
    await harness.clock.advance(1.2)
    healthy, reason = health(elector, started_at)
    assert not healthy
    assert reason.startswith("no answer from the API server")
