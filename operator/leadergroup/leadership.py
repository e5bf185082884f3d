"""Leader routing and fast failover: the writes that follow a Lease's holder.

- Pods of a group are labelled ``leadergroup.dev/role=leader|follower`` (the leader Service selects the
  leader) and the leader carries a pod-deletion-cost, so scale-downs and rollouts remove standbys first.
- When the cluster confirms that the holder's elector is dead while the Lease still names it, the holder
  is cleared with a conditional write, so a standby takes over at once instead of waiting out the whole
  lease duration. Two signals confirm it:

  - the pod is gone from the API. Safety: the API server removes a pod object only after the kubelet
    reports its containers stopped — unless someone force-deletes it (``--grace-period=0 --force``) on a
    node that is partitioned, where the old process may still run; see docs/operations.md;
  - the kubelet reports the elector container terminated (``state.terminated``), or restarted (its
    ``restartCount`` grew): the process that held the Lease has exited. Only the elector's container
    counts; a restarted process with the pod's identity that renewed since makes the write give up.
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


def _container_status(pod: Mapping[str, Any] | None, container: str) -> Mapping[str, Any] | None:
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return dict(status)
    return None


def elector_exit(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any], container: str
) -> str | None:
    """Why the kubelet's report on ``current`` proves the elector's process exited, or None.

    Args:
        previous: the pod as last seen (None when unseen): a restart count that grew since proves an exit.
        current: the pod as now reported.
        container: the name of the container that runs the elector.
    """
    status = _container_status(current, container)
    if status is None:
        return None
    terminated = (status.get("state") or {}).get("terminated")
    if terminated:
        detail = terminated.get("reason") or f"exit code {terminated.get('exitCode')}"
        return f"its container {container} terminated ({detail})"
    before = _container_status(previous, container)
    restarts, earlier = int(status.get("restartCount") or 0), int((before or {}).get("restartCount") or 0)
    if before is not None and restarts > earlier:
        return f"its container {container} restarted (restart count {earlier} -> {restarts})"
    return None


def _renewal_marks(lease: Mapping[str, Any]) -> tuple[Any, ...]:
    spec = lease.get("spec") or {}
    return spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions")


async def release_dead_holder(
    client: KubeClient, observed: Mapping[str, Any], dead_pod: str, why: str = "was deleted"
) -> bool:
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
        logger.info("Lease %s/%s released: its holder pod %s %s", namespace, name, dead_pod, why)
        return True
    return False


async def release_if_pod_gone(
    client: KubeClient, observed: Mapping[str, Any], holder: str | None, pod: Mapping[str, Any]
) -> bool:
    """Release the Lease ``observed`` if ``pod``, named as its ``holder``, is gone from the API.

    Returns:
        Whether the holder was cleared.
    """
    metadata = pod.get("metadata") or {}
    name = str(metadata.get("name"))
    if holder != name:
        return False
    # A pod that leaves the label selector comes as DELETED too, alive: only a pod gone from the API (or
    # replaced by a namesake) proves that the holder's process is gone.
    current = await client.get_or_none(PODS, name, str(metadata.get("namespace")))
    if current is not None and current["metadata"].get("uid") == metadata.get("uid"):
        return False
    return await release_dead_holder(client, observed, name)


async def release_if_elector_exited(
    client: KubeClient,
    observed: Mapping[str, Any],
    holder: str | None,
    previous: Mapping[str, Any] | None,
    pod: Mapping[str, Any],
    elector_container: str,
) -> bool:
    """Release the Lease ``observed`` if the kubelet reports that the holder's elector container exited.

    Returns:
        Whether the holder was cleared.
    """
    name = str((pod.get("metadata") or {}).get("name"))
    if holder != name:
        return False
    why = elector_exit(previous, pod, elector_container)
    if why is None:
        return False
    return await release_dead_holder(client, observed, name, why)
