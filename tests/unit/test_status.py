"""Status computation: holder fields, readiness, kstatus conditions, and minimal patches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leadergroup.status import (
    DeploymentView,
    GroupFacts,
    LeaseView,
    Stall,
    format_time,
    holder_change,
    next_status,
    stall_change,
    status_patch,
    transitions_within,
)

NOW = datetime(2026, 7, 24, 12, 0, 0, tzinfo=UTC)
READY = DeploymentView(generation=2, observed_generation=2, replicas=3, updated=3, ready=3)


def facts(**overrides: Any) -> GroupFacts:
    values: dict[str, Any] = {
        "generation": 1,
        "replicas": 3,
        "deployment": READY,
        "lease": LeaseView("pod-a", 1),
    }
    values.update(overrides)
    return GroupFacts(**values)


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


class TestHolder:
    def test_first_holder_is_reported_with_its_acquire_time(self) -> None:
        lease = LeaseView("pod-a", 1, acquire_time="2026-07-24T11:59:58.123456Z")
        status = next_status({}, facts(lease=lease), NOW)
        assert status["holder"] == "pod-a"
        assert status["leaseTransitions"] == 1
        assert status["lastTransitionTime"] == "2026-07-24T11:59:58Z"
        assert status["recentTransitions"] == [{"holder": "pod-a", "time": "2026-07-24T11:59:58Z"}]
        assert "leaderlessSince" not in status

    def test_renewal_changes_nothing(self) -> None:
        first = next_status({}, facts(), NOW)
        again = next_status(first, facts(), NOW + timedelta(seconds=2))
        assert status_patch(first, again) == {}

    def test_release_sets_leaderless_since_and_keeps_it(self) -> None:
        first = next_status({}, facts(), NOW)
        released = next_status(first, facts(lease=LeaseView("", 1)), NOW + timedelta(seconds=5))
        assert released["holder"] == ""
        assert released["leaderlessSince"] == format_time(NOW + timedelta(seconds=5))
        later = next_status(released, facts(lease=LeaseView("", 1)), NOW + timedelta(seconds=9))
        assert later["leaderlessSince"] == released["leaderlessSince"]
        assert condition(later, "Leaderless")["status"] == "True"
        assert condition(later, "Ready")["reason"] == "Leaderless"

    def test_new_holder_clears_leaderless_since(self) -> None:
        released = next_status({}, facts(lease=LeaseView("", 0)), NOW)
        taken = next_status(released, facts(lease=LeaseView("pod-b", 1)), NOW + timedelta(seconds=3))
        patch = status_patch(released, taken)
        assert patch["holder"] == "pod-b"
        assert patch["leaderlessSince"] is None
        assert holder_change(released, taken) == ("", "pod-b")

    def test_history_is_bounded(self) -> None:
        status: dict[str, Any] = {}
        for index in range(15):
            status = next_status(status, facts(lease=LeaseView(f"pod-{index}", index)), NOW)
        assert len(status["recentTransitions"]) == 10
        assert status["recentTransitions"][-1]["holder"] == "pod-14"

    def test_unobserved_lease_keeps_reported_holder(self) -> None:
        first = next_status({}, facts(), NOW)
        again = next_status(first, facts(lease=None), NOW)
        assert again["holder"] == "pod-a"


class TestConditions:
    def test_ready_when_rolled_out_and_led(self) -> None:
        status = next_status({}, facts(), NOW)
        assert condition(status, "Ready")["status"] == "True"
        assert condition(status, "Reconciling")["status"] == "False"
        assert condition(status, "Stalled")["status"] == "False"
        assert status["ready"] == "3/3"
        assert status["observedGeneration"] == 1

    def test_reconciling_while_replicas_come_up(self) -> None:
        rolling = DeploymentView(generation=2, observed_generation=2, replicas=3, updated=3, ready=1)
        status = next_status({}, facts(deployment=rolling), NOW)
        assert condition(status, "Reconciling")["status"] == "True"
        assert condition(status, "Ready")["status"] == "False"
        assert status["ready"] == "1/3"

    def test_deployment_controller_behind_is_reconciling(self) -> None:
        behind = DeploymentView(generation=3, observed_generation=2, replicas=3, updated=3, ready=3)
        status = next_status({}, facts(deployment=behind), NOW)
        assert condition(status, "Reconciling")["status"] == "True"

    def test_before_this_process_applied_a_spec_the_status_keeps_its_generation(self) -> None:
        # A restarted operator whose first reconcile failed: a Lease event still publishes the holder, and
        # the status goes on describing the generation the previous process applied.
        status = next_status({"observedGeneration": 4}, facts(generation=0), NOW)
        assert status["observedGeneration"] == 4
        assert {c["observedGeneration"] for c in status["conditions"]} == {4}
        assert "observedGeneration" not in next_status({}, facts(generation=0), NOW)

    def test_waiting_for_a_leader_is_reconciling(self) -> None:
        # kstatus (Flux) reads only Reconciling, Stalled and observedGeneration: a group nobody leads must
        # read as in progress there, as it does for Argo CD's health check, not as current.
        status = next_status({}, facts(lease=LeaseView("", 1)), NOW)
        reconciling = condition(status, "Reconciling")
        assert (reconciling["status"], reconciling["reason"]) == ("True", "WaitingForLeader")
        ready = condition(status, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "Leaderless")
        assert condition(status, "Stalled")["status"] == "False"

    def test_stalled_carries_the_message(self) -> None:
        stall = Stall("ChildNotOwned", "Role ns/g-lease already exists")
        status = next_status({}, facts(stall=stall), NOW)
        stalled = condition(status, "Stalled")
        assert stalled["status"] == "True"
        assert stalled["reason"] == "ChildNotOwned"
        assert stalled["message"] == "Role ns/g-lease already exists"
        assert condition(status, "Ready")["status"] == "False"

    def test_transition_time_moves_only_when_status_flips(self) -> None:
        first = next_status({}, facts(), NOW)
        later = next_status(first, facts(generation=2), NOW + timedelta(minutes=1))
        assert condition(later, "Ready")["lastTransitionTime"] == format_time(NOW)
        assert condition(later, "Ready")["observedGeneration"] == 2
        stalled = next_status(later, facts(generation=2, stall=Stall("X", "y")), NOW + timedelta(minutes=2))
        assert condition(stalled, "Ready")["lastTransitionTime"] == format_time(NOW + timedelta(minutes=2))

    def test_flapping_counts_new_holders_in_window(self) -> None:
        status: dict[str, Any] = {}
        for index in range(7):
            moment = NOW + timedelta(seconds=index)
            status = next_status(status, facts(lease=LeaseView(f"pod-{index % 2}", index)), moment)
        assert transitions_within(status, 600, NOW + timedelta(seconds=10)) == 7
        assert condition(status, "Flapping")["status"] == "True"
        calm = next_status(status, facts(), NOW + timedelta(hours=1))
        assert condition(calm, "Flapping")["status"] == "False"

    def test_a_quiet_group_needs_no_write_when_its_last_change_ages_out_of_the_window(self) -> None:
        """Time passing alone changes nothing the status says: no write for an idle or restarted group."""
        led = next_status({}, facts(lease=LeaseView("pod-0", 1)), NOW)
        within = next_status(led, facts(lease=LeaseView("pod-0", 1)), NOW + timedelta(seconds=599))
        aged_out = next_status(within, facts(lease=LeaseView("pod-0", 1)), NOW + timedelta(seconds=601))
        assert transitions_within(within, 600, NOW + timedelta(seconds=599)) == 1
        assert transitions_within(aged_out, 600, NOW + timedelta(seconds=601)) == 0
        assert status_patch(led, within) == {}
        assert status_patch(within, aged_out) == {}
        assert condition(aged_out, "Flapping")["message"] == "At most 5 leader changes in the last 600s"


class TestPatch:
    def test_removed_keys_become_null(self) -> None:
        assert status_patch({"a": 1, "b": 2}, {"a": 1}) == {"b": None}

    def test_equal_is_empty(self) -> None:
        assert status_patch({"a": [1]}, {"a": [1]}) == {}


class TestHolderChange:
    def test_no_change_when_still_leaderless(self) -> None:
        assert holder_change({}, {"holder": ""}) is None

    def test_change_reported_once(self) -> None:
        assert holder_change({"holder": "a"}, {"holder": "b"}) == ("a", "b")
        assert holder_change({"holder": "b"}, {"holder": "b"}) is None


def timed_out_deployment(generation: int, observed_generation: int) -> dict[str, Any]:
    """A Deployment whose controller gave up on the rollout it last observed."""
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed_generation,
            "replicas": 3,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": 'ReplicaSet "g-5c" has timed out progressing.',
                }
            ],
        },
    }


class TestRolloutFailure:
    def test_progress_deadline_exceeded_stalls_the_group(self) -> None:
        view = DeploymentView.of(timed_out_deployment(generation=2, observed_generation=2))
        status = next_status({}, facts(deployment=view), NOW)
        stalled = condition(status, "Stalled")
        assert stalled["status"] == "True"
        assert stalled["reason"] == "RolloutFailed"
        assert "timed out progressing" in stalled["message"]
        assert condition(status, "Reconciling")["status"] == "False"

    def test_a_deadline_from_before_the_latest_change_is_not_a_failure(self) -> None:
        # The template was just fixed: the Deployment's generation moved, its controller has not yet looked,
        # and its status still carries the old rollout's verdict. kubectl rollout status ignores it too.
        view = DeploymentView.of(timed_out_deployment(generation=3, observed_generation=2))
        assert view.rollout_failure is None
        status = next_status({}, facts(deployment=view), NOW)
        assert condition(status, "Stalled")["status"] == "False"
        assert condition(status, "Reconciling")["status"] == "True"

    def test_a_rollout_in_progress_is_not_a_failure(self) -> None:
        progressing = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
        deployment = {"metadata": {"generation": 1}, "status": {"conditions": [progressing]}}
        assert DeploymentView.of(deployment).rollout_failure is None


class TestHistoryCountsNewHolders:
    def test_releases_do_not_use_up_the_history(self) -> None:
        status: dict[str, Any] = {}
        for index in range(6):
            status = next_status(status, facts(lease=LeaseView(f"pod-{index}", index)), NOW)
            status = next_status(status, facts(lease=LeaseView("", index)), NOW)
        holders = [entry["holder"] for entry in status["recentTransitions"]]
        assert holders == [f"pod-{index}" for index in range(6)]
        assert condition(status, "Flapping")["status"] == "True"


class TestSummaryState:
    def test_ready(self) -> None:
        assert next_status({}, facts(), NOW)["state"] == "Ready"

    def test_reconciling_while_replicas_come_up(self) -> None:
        rolling = DeploymentView(generation=2, observed_generation=2, replicas=3, updated=3, ready=1)
        assert next_status({}, facts(deployment=rolling), NOW)["state"] == "Reconciling"

    def test_stalled_wins(self) -> None:
        stall = Stall("InvalidSpec", "bad")
        assert next_status({}, facts(stall=stall), NOW)["state"] == "Stalled"

    def test_otherwise_the_reason_ready_is_false(self) -> None:
        assert next_status({}, facts(lease=LeaseView("", 1)), NOW)["state"] == "Leaderless"


class TestStallChange:
    def test_reported_when_the_group_becomes_stalled(self) -> None:
        before = next_status({}, facts(), NOW)
        after = next_status(before, facts(stall=Stall("ChildNotOwned", "Role taken")), NOW)
        assert stall_change(before, after) == ("ChildNotOwned", "Role taken")

    def test_not_reported_again_for_the_same_stall(self) -> None:
        first = next_status({}, facts(stall=Stall("ChildNotOwned", "Role taken")), NOW)
        again = next_status(
            first, facts(stall=Stall("ChildNotOwned", "Role taken")), NOW + timedelta(seconds=30)
        )
        assert stall_change(first, again) is None

    def test_reported_when_the_reason_or_message_changes(self) -> None:
        first = next_status({}, facts(stall=Stall("ChildNotOwned", "Role taken")), NOW)
        other = next_status(first, facts(stall=Stall("ChildNotOwned", "RoleBinding taken")), NOW)
        assert stall_change(first, other) == ("ChildNotOwned", "RoleBinding taken")

    def test_recovery_is_not_a_stall(self) -> None:
        first = next_status({}, facts(stall=Stall("InvalidSpec", "bad")), NOW)
        assert stall_change(first, next_status(first, facts(), NOW)) is None
