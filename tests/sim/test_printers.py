"""kube's printers of built-in kinds: a dict in, the cells kubectl shows out."""

from __future__ import annotations

from typing import Any

from leadergroup.sim.printers import PRINTERS, event_cells

META = {"name": "x", "creationTimestamp": "2026-01-01T00:00:00Z"}


def cells(storage_key: tuple[str, str], obj: dict[str, Any]) -> list[Any]:
    columns, render = PRINTERS[storage_key]
    row = render({"metadata": META, **obj})
    assert len(row) == len(columns)
    return row


def test_a_deployment_shows_ready_of_desired_and_its_containers() -> None:
    row = cells(
        ("apps", "deployments"),
        {
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"b": "2", "a": "1"}},
                "template": {
                    "spec": {"containers": [{"name": "a", "image": "i:1"}, {"name": "b", "image": "j"}]}
                },
            },
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        },
    )
    assert row[:4] == ["x", "2/3", 3, 2]
    assert row[5:] == ["a,b", "i:1,j", "a=1,b=2"]


def _pod(**status: Any) -> dict[str, Any]:
    return {
        "spec": {"containers": [{"name": "app"}, {"name": "side"}]},
        "status": {"phase": "Running", **status},
    }


def test_a_pod_shows_the_reason_of_its_last_waiting_container_and_its_restarts() -> None:
    statuses = [
        {"name": "app", "ready": True, "restartCount": 0, "state": {"running": {}}},
        {
            "name": "side",
            "ready": False,
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"finishedAt": "2026-01-01T00:00:00Z"}},
        },
    ]
    row = cells(("", "pods"), _pod(containerStatuses=statuses))
    assert row[1:3] == ["1/2", "CrashLoopBackOff"]
    assert row[3].startswith("4 (") and row[3].endswith(" ago)")
    assert row[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_a_pod_being_deleted_is_terminating() -> None:
    pod = _pod(podIPs=[{"ip": "10.0.0.5"}])
    pod["spec"]["nodeName"] = "kwok-0"
    _, render = PRINTERS[("", "pods")]
    row = render({"metadata": {**META, "deletionTimestamp": "2026-01-01T00:00:01Z"}, **pod})
    assert row[2] == "Terminating" and row[5:7] == ["10.0.0.5", "kwok-0"]


def test_a_service_lists_its_ports_and_a_budget_says_n_a_for_what_is_unset() -> None:
    service = {
        "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.9"], "ports": [{"port": 80, "nodePort": 30080}]}
    }
    assert cells(("", "services"), service)[1:5] == ["NodePort", "10.96.0.9", "<none>", "80:30080/TCP"]
    budget = {"spec": {"maxUnavailable": 1}, "status": {"disruptionsAllowed": 1}}
    assert cells(("policy", "poddisruptionbudgets"), budget)[1:4] == ["N/A", "1", 1]


def test_a_binding_names_its_role_and_subjects() -> None:
    binding = {
        "roleRef": {"kind": "Role", "name": "lease"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
            {"kind": "User", "name": "jane"},
        ],
    }
    row = cells(("rbac.authorization.k8s.io", "rolebindings"), binding)
    assert row[1] == "Role/lease" and row[3:] == ["jane", "", "ns/sa"]


def test_an_event_of_a_series_counts_the_series() -> None:
    event = {
        "metadata": {"name": "e"},
        "type": "Normal",
        "reason": "LeaderChanged",
        "involvedObject": {"kind": "LeaderGroup", "name": "g"},
        "message": " changed ",
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": "2026-01-01T00:00:00.000000Z"},
    }
    row = event_cells(event)
    assert row[1:4] == ["Normal", "LeaderChanged", "leadergroup/g"] and row[6] == "changed" and row[8] == 7
