"""Leader routing and fast failover: the writes that follow a Lease's holder.

- Pods of a group are labelled ``leadergroup.dev/role=leader|follower`` (the leader Service selects the
  leader) and the leader carries a pod-deletion-cost, so scale-downs and rollouts remove standbys first.
- When the pod named by the Lease is deleted from the API while the Lease still names it, the holder is
  cleared with a conditional write, so a standby takes over at its next retry instead of waiting out the
  whole lease duration. Safety: the API server removes a pod object only after the kubelet reports its
  containers stopped — unless someone force-deletes it (``--grace-period=0 --force``) on a node that is
  partitioned, where the old process may still run. The same limit applies to any replacement pod
  started by the ReplicaSet in that case; see docs/operations.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from leadergroup.builders.leadership import get_pod_role_patch, get_released_lease
from leadergroup.elector.record import format_micro_time
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import LEASES, PODS

logger = logging.getLogger(__name__)


async def label_pod(client: KubeClient, pod: Mapping[str, Any], holder: str) -> dict[str, Any] | None:
    """Give a pod its role for ``holder``; returns the pod as patched, or None when nothing was written."""
    metadata = pod.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return None  # on its way out: its labels no longer matter
    patch = get_pod_role_patch(pod, holder)
    if patch is None:
        return None
    try:
        return await client.patch(PODS, metadata["name"], patch, metadata["namespace"])
    except ApiError as error:
        if error.not_found:
            return None
        raise


def _renewal_marks(lease: Mapping[str, Any]) -> tuple[Any, ...]:
    spec = lease.get("spec") or {}
    return spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions")


async def release_dead_holder(client: KubeClient, observed: Mapping[str, Any], dead_pod: str) -> bool:
    """Clear the Lease's holder if it still names ``dead_pod`` and nobody renewed it since ``observed``.

    The write carries the observed resourceVersion. On a 409 the Lease is read again: any renewal or new
    acquisition since the observation (holder, renewTime or transitions changed) proves a live holder and
    the release is abandoned; a change elsewhere (labels, say) only refreshes the precondition.

    Returns:
        Whether the holder was cleared.
    """
    metadata = observed["metadata"]
    name, namespace = metadata["name"], metadata["namespace"]
    marks = _renewal_marks(observed)
    lease = dict(observed)
    for _ in range(3):
        if (lease.get("spec") or {}).get("holderIdentity") != dead_pod or _renewal_marks(lease) != marks:
            return False
        try:
            await client.replace(
                LEASES, name, get_released_lease(lease, format_micro_time(datetime.now(UTC))), namespace
            )
        except ApiError as error:
            if error.not_found:
                return False
            if not error.conflict:
                raise
            lease = await client.get(LEASES, name, namespace)
            continue
        logger.info("Lease %s/%s released: its holder pod %s was deleted", namespace, name, dead_pod)
        return True
    return False
