"""The PodDisruptionBudget that lets voluntary disruptions take one replica at a time."""

from __future__ import annotations

from typing import Any

from leadergroup import constants
from leadergroup.builders.common import get_metadata, get_selector_labels
from leadergroup.model import LeaderGroup


def get_disruption_budget(lg: LeaderGroup) -> dict[str, Any] | None:
    """The group's PodDisruptionBudget: drains evict at most one replica at a time.

    ``maxUnavailable: 1`` rather than ``minAvailable``: it never blocks a drain of a one-replica group,
    and it keeps standbys around while the leader's node is drained.

    Args:
        lg: The group.

    Returns:
        A policy/v1 PodDisruptionBudget, or None when ``placement.disruptionBudget`` is false.
    """
    if not lg.spec.placement.disruption_budget:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": get_metadata(lg, constants.disruption_budget_name(lg.name)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": get_selector_labels(lg)},
            # A crash-looping replica must not block node drains: it is not serving anyway.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
