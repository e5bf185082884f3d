"""What GitOps tools conclude from the statuses the operator writes, by their documented rules.

kstatus (Flux's default health check) reads only ``observedGeneration``, ``Reconciling`` and ``Stalled``;
Flux's ``healthCheckExprs`` (docs/gitops.md, read from there) go through a fixed order, RFC 0009: the
generation check, then inProgress, failed, current, else in progress. Each state the operator reports
must read the same in both, and a group must be current only once it has a leader.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy.evaluation import CELEvalError

from leadergroup.status import DeploymentView, GroupFacts, LeaseView, Stall, next_status

GITOPS_DOC = Path(__file__).parents[2] / "docs" / "gitops.md"
NOW = datetime(2026, 7, 24, 12, 0, 0, tzinfo=UTC)
ROLLED_OUT = DeploymentView(generation=1, observed_generation=1, replicas=3, updated=3, ready=3)
COMING_UP = DeploymentView(generation=1, observed_generation=1, replicas=3, updated=3, ready=1)


def documented_expressions() -> dict[str, str]:
    """The ``healthCheckExprs`` entry for LeaderGroups, as docs/gitops.md gives it."""
    for block in re.findall(r"```yaml\n(.*?)```", GITOPS_DOC.read_text(), flags=re.S):
        if "healthCheckExprs" in block:
            (entry,) = yaml.safe_load(block)["spec"]["healthCheckExprs"]
            assert (entry["apiVersion"], entry["kind"]) == ("leadergroup.dev/v1alpha1", "LeaderGroup")
            return {key: entry[key] for key in ("inProgress", "failed", "current") if key in entry}
    raise AssertionError("docs/gitops.md gives no healthCheckExprs")


def flux_expressions(obj: dict[str, Any]) -> str:
    """Flux's StatusEvaluator: the generation check, then inProgress, failed, current; errors stay errors."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    if observed is not None and observed != obj["metadata"]["generation"]:
        return "InProgress"
    environment = celpy.Environment()
    activation = {key: celpy.json_to_cel(value) for key, value in obj.items()}
    for key, verdict in (("inProgress", "InProgress"), ("failed", "Failed"), ("current", "Current")):
        source = documented_expressions().get(key)
        if source is None:
            continue
        try:
            result = environment.program(environment.compile(source)).evaluate(activation)
        except CELEvalError:
            return "Error"
        if result:
            return verdict
    return "InProgress"


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus's generic reading of a custom resource (cli-utils: checkGeneration, then the conditions)."""
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if observed is not None and observed != obj["metadata"]["generation"]:
        return "InProgress"
    truth = {c["type"]: c["status"] for c in status.get("conditions", [])}
    if truth.get("Reconciling") == "True":
        return "InProgress"
    if truth.get("Stalled") == "True":
        return "Failed"
    return "Current"


def group(generation: int = 1, **facts: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"generation": 1, "replicas": 3, "deployment": ROLLED_OUT, **facts}
    status = next_status({}, GroupFacts(**values), NOW)
    return {"metadata": {"name": "g", "generation": generation}, "spec": {"replicas": 3}, "status": status}


STATES = {
    "led and rolled out": (group(lease=LeaseView("pod-a", 1)), "Current"),
    "replicas coming up": (group(lease=LeaseView("pod-a", 1), deployment=COMING_UP), "InProgress"),
    "every replica ready, nobody leads": (group(lease=LeaseView("", 1)), "InProgress"),
    "stalled": (group(stall=Stall("ChildNotOwned", "Role ns/g-lease is not ours")), "Failed"),
    "a new spec not yet applied": (group(generation=2, lease=LeaseView("pod-a", 1)), "InProgress"),
}


@pytest.mark.parametrize(("obj", "verdict"), STATES.values(), ids=STATES.keys())
def test_kstatus_and_the_documented_expressions_agree_on_every_state(
    obj: dict[str, Any], verdict: str
) -> None:
    assert kstatus(obj) == verdict
    assert flux_expressions(obj) == verdict


def test_a_group_with_no_status_yet_is_never_current_with_the_documented_expressions() -> None:
    fresh = {"metadata": {"name": "g", "generation": 1}, "spec": {"replicas": 3}}
    assert kstatus(fresh) == "Current", "kstatus's own gap, which the docs describe"
    assert flux_expressions(fresh) == "Error", "Flux retries an evaluation error until its timeout"
