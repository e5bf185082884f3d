"""Checks of the pod template: the parts the operator relies on and the settings that would break a group.

The template stays a plain dict (the Deployment validates the pod spec); these checks cover what the CRD
schema checks too, for objects stored without it, and what no schema can say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from leadergroup import constants
from leadergroup.model.errors import NestedFieldError

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_CONTAINERS = 20


def find_template_problem(template: Mapping[str, Any]) -> NestedFieldError | None:
    """The first problem of a pod template, located below ``spec.template``, or None.

    Args:
        template: ``spec.template`` as the user wrote it.

    Returns:
        The problem, or None when the operator can build a Deployment from the template.
    """
    # null and absent mean the same to the API server, which prunes nulls; say so here too.
    metadata = template.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        return NestedFieldError(".metadata", "must be an object")
    problem = _labels_problem(metadata)
    if problem:
        return problem
    pod_spec = template.get("spec")
    if pod_spec is None:
        return NestedFieldError(".spec", "Field required: the pod spec with at least one container")
    if not isinstance(pod_spec, Mapping):
        return NestedFieldError(".spec", "must be an object")
    return _containers_problem(pod_spec) or _pod_settings_problem(pod_spec)


def _labels_problem(metadata: Mapping[str, Any]) -> NestedFieldError | None:
    labels = metadata.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(value, str) for value in labels.values()):
        return NestedFieldError(".metadata.labels", "must map label keys to string values")
    if constants.LABEL_ROLE in labels:
        return NestedFieldError(
            ".metadata.labels",
            f"{constants.LABEL_ROLE} must not be set: the operator sets it, {constants.ROLE_FOLLOWER} on "
            f"every new pod and {constants.ROLE_LEADER} on the pod holding the Lease",
        )
    return None


def _containers_problem(pod_spec: Mapping[str, Any]) -> NestedFieldError | None:
    containers = pod_spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return NestedFieldError(".spec.containers", "at least one container is required")
    if len(containers) > MAX_CONTAINERS:
        return NestedFieldError(".spec.containers", f"at most {MAX_CONTAINERS} containers are allowed")
    init_containers = pod_spec.get("initContainers") or []
    if not isinstance(init_containers, list):
        return NestedFieldError(".spec.initContainers", "must be a list of containers")
    seen: dict[str, str] = {}
    # Init containers share the pod's container names, so both lists are checked as one.
    located = [(f".spec.containers[{index}]", item) for index, item in enumerate(containers)] + [
        (f".spec.initContainers[{index}]", item) for index, item in enumerate(init_containers)
    ]
    for at, container in located:
        if not isinstance(container, Mapping):
            return NestedFieldError(at, "must be an object")
        name = container.get("name")
        if not isinstance(name, str) or not DNS1123_LABEL.match(name) or len(name) > 63:
            return NestedFieldError(
                f"{at}.name", "must be a DNS-1123 label: lowercase letters, digits and '-', at most 63"
            )
        if name in seen:
            return NestedFieldError(
                f"{at}.name", f"{name!r} is already the name of {seen[name]}: names must be unique"
            )
        seen[name] = f"spec.template{at}"
        image = container.get("image")
        if not isinstance(image, str) or not image:
            return NestedFieldError(f"{at}.image", "Field required: the container image")
    return None


def _pod_settings_problem(pod_spec: Mapping[str, Any]) -> NestedFieldError | None:
    if pod_spec.get("automountServiceAccountToken") is False:
        return NestedFieldError(
            ".spec.automountServiceAccountToken",
            "must not be false: the electors need the ServiceAccount token to update the Lease",
        )
    restart_policy = pod_spec.get("restartPolicy")
    if restart_policy not in (None, "Always"):
        return NestedFieldError(
            ".spec.restartPolicy",
            f"must be Always (or unset), not {restart_policy!r}: the pods run in a Deployment",
        )
    return None
