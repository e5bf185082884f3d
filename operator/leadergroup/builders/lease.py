"""The Lease the group's replicas compete for."""

from __future__ import annotations

from typing import Any

from leadergroup.builders.common import get_metadata
from leadergroup.model import LeaderGroup


def get_lease(lg: LeaderGroup) -> dict[str, Any]:
    """The group's Lease, free: an empty holder is taken by the first candidate that polls it.

    The operator creates it so that electors need no ``create`` right. Only its creation uses this spec:
    afterwards the electors own ``spec``, and the operator must not write it back.

    Args:
        lg: The group.

    Returns:
        A coordination.k8s.io/v1 Lease named after the group's lock.
    """
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": get_metadata(lg, lg.lock_name),
        "spec": {
            "holderIdentity": "",
            "leaseDurationSeconds": lg.spec.election.lease_duration_seconds,
        },
    }
