"""Labels, owner reference and metadata shared by every child of a LeaderGroup."""

from __future__ import annotations

from typing import Any

from leadergroup import constants
from leadergroup.model import LeaderGroup


def get_selector_labels(lg: LeaderGroup) -> dict[str, str]:
    """The labels that select the group's pods: stable for the group's lifetime, as selectors must be.

    Args:
        lg: The group.

    Returns:
        ``{leadergroup.dev/group: <name>}``.
    """
    return {constants.LABEL_GROUP: lg.name}


def get_labels(lg: LeaderGroup) -> dict[str, str]:
    """The labels every child (and every pod) of the group carries.

    Args:
        lg: The group.

    Returns:
        The standard managed-by label and the group label.
    """
    return {constants.LABEL_MANAGED_BY: constants.MANAGER, **get_selector_labels(lg)}


def get_owner_reference(lg: LeaderGroup) -> dict[str, Any]:
    """The ownerReference that makes the group the controller of a child.

    Deleting the group lets the garbage collector delete the child; ``blockOwnerDeletion`` keeps a
    foreground deletion of the group waiting until the child is gone.

    Args:
        lg: The group.

    Returns:
        One ownerReference.
    """
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "name": lg.name,
        "uid": lg.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def get_metadata(lg: LeaderGroup, name: str) -> dict[str, Any]:
    """The metadata of a child named ``name``: namespace, labels and owner.

    Args:
        lg: The group.
        name: The child's name.

    Returns:
        The child's metadata.
    """
    return {
        "name": name,
        "namespace": lg.namespace,
        "labels": get_labels(lg),
        "ownerReferences": [get_owner_reference(lg)],
    }
