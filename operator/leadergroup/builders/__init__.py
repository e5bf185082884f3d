"""Pure builders of a LeaderGroup's children: LeaderGroup in, Kubernetes object (a dict) out.

No I/O, no environment reads, no clocks: the same group always builds the same objects, so the apply layer
can compare desired with actual field by field.
"""

from __future__ import annotations

from typing import Any

from leadergroup.builders.common import get_labels, get_metadata, get_owner_reference, get_selector_labels
from leadergroup.builders.deployment import get_deployment, get_election_env, get_topology_spread_constraint
from leadergroup.builders.disruption_budget import get_disruption_budget
from leadergroup.builders.lease import get_lease
from leadergroup.builders.rbac import get_role, get_role_binding, get_service_account
from leadergroup.builders.service import get_leader_service
from leadergroup.model import LeaderGroup

__all__ = [
    "get_children",
    "get_deployment",
    "get_disruption_budget",
    "get_election_env",
    "get_labels",
    "get_leader_service",
    "get_lease",
    "get_metadata",
    "get_owner_reference",
    "get_role",
    "get_role_binding",
    "get_selector_labels",
    "get_service_account",
    "get_topology_spread_constraint",
]


def get_children(lg: LeaderGroup) -> list[dict[str, Any]]:
    """Every child the group should have, in creation order.

    The identity and its rights come before the pods that use them, and the Lease before the candidates
    that poll it, so no pod ever starts without its Lease or its permission to renew it.

    Args:
        lg: The group.

    Returns:
        ServiceAccount, Role, RoleBinding, Lease, Deployment, then the leader Service and the
        PodDisruptionBudget when the spec asks for them.
    """
    optional = [get_leader_service(lg), get_disruption_budget(lg)]
    return [
        get_service_account(lg),
        get_role(lg),
        get_role_binding(lg),
        get_lease(lg),
        get_deployment(lg),
        *(child for child in optional if child is not None),
    ]
