"""The Deployment that runs the group's candidates."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from leadergroup import constants
from leadergroup.builders.common import get_labels, get_metadata, get_selector_labels
from leadergroup.model import LeaderGroup

HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"


def get_election_env(lg: LeaderGroup) -> list[dict[str, Any]]:
    """The environment every container of the group gets, in the order it is injected.

    Args:
        lg: The group.

    Returns:
        EnvVar objects: the pod's name and namespace from the downward API, the Lease and the timings.
    """
    election = lg.spec.election
    return [
        _field_ref_env(constants.ENV_POD_NAME, "metadata.name"),
        _field_ref_env(constants.ENV_POD_NAMESPACE, "metadata.namespace"),
        {"name": constants.ENV_LEASE_NAME, "value": lg.lock_name},
        {"name": constants.ENV_LEASE_NAMESPACE, "value": lg.namespace},
        {"name": constants.ENV_LEASE_DURATION, "value": str(election.lease_duration_seconds)},
        {"name": constants.ENV_RENEW_DEADLINE, "value": str(election.renew_deadline_seconds)},
        {"name": constants.ENV_RETRY_PERIOD, "value": str(election.retry_period_seconds)},
    ]


def get_topology_spread_constraint(lg: LeaderGroup) -> dict[str, Any]:
    """Prefer one replica per node, so one node failure cannot take the leader and its standbys.

    ``ScheduleAnyway``: a group with more replicas than nodes must still run.

    Args:
        lg: The group.

    Returns:
        A TopologySpreadConstraint.
    """
    return {
        "maxSkew": 1,
        "topologyKey": HOSTNAME_TOPOLOGY_KEY,
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": get_selector_labels(lg)},
    }


def get_deployment(lg: LeaderGroup) -> dict[str, Any]:
    """The group's Deployment: the user's pod template, made into candidates of the group's election.

    Only fields the operator means are set; the API server's defaults (strategy, revisionHistoryLimit, ...)
    are left to it, so that the desired object stays minimal and comparable.

    Args:
        lg: The group.

    Returns:
        An apps/v1 Deployment named after the group.
    """
    template = copy.deepcopy(lg.spec.template)
    pod_metadata: dict[str, Any] = template.get("metadata") or {}
    # Ours last: the model has already refused templates whose labels fight the selector or set the role.
    # Every pod starts as a follower, so that only the holder's pod needs a label write when it leads.
    pod_metadata["labels"] = {
        **(pod_metadata.get("labels") or {}),
        **get_labels(lg),
        constants.LABEL_ROLE: constants.ROLE_FOLLOWER,
    }
    pod_spec: dict[str, Any] = template["spec"]
    pod_spec["serviceAccountName"] = constants.service_account_name(lg.name)
    election_env = get_election_env(lg)
    for field in ("initContainers", "containers"):
        containers = pod_spec.pop(field, None)
        if containers:
            pod_spec[field] = [_with_env(container, election_env) for container in containers]
    if lg.spec.placement.spread_across_nodes and not pod_spec.get("topologySpreadConstraints"):
        pod_spec["topologySpreadConstraints"] = [get_topology_spread_constraint(lg)]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": get_metadata(lg, constants.deployment_name(lg.name)),
        "spec": {
            "replicas": lg.spec.replicas,
            "selector": {"matchLabels": get_selector_labels(lg)},
            "template": {"metadata": pod_metadata, "spec": pod_spec},
        },
    }


def _with_env(container: Mapping[str, Any], election_env: list[dict[str, Any]]) -> dict[str, Any]:
    """The container with the election env in front of its own.

    In front, because Kubernetes expands ``$(VAR)`` only from variables defined earlier in the list, and
    users write ``-id=$(POD_NAME)``. A variable the user defines wins: ours of that name is left out.
    """
    user_env: list[dict[str, Any]] = list(container.get("env") or [])
    user_names = {variable.get("name") for variable in user_env}
    injected = [copy.deepcopy(variable) for variable in election_env if variable["name"] not in user_names]
    return {**container, "env": injected + user_env}


def _field_ref_env(name: str, field_path: str) -> dict[str, Any]:
    # apiVersion is what the API server defaults it to; set so that the stored object equals ours.
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": field_path}}}
