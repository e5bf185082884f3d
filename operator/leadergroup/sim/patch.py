"""The PATCH flavours: JSON merge patch, JSON patch, approximations of strategic merge patch and apply.

Strategic merge patch is approximated: maps merge as in a merge patch; lists of objects merge by their
merge key (``name`` for containers, env, volumes, ports...; ``uid`` for ownerReferences, ``type`` for
conditions, ``containerPort``/``port`` for ports, ``mountPath`` for volumeMounts); ``metadata.finalizers``
merges as a set; elements with ``$patch: delete`` are removed; every other list is replaced. kube's
``$retainKeys``, ``$setElementOrder`` and ``$deleteFromPrimitiveList`` directives are ignored.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from leadergroup.sim.errors import ApiError, bad_request, unsupported_media_type

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"

# Merge keys by field name, from the Kubernetes API's patchMergeKey tags for the commonly patched fields.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
_SET_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch; returns a new value and never mutates its arguments."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902 JSON patch; a failed ``test`` or a bad path is 422, as kube answers (Kopf relies on it)."""
    if not isinstance(operations, list):
        raise bad_request("the JSON patch must be a list of operations")
    try:
        result = jsonpatch.apply_patch(target, operations, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {error}"
        ) from error
    except (TypeError, KeyError, ValueError) as error:
        raise bad_request(f"invalid JSON patch: {error}") from error
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "the patched object is not a JSON object")
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """The strategic merge patch approximation described in the module docstring."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {key: copy.deepcopy(value) for key, value in patch.items() if key != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        elif isinstance(value, list):
            result[key] = [
                item
                for item in copy.deepcopy(value)
                if not (isinstance(item, dict) and item.get("$patch") == "delete")
            ]
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        if all(isinstance(item, dict) and "containerPort" in item for item in items):
            return "containerPort"
        return "port" if all(isinstance(item, dict) and "port" in item for item in items) else None
    if field in _MERGE_KEYS:
        return _MERGE_KEYS[field]
    if items and all(isinstance(item, dict) and "name" in item for item in items):
        return "name"
    return None


def _merge_list(field: str, current: list[Any], patch: list[Any]) -> list[Any]:
    if field in _SET_LISTS:
        return current + [item for item in patch if item not in current]
    merge_key = _merge_key(field, patch)
    if merge_key is None or not all(isinstance(item, dict) for item in current):
        return [
            item
            for item in copy.deepcopy(patch)
            if not (isinstance(item, dict) and item.get("$patch") == "delete")
        ]
    merged = copy.deepcopy(current)
    for item in patch:
        index = next((i for i, old in enumerate(merged) if old.get(merge_key) == item.get(merge_key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
        elif index is None:
            merged.append(strategic_merge_patch({}, item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


# Custom resources have no Go struct to take merge keys from: kube refuses strategic merge patches.
_CUSTOM_RESOURCE_PATCH_TYPES = (JSON_PATCH, MERGE, APPLY)


def check_patch_type(content_type: str, custom: bool) -> None:
    """Refuse (415) a patch type the resource does not accept, before anything is read, as kube does."""
    media_type = content_type.split(";")[0].strip().lower()
    if custom and media_type == STRATEGIC:
        raise unsupported_media_type(content_type, accepted=_CUSTOM_RESOURCE_PATCH_TYPES)


def is_apply(content_type: str) -> bool:
    """Whether a PATCH is a server-side apply."""
    return content_type.split(";")[0].strip().lower() == APPLY


def apply_patch(
    content_type: str, target: dict[str, Any], patch: Any, *, custom: bool = False
) -> dict[str, Any]:
    """Dispatch on the request's Content-Type.

    Server-side apply is approximated without field ownership: the applied configuration is merged into
    the object (strategically for built-ins, as a merge patch for custom resources), so what it sets wins
    and nothing it leaves out is removed; no conflicts, no ``managedFields`` (docs/testing.md).
    """
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == MERGE:
        result = merge_patch(target, patch)
    elif media_type == JSON_PATCH:
        return json_patch(target, patch)
    elif media_type == STRATEGIC:
        result = strategic_merge_patch(target, patch)
    elif media_type == APPLY:
        if not isinstance(patch, dict):
            raise bad_request("the applied configuration must be a YAML or JSON object")
        result = merge_patch(target, patch) if custom else strategic_merge_patch(target, patch)
    else:
        raise unsupported_media_type(content_type)
    if not isinstance(result, dict):
        raise bad_request("the patch must be a JSON object")
    return result
