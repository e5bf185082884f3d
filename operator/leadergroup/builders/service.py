"""The Service that routes only to the pod holding the Lease."""

from __future__ import annotations

from typing import Any

from leadergroup import constants
from leadergroup.builders.common import get_metadata, get_selector_labels
from leadergroup.model import LeaderGroup, LeaderServicePort


def get_leader_service(lg: LeaderGroup) -> dict[str, Any] | None:
    """The Service ``<name>-leader`` selecting the group's pod labelled as leader.

    Args:
        lg: The group.

    Returns:
        A v1 Service, or None when the group has no ``leaderService``.
    """
    leader_service = lg.spec.leader_service
    if leader_service is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": get_metadata(lg, constants.leader_service_name(lg.name)),
        "spec": {
            "type": leader_service.type,
            "selector": {**get_selector_labels(lg), constants.LABEL_ROLE: constants.ROLE_LEADER},
            "ports": [_get_port(port) for port in leader_service.ports],
        },
    }


def _get_port(port: LeaderServicePort) -> dict[str, Any]:
    # Unset optional fields stay unset: the API server defaults them and the apply layer compares only
    # what we set.
    built: dict[str, Any] = {"port": port.port, "protocol": port.protocol}
    if port.name:
        built["name"] = port.name
    if port.target_port is not None:
        built["targetPort"] = port.target_port
    return built
