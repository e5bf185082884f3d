"""Pure pieces of leader routing and fast failover: pod role labels and the released Lease record."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from leadergroup import constants

# Scale-downs and rollouts delete the pods with the lowest cost first: the leader goes last.
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
LEADER_DELETION_COST = "1000"


def get_pod_role_patch(pod: Mapping[str, Any], holder: str) -> dict[str, Any] | None:
    """The merge patch that gives a pod of the group its role, or None when it already has it.

    The holder is labelled ``leader`` (which the leader Service selects) and carries the deletion cost;
    every other pod is a ``follower``. Only our label and our annotation value are touched: a deletion
    cost the user set on a follower is left alone. Pods start as followers from the Deployment's
    template, so most of them never need a write; one without the label (its Deployment made before the
    template had it, or the label removed by hand) gets none while nobody leads, and is labelled when
    someone does.

    Args:
        pod: A pod of the group.
        holder: The Lease's current holder identity ("" when nobody leads).

    Returns:
        A merge patch of the pod's metadata, or None.
    """
    metadata = pod.get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    if not holder and constants.LABEL_ROLE not in labels:
        return None
    leads = bool(holder) and metadata.get("name") == holder
    role = constants.ROLE_LEADER if leads else constants.ROLE_FOLLOWER
    changes: dict[str, Any] = {}
    if labels.get(constants.LABEL_ROLE) != role:
        changes["labels"] = {constants.LABEL_ROLE: role}
    cost = annotations.get(DELETION_COST_ANNOTATION)
    if leads and cost != LEADER_DELETION_COST:
        changes["annotations"] = {DELETION_COST_ANNOTATION: LEADER_DELETION_COST}
    elif not leads and cost == LEADER_DELETION_COST:
        changes["annotations"] = {DELETION_COST_ANNOTATION: None}
    return {"metadata": changes} if changes else None


def get_released_lease(lease: Mapping[str, Any], now: str) -> dict[str, Any]:
    """The Lease with its holder cleared, as client-go's ``release()`` writes it.

    The body keeps the observed ``metadata.resourceVersion``, so the write is conditional: if the holder
    renewed, or another candidate took the Lease, since it was observed, the API server refuses it (409).

    Args:
        lease: The Lease as observed, naming the holder to clear.
        now: The current time as a MicroTime string.

    Returns:
        The whole Lease to PUT.
    """
    released = copy.deepcopy(dict(lease))
    spec = released.setdefault("spec", {})
    spec.update(holderIdentity="", leaseDurationSeconds=1, acquireTime=now, renewTime=now)
    return released
