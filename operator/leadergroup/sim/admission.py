"""Custom resource admission: structural-schema pruning, defaulting and validation (incl. CEL).

The work is done by ``leadergroup.sim.schema.admit``; this module turns its ``SchemaError`` into the
422 ``Status`` kube-apiserver returns. Versions without a schema pass unchanged.
"""

from __future__ import annotations

from typing import Any

from leadergroup.sim.errors import ApiError
from leadergroup.sim.resources import ResourceType
from leadergroup.sim.schema import SchemaError, admit

JsonDict = dict[str, Any]


def admit_custom_resource(rtype: ResourceType, obj: JsonDict, old: JsonDict | None) -> JsonDict:
    """Prune, default and validate a custom resource against its version's schema (422 on failure)."""
    if rtype.schema is None:
        return obj
    name = obj["metadata"].get("name", "")
    try:
        scale = rtype.scale
        paths = (scale.spec_replicas_path, scale.status_replicas_path) if scale is not None else ()
        admitted = admit(rtype.schema, obj, old, kind=rtype.kind, name=name, replicas_paths=paths)
    except SchemaError as error:
        raise ApiError(
            422,
            "Invalid",
            error.message(rtype.kind, rtype.group, name),
            details={
                "name": name,
                "group": rtype.group,
                "kind": rtype.kind,
                "causes": [
                    {"reason": cause.reason, "message": cause.message, "field": cause.field}
                    for cause in error.causes
                ],
            },
        ) from error
    # The server owns identity and bookkeeping; the schema layer only decides about the payload.
    admitted["apiVersion"], admitted["kind"] = obj["apiVersion"], obj["kind"]
    admitted["metadata"] = obj["metadata"]
    return admitted
