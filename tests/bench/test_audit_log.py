"""bench/realcluster.AuditLog: requests by actor from a JSON audit log, read by offset across rotations."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import cpu_by_process, cpu_used
from bench.realcluster import AuditEntry, AuditLog, actor_of, tally, timeline


def line(verb: str, resource: str, user_agent: str, moment: float, user: str = "admin") -> str:
    stamp = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    entry = {
        "stage": "ResponseComplete",
        "verb": verb,
        "userAgent": user_agent,
        "user": {"username": user},
        "objectRef": {"resource": resource, "namespace": "ns"},
        "requestReceivedTimestamp": stamp,
    }
    return json.dumps(entry) + "\n"


def test_actors_are_told_apart_by_user_agent_then_user() -> None:
    assert actor_of("kopf/1.45.2", "admin") == "operator"
    assert actor_of("leadergroup-operator/reconciler", "admin") == "operator"
    assert actor_of("leadergroup-bench", "admin") == "bench"
    assert actor_of("kwok/v0.8.0", "admin") == "kwok"
    assert actor_of("kube-controller-manager/v1.37.2", "system:serviceaccount:kube-system:x") == (
        "controller-manager"
    )
    assert actor_of("Go-http-client/2.0", "system:kube-scheduler") == "scheduler"
    assert actor_of("curl/8", "someone") == "other"


def test_a_read_that_spans_a_rotation_finds_every_request_once(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    now = time.time()
    path.write_text(line("create", "pods", "kopf/1", now - 10))  # before the window
    audit = AuditLog(path)
    since = audit.mark()
    with path.open("a") as log:
        log.write(line("patch", "pods", "kopf/1", since + 0.001))
        log.write(line("get", "pods", "kwok/1", since + 0.002))
    # kube-apiserver's rotation: the file is renamed and a new one started.
    path.rename(tmp_path / "audit-2026-12-02T03-19-03.625.log")
    path.write_text(line("update", "leases", "leadergroup-bench", since + 0.003))
    entries = audit.entries(since, since + 1)
    assert [(e.actor, e.verb) for e in entries] == [
        ("operator", "patch"),
        ("kwok", "get"),
        ("bench", "update"),
    ]
    counted = tally(entries)
    assert (counted["writes"], counted["reads"]) == (2, 1)
    assert counted["by_actor"]["operator"]["write_by_verb"] == {"patch pods": 1}
    # A mark taken after the rotation reads the new file only.
    later = audit.mark()
    with path.open("a") as log:
        log.write(line("create", "events", "kopf/1", later + 0.001))
    assert [(e.verb, e.resource) for e in audit.entries(later)] == [("create", "events")]


def test_the_timeline_gives_each_steps_first_median_last_and_busiest_second() -> None:
    start = 1_000.0
    bindings = [
        AuditEntry("scheduler", "create", "pods", "binding", start + moment)
        for moment in (0.2, 0.7, 1.1, 2.9)
    ]
    other = [
        AuditEntry("kwok", "patch", "pods", "status", start + 3.5),
        AuditEntry("operator", "get", "leases", None, start + 0.1),  # a read: not a step
    ]

    steps = timeline([*other, *reversed(bindings)], start)

    assert steps == {
        "scheduler create pods/binding": {
            "count": 4,
            "first_s": 0.2,
            "median_s": 1.1,
            "last_s": 2.9,
            "busiest_second": 2,
        },
        "kwok patch pods/status": {
            "count": 1,
            "first_s": 3.5,
            "median_s": 3.5,
            "last_s": 3.5,
            "busiest_second": 1,
        },
    }


def test_cpu_used_is_each_process_s_difference_and_the_cores_it_kept_busy() -> None:
    before = {"kube-apiserver": 10.0, "operator": 2.0, "etcd": 1.0}
    after = {"kube-apiserver": 70.0, "operator": 32.0, "bench": 5.0}  # etcd gone, bench new: left out

    used = cpu_used(before, after, seconds=60.0)

    assert used == {
        "seconds": 60.0,
        "by_process": {"kube-apiserver": 60.0, "operator": 30.0},
        "total": 90.0,
        "cores_busy": 1.5,
    }
    assert list(used["by_process"]) == ["kube-apiserver", "operator"]  # the busiest first


def test_cpu_by_process_samples_the_bench_itself_and_skips_processes_gone() -> None:
    sampled = cpu_by_process({"gone": 2**22 + 1})  # above the default pid_max: no such process

    assert set(sampled) == {"bench"}
    assert sampled["bench"] > 0
