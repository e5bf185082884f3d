"""The ``/scale`` subresource: an autoscaling/v1 ``Scale`` view of an object's replicas."""

from __future__ import annotations

import copy
from typing import Any

from leadergroup.sim import errors
from leadergroup.sim.objects import get_path, set_path
from leadergroup.sim.patch import apply_patch
from leadergroup.sim.registry import Registry
from leadergroup.sim.resources import ResourceType
from leadergroup.sim.selectors import match_labels_selector

JsonDict = dict[str, Any]


def scale_of(rtype: ResourceType, obj: JsonDict) -> JsonDict:
    """The ``Scale`` of an object whose type has a scale subresource."""
    assert rtype.scale is not None
    metadata = obj["metadata"]
    if rtype.scale.label_selector_path:
        selector = get_path(obj, rtype.scale.label_selector_path) or ""
    else:
        selector = match_labels_selector((obj.get("spec") or {}).get("selector"))
    identity = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {key: metadata[key] for key in identity if key in metadata},
        "spec": {"replicas": get_path(obj, rtype.scale.spec_replicas_path) or 0},
        "status": {"replicas": get_path(obj, rtype.scale.status_replicas_path) or 0, "selector": selector},
    }


def serve_scale(
    registry: Registry,
    rtype: ResourceType,
    verb: str,
    namespace: str,
    name: str,
    content_type: str,
    body: Any,
) -> JsonDict:
    """GET, PUT or PATCH of ``.../{name}/scale``: only the replicas can change."""
    assert rtype.scale is not None
    current = registry.get(rtype, namespace, name)
    scale = scale_of(rtype, current)
    if verb == "get":
        return scale
    if verb == "patch":
        wanted = apply_patch(content_type, scale, body)
    elif isinstance(body, dict):
        wanted = body
    else:
        raise errors.bad_request("the request body must be a Scale object")
    requested_version = (wanted.get("metadata") or {}).get("resourceVersion")
    if requested_version and requested_version != current["metadata"]["resourceVersion"]:
        raise errors.conflict(rtype.plural, rtype.group, name)
    replicas = (wanted.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        cause = {
            "reason": "FieldValueInvalid",
            "field": "spec.replicas",
            "message": f"Invalid value: {replicas}: must be greater than or equal to 0",
        }
        raise errors.invalid("Scale", "autoscaling", name, [cause])
    candidate = copy.deepcopy(current)
    set_path(candidate, rtype.scale.spec_replicas_path, replicas)
    return scale_of(rtype, registry.write(rtype, current, candidate))
