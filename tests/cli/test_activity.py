"""The peering gate of the operator's own Lease watch: Kopf's pause rule, read from the peering object."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.cluster import project_crds
from tests.support.eventually import eventually

from leadergroup.cli import peering
from leadergroup.cli.activity import PeeringGate, kopf_would_pause
from leadergroup.kube import KubeClient
from leadergroup.sim import Emulator

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def peer(identity: str, priority: int, seen_ago: float = 1.0, lifetime: int = 10) -> peering.Peer:
    return peering.Peer(identity, priority, NOW - timedelta(seconds=seen_ago), lifetime)


def pauses(*peers: peering.Peer, priority: int = 100, sharded: bool = False) -> tuple[bool, float | None]:
    return kopf_would_pause(peers, identity="me", priority=priority, sharded=sharded, now=NOW)


def test_alone_or_above_every_live_peer_works() -> None:
    assert pauses() == (False, None)
    assert pauses(peer("me", 100), peer("below", 50)) == (False, None)


def test_a_live_higher_peer_pauses_until_its_record_expires() -> None:
    paused, again = pauses(peer("above", 200, seen_ago=4, lifetime=10))
    assert paused
    assert again == pytest.approx(6.0)


def test_a_dead_higher_peer_does_not_pause() -> None:
    assert pauses(peer("above", 200, seen_ago=11, lifetime=10)) == (False, None)


def test_an_equal_priority_pauses_unless_sharded() -> None:
    """Kopf pauses every replica of a tie, but not the replicas of a sharded operator."""
    assert pauses(peer("twin", 100))[0]
    assert pauses(peer("twin", 100), sharded=True) == (False, None)


def test_our_own_record_never_pauses_us() -> None:
    assert pauses(peer("me", 100, seen_ago=0)) == (False, None)


def test_the_earliest_expiry_is_when_to_look_again() -> None:
    paused, again = pauses(peer("a", 300, seen_ago=2, lifetime=10), peer("b", 200, seen_ago=7, lifetime=10))
    assert paused and again == pytest.approx(3.0)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        running.load_crds(*project_crds())
        yield running


@pytest.fixture
async def client(emulator: Emulator, tmp_path: Path) -> AsyncIterator[KubeClient]:
    async with KubeClient.auto(emulator.write_kubeconfig(tmp_path / "kc")) as api:
        yield api


def record(priority: int, lifetime: int, seen: datetime | None = None) -> dict[str, object]:
    return {"priority": priority, "lifetime": lifetime, "lastseen": (seen or datetime.now(UTC)).isoformat()}


async def test_the_gate_follows_the_peering_object(client: KubeClient) -> None:
    plan = peering.PeeringPlan("gate-test", [], "me")
    priority = 100
    gate = PeeringGate(plan, client, lambda: priority, sharded=False)
    running = asyncio.create_task(gate.run())
    try:
        await asyncio.sleep(0.2)
        assert not gate.active, "mandatory peering starts paused while the peering object is missing"
        await client.create(peering.CLUSTER_PEERINGS, plan.body(None))
        await client.patch(peering.CLUSTER_PEERINGS, "gate-test", {"status": {"me": record(100, 10)}})
        await asyncio.wait_for(gate.wait_active(), timeout=5)

        # A higher peer appears with a record that lives 2 s more: paused, then active once it expired.
        await client.patch(peering.CLUSTER_PEERINGS, "gate-test", {"status": {"above": record(200, 2)}})
        await asyncio.wait_for(gate.wait_paused(), timeout=5)
        await asyncio.wait_for(gate.wait_active(), timeout=5)
        assert gate.active

        # The priority is read at each evaluation (resolve_ties may move it): a tie pauses.
        await client.patch(peering.CLUSTER_PEERINGS, "gate-test", {"status": {"twin": record(100, 60)}})
        await asyncio.wait_for(gate.wait_paused(), timeout=5)
        priority = 150
        await client.patch(peering.CLUSTER_PEERINGS, "gate-test", {"status": {"me": record(150, 10)}})
        await eventually(lambda: gate.active, message="a priority above the twin's works again")
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
