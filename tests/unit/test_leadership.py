"""The judgement that the holder's elector exited, from what the kubelet reports (pure)."""

from __future__ import annotations

from typing import Any

from leadergroup.leadership import elector_exit


def pod(**containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": {"containerStatuses": [{"name": name, **fields} for name, fields in containers.items()]}
    }


RUNNING: dict[str, Any] = {"restartCount": 0, "state": {"running": {}}}


def test_a_terminated_elector_container_is_an_exit() -> None:
    current = pod(app={"restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}})
    assert elector_exit(None, current, "app") == "its container app terminated (OOMKilled)"


def test_the_exit_code_when_there_is_no_reason() -> None:
    current = pod(app={"state": {"terminated": {"exitCode": 2}}})
    assert elector_exit(None, current, "app") == "its container app terminated (exit code 2)"


def test_a_grown_restart_count_is_an_exit() -> None:
    before, after = pod(app=RUNNING), pod(app={"restartCount": 1, "state": {"running": {}}})
    assert elector_exit(before, after, "app") == "its container app restarted (restart count 0 -> 1)"


def test_a_restart_count_seen_for_the_first_time_proves_nothing() -> None:
    assert elector_exit(None, pod(app={"restartCount": 3, "state": {"running": {}}}), "app") is None


def test_only_the_elector_container_counts() -> None:
    current = pod(app={"state": {"terminated": {"exitCode": 1}}}, elector=RUNNING)
    assert elector_exit(pod(app=RUNNING, elector=RUNNING), current, "elector") is None


def test_running_and_unreported_are_not_exits() -> None:
    assert elector_exit(pod(app=RUNNING), pod(app=RUNNING), "app") is None
    assert elector_exit(None, {"status": {}}, "app") is None
