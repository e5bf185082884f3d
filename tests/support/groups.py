"""A LeaderGroup as a reconcile leaves its state, and the events of its children (unit tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from leadergroup import constants
from leadergroup.groupstate import GroupState
from leadergroup.model import LeaderGroup
from leadergroup.registry import GroupRegistry
from leadergroup.status import DeploymentView

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "minimal.yaml"


def group(name: str) -> dict[str, Any]:
    """The minimal sample as group ``name`` in namespace ``ns``, uid ``uid-<name>``."""
    body: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1}
    return body


def child(kind: str, version: str, owner: str = "uid-g", **status: Any) -> dict[str, Any]:
    """A child of group ``g`` at ``version``, owned by ``owner``."""
    return {
        "kind": kind,
        "metadata": {
            "name": "g",
            "namespace": "ns",
            "resourceVersion": version,
            "labels": {constants.LABEL_GROUP: "g"},
            "ownerReferences": [{"uid": owner}],
        },
        "status": status,
    }


def reconciled(registry: GroupRegistry) -> GroupState:
    """The state a reconcile leaves: the group known, each child judged at version 7."""
    state = registry.state(("ns", "g"))
    state.uid, state.group = "uid-g", LeaderGroup.from_body(group("g"))
    for kind in ("Deployment", "ServiceAccount", "Role"):
        state.converged[(kind, "g")] = "7"
    state.deployment = DeploymentView.of(child("Deployment", "7", readyReplicas=3))
    return state
