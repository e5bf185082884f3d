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

    The identity, the Lease and the rights to it come before the pods that use them, so no pod ever
    starts without its Lease or its permission to renew it. The Lease comes before the Role that names
    it: applying stops at the first child whose name another owner holds, so a lockName that names
    someone else's Lease never grants the group's pods a right to write it.

    Args:
        lg: The group.

    Returns:
        ServiceAccount, Lease, Role, RoleBinding, Deployment, then the leader Service and the
        PodDisruptionBudget when the spec asks for them.
    """
    optional = [get_leader_service(lg), get_disruption_budget(lg)]
    return [
        get_service_account(lg),
        get_lease(lg),
        get_role(lg),
        get_role_binding(lg),
        get_deployment(lg),
        *(child for child in optional if child is not None),
    ]
