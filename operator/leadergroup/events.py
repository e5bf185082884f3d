"""Kubernetes Events on a LeaderGroup (``kubectl describe lg`` shows them)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from leadergroup import constants
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import EVENTS
from leadergroup.status import format_time

logger = logging.getLogger(__name__)


def build_event(
    group: dict[str, Any], *, reason: str, message: str, type_: str = "Normal", now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about one LeaderGroup (``group`` holds its name, namespace and uid)."""
    stamp = format_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{group['name']}.", "namespace": group["namespace"]},
        "involvedObject": {
            "apiVersion": constants.API_VERSION,
            "kind": constants.KIND,
            "name": group["name"],
            "namespace": group["namespace"],
            "uid": group["uid"],
        },
        "reason": reason,
        "message": message[:1024],
        "type": type_,
        "source": {"component": constants.MANAGER},
        "reportingComponent": constants.MANAGER,
        "reportingInstance": os.environ.get("POD_ID") or os.environ.get("HOSTNAME") or constants.MANAGER,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


async def post_event(
    client: KubeClient, group: dict[str, Any], *, reason: str, message: str, type_: str = "Normal"
) -> None:
    """Post an Event; failures are logged, never raised (an Event is not worth a failed reconcile)."""
    event = build_event(group, reason=reason, message=message, type_=type_, now=datetime.now(UTC))
    try:
        await client.create(EVENTS, event, group["namespace"])
    except ApiError as error:
        logger.warning("Could not post event %s on LeaderGroup %s: %s", reason, group["name"], error)
