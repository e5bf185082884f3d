"""Peers judged from when their keep-alives were seen, not from their stamps (Kopf's judge and ours)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

from kopf._core.engines import peering as kopf_peering
from kopf._core.reactor import orchestration

from leadergroup import kopfpeering
from leadergroup.cli.peering import parse_peers
from leadergroup.kopfpeering import PeerSightings, sighted

START = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def body(**stamps: datetime) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "status": {
            identity: {"priority": 100, "lifetime": 10, "lastseen": stamp.isoformat()}
            for identity, stamp in stamps.items()
        },
    }


def alive(sightings: PeerSightings, seen: dict[str, Any], now: datetime) -> bool:
    [peer] = parse_peers(sightings.restamped(seen, "me"))
    return peer.alive(now)


def test_a_keep_alive_that_travelled_longer_than_its_lifetime_counts_from_its_arrival() -> None:
    clock = Clock()
    sightings = PeerSightings(clock)
    assert alive(sightings, body(a=START - timedelta(seconds=2)), clock.now)
    # A 20 s partition: a's keep-alive, stamped 5 s into it, arrives at its end, 15 s old.
    clock.now = START + timedelta(seconds=20)
    late = body(a=START + timedelta(seconds=5))
    assert not parse_peers(late)[0].alive(clock.now), "by its stamp, a is dead (Kopf's own judgement)"
    assert alive(sightings, late, clock.now), "seen now: a lives for its lifetime from now"
    clock.now += timedelta(seconds=9)
    assert alive(sightings, late, clock.now)
    clock.now += timedelta(seconds=2)
    assert not alive(sightings, late, clock.now), "no newer keep-alive for a lifetime: dead"


def test_the_first_look_trusts_the_stamp_so_a_dead_peers_record_blocks_nobody() -> None:
    clock = Clock()
    leftover = body(crashed=START - timedelta(seconds=60))
    assert not alive(PeerSightings(clock), leftover, clock.now)


def test_an_unchanged_record_ages_from_when_it_was_first_seen() -> None:
    clock = Clock()
    sightings = PeerSightings(clock)
    assert alive(sightings, body(a=START - timedelta(seconds=1)), clock.now)
    clock.now += timedelta(seconds=12)
    assert not alive(sightings, body(a=START - timedelta(seconds=1)), clock.now)


def test_records_without_a_stamp_are_left_to_kopf() -> None:
    seen = {"status": {"a": {"priority": 1}, "b": None}}
    assert PeerSightings().restamped(seen, "me") == seen


async def test_kopfs_judge_is_fed_the_restamped_records() -> None:
    # If a Kopf upgrade stops looking the processor up in this module, the judge would fall back to stamps.
    assert "peering.process_peering_event" in inspect.getsource(orchestration)
    clock = Clock()
    judged: list[dict[str, Any]] = []

    async def judge(*, raw_event: dict[str, Any], **_: Any) -> None:
        judged.append(raw_event["object"])

    process = sighted(judge, PeerSightings(clock))  # Kopf passes identity as a keyword
    await process(
        raw_event={"type": "MODIFIED", "object": body(a=START - timedelta(seconds=3))}, identity="b"
    )
    clock.now = START + timedelta(seconds=30)
    await process(
        raw_event={"type": "MODIFIED", "object": body(a=START + timedelta(seconds=1))}, identity="b"
    )
    assert judged[1]["status"]["a"]["lastseen"] == clock.now.isoformat()

    kopfpeering.install()
    kopfpeering.install()  # twice: wrapped once
    assert getattr(kopf_peering.process_peering_event, "_leadergroup_sighted", False)


def test_a_replica_back_in_touch_counts_every_other_record_as_seen_now() -> None:
    clock = Clock()
    sightings = PeerSightings(clock)
    before = START - timedelta(seconds=1)
    sightings.restamped(body(me=before, a=before), "me")
    # Cut off for 20 s: our own keep-alive, sent during the cut, is the first news; a's record is unchanged.
    clock.now = START + timedelta(seconds=20)
    back = sightings.restamped(body(me=START + timedelta(seconds=3), a=before), "me")
    peers = {peer.identity: peer for peer in parse_peers(back)}
    assert peers["a"].alive(clock.now), "a's silence could not be heard: a counts as seen now"
    back_at = clock.now
    for _ in range(4):  # in touch again: our own keep-alive every 3 s, a silent
        clock.now += timedelta(seconds=3)
        seen_alive = alive_other(sightings, body(me=clock.now, a=before), clock.now)
        assert seen_alive == ((clock.now - back_at).total_seconds() < 10)


def test_a_replica_in_touch_sees_a_dead_peer_expire_on_time() -> None:
    clock = Clock()
    sightings = PeerSightings(clock)
    last = START - timedelta(seconds=1)
    for second in range(0, 12, 3):  # our own keep-alive every 3 s, a silent since its last one
        clock.now = START + timedelta(seconds=second)
        expected_alive = second < 9
        assert alive_other(sightings, body(me=clock.now, a=last), clock.now) == expected_alive, second


def alive_other(sightings: PeerSightings, seen: dict[str, Any], now: datetime) -> bool:
    peers = {peer.identity: peer for peer in parse_peers(sightings.restamped(seen, "me"))}
    return peers["a"].alive(now)
