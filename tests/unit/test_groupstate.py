"""What the operator remembers between events: echoes of its own writes, leadership accounting."""

from __future__ import annotations

from typing import Any

from leadergroup.groupstate import Echo, GroupState, PodView, pod_essentials, without_managed_fields
from leadergroup.leadership import elector_exit


def lease(holder: str, version: str = "1") -> dict[str, object]:
    return {"metadata": {"resourceVersion": version}, "spec": {"holderIdentity": holder}}


class TestEcho:
    def test_events_before_our_write_are_stale_until_its_echo(self) -> None:
        echo = Echo()
        echo.expect({"metadata": {"resourceVersion": "12"}})
        assert echo.is_stale({"metadata": {"resourceVersion": "10"}})
        assert echo.is_stale({"metadata": {"resourceVersion": "11"}})
        assert not echo.is_stale({"metadata": {"resourceVersion": "12"}})
        assert not echo.is_stale({"metadata": {"resourceVersion": "13"}})

    def test_nothing_awaited_nothing_stale(self) -> None:
        assert not Echo().is_stale({"metadata": {"resourceVersion": "1"}})


class TestPodView:
    def test_keeps_only_what_labelling_needs(self) -> None:
        pod = {
            "metadata": {
                "name": "p",
                "namespace": "ns",
                "uid": "u",
                "labels": {"a": "b"},
                "resourceVersion": "5",
                "managedFields": [{"manager": "kubelet"}],
            },
            "spec": {"containers": []},
            "status": {
                "containerStatuses": [
                    {"name": "app", "restartCount": 2, "image": "x", "state": {"running": {}}},
                ]
            },
        }
        view = PodView.of(pod, written=True)
        assert view.body == {
            "metadata": {
                "name": "p",
                "namespace": "ns",
                "uid": "u",
                "labels": {"a": "b"},
                "resourceVersion": "5",
            },
            # The restart counts: one that grows proves the elector exited (fast failover).
            "status": {"containerStatuses": [{"name": "app", "restartCount": 2}]},
        }
        assert view.echo.awaiting == "5"

    def test_a_termination_is_kept_and_judged_as_on_the_whole_pod(self) -> None:
        def pod(restarts: int, state: dict[str, Any]) -> dict[str, Any]:
            return {
                "metadata": {"name": "p", "managedFields": [{"manager": "kubelet"}]},
                "spec": {"containers": [{"name": "app"}, {"name": "side"}]},
                "status": {
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [
                        {"name": "app", "restartCount": restarts, "state": state, "image": "x"},
                        {"name": "side", "restartCount": 0, "state": {"running": {}}},
                    ],
                },
            }

        running = pod(0, {"running": {"startedAt": "t"}})
        terminated = pod(0, {"terminated": {"exitCode": 1, "reason": "Error"}})
        restarted = pod(1, {"running": {"startedAt": "t2"}})
        assert pod_essentials(terminated)["status"]["containerStatuses"] == [
            {"name": "app", "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}},
            {"name": "side", "restartCount": 0},
        ]
        # The failover's verdict (leadership.elector_exit) is the same on what is kept as on the pod.
        for previous, current in [
            (None, running),
            (running, terminated),
            (running, restarted),
            (running, running),
        ]:
            kept = None if previous is None else pod_essentials(previous)
            assert elector_exit(kept, pod_essentials(current), "app") == elector_exit(
                previous, current, "app"
            )
        assert elector_exit(pod_essentials(running), pod_essentials(restarted), "app") is not None


class TestLeadershipAccounting:
    def test_first_observation_is_not_a_change(self) -> None:
        state = GroupState()
        assert state.see_lease(lease("pod-a"))
        assert state.counters.leader_changes == 0
        assert state.see_lease(lease("pod-b", "2"))
        assert state.counters.leader_changes == 1

    def test_renewal_changes_nothing(self) -> None:
        state = GroupState()
        state.see_lease(lease("pod-a"))
        renewed = lease("pod-a", "2")
        assert not state.see_lease(renewed)
        assert state.lease_body == renewed

    def test_the_kept_lease_has_no_managed_fields_and_the_event_is_left_alone(self) -> None:
        state = GroupState()
        event = lease("pod-a")
        event["metadata"] = {"resourceVersion": "1", "managedFields": [{"manager": "elector"}]}
        state.see_lease(event)
        assert state.lease_body == {"metadata": {"resourceVersion": "1"}, "spec": {"holderIdentity": "pod-a"}}
        assert event["metadata"]["managedFields"] == [{"manager": "elector"}]  # type: ignore[index]

    def test_leaderless_time_accumulates_only_while_nobody_holds(self) -> None:
        state = GroupState()
        state.counters.holder_seen("", 100.0)
        state.counters.holder_seen("pod-a", 104.0)
        assert state.counters.leaderless_total(200.0) == 4.0
        state.counters.holder_seen("", 210.0)
        assert state.counters.leaderless_total(212.5) == 6.5


def test_without_managed_fields_copies_only_when_there_are_some() -> None:
    plain = {"metadata": {"name": "l"}, "spec": {}}
    assert without_managed_fields(plain) == plain
    assert without_managed_fields(plain) is not plain
    assert without_managed_fields({"spec": {}}) == {"spec": {}}
    assert without_managed_fields({"metadata": {"name": "l", "managedFields": []}}) == {
        "metadata": {"name": "l"}
    }
