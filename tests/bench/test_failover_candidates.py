"""The failover bench's reading of the candidates' logs of terms: leaderless time and leader changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.failover_candidates import Candidate, leaderless_seconds, starts_after


def candidate(tmp_path: Path, identity: str, *events: tuple[str, float]) -> Candidate:
    log = tmp_path / f"leading-{identity}.jsonl"
    log.write_text("".join(json.dumps({"event": e, "id": identity, "t": t}) + "\n" for e, t in events))
    process: Any = None  # the log is all these tests read
    return Candidate(identity, process, log)


def test_a_handover_is_leaderless_from_the_old_stop_to_the_new_start(tmp_path: Path) -> None:
    old = candidate(tmp_path, "old", ("started", 1.0), ("stopped", 10.2))
    new = candidate(tmp_path, "new", ("started", 10.5))
    assert round(leaderless_seconds([old, new], since=10.0, until=20.0), 6) == 0.3
    assert starts_after([old, new], 10.0) == [10.5]


def test_a_killed_leaders_open_term_ends_where_it_was_cut(tmp_path: Path) -> None:
    frozen = candidate(tmp_path, "frozen", ("started", 1.0))
    standby = candidate(tmp_path, "standby", ("started", 25.0))
    assert leaderless_seconds([frozen, standby], 10.0, 30.0, cut={"frozen": 10.0}) == 15.0
    # Not cut: its term is open, so nobody was ever leaderless.
    assert leaderless_seconds([frozen, standby], 10.0, 30.0) == 0.0


def test_every_gap_of_a_rollout_counts_and_overlaps_count_once(tmp_path: Path) -> None:
    first = candidate(tmp_path, "a", ("started", 0.0), ("stopped", 11.0))
    second = candidate(tmp_path, "b", ("started", 12.0), ("stopped", 15.0))
    third = candidate(tmp_path, "c", ("started", 14.5), ("stopped", 16.0), ("started", 18.0))
    candidates = [first, second, third]
    # Gaps: 11-12 and 16-18; 14.5-15 overlaps.
    assert leaderless_seconds(candidates, 10.0, 20.0) == 3.0
    assert starts_after(candidates, 10.0) == [12.0, 14.5, 18.0]
