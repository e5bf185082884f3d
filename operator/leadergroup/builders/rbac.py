"""The identity of the group's pods and the one right it needs: to hold its own Lease."""

from __future__ import annotations

from typing import Any

from leadergroup import constants
from leadergroup.builders.common import get_metadata
from leadergroup.model import LeaderGroup

# The blog's Role granted `*` on every Lease in the namespace. Electors only read, renew and watch one
# pre-created Lease, so they get exactly that, on that one name: no create (the operator creates it), no
# delete, no other Lease. list/watch with resourceNames allow only a single-object watch
# (fieldSelector=metadata.name=<lockName>), which leadergroup-elector uses to take a released Lease at once.
LEASE_VERBS = ("get", "update", "patch", "list", "watch")


def get_service_account(lg: LeaderGroup) -> dict[str, Any]:
    """The ServiceAccount the group's pods run as.

    Args:
        lg: The group.

    Returns:
        A v1 ServiceAccount named after the group.
    """
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": get_metadata(lg, constants.service_account_name(lg.name)),
    }


def get_role(lg: LeaderGroup) -> dict[str, Any]:
    """The Role that lets the group's pods read and renew the group's Lease, and nothing else.

    Args:
        lg: The group.

    Returns:
        An rbac.authorization.k8s.io/v1 Role ``<name>-lease`` with one rule.
    """
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": get_metadata(lg, constants.role_name(lg.name)),
        "rules": [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": [lg.lock_name],
                "verbs": list(LEASE_VERBS),
            }
        ],
    }


def get_role_binding(lg: LeaderGroup) -> dict[str, Any]:
    """The RoleBinding that grants the Lease Role to the group's ServiceAccount.

    Args:
        lg: The group.

    Returns:
        An rbac.authorization.k8s.io/v1 RoleBinding ``<name>-lease``.
    """
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": get_metadata(lg, constants.role_name(lg.name)),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": constants.role_name(lg.name),
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": constants.service_account_name(lg.name),
                "namespace": lg.namespace,
            }
        ],
    }
