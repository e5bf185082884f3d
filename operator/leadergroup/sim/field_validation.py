"""``?fieldValidation=Strict|Warn|Ignore``: what the API server does with fields no schema names.

kube-apiserver drops unknown fields of every kind (custom kinds by pruning, built-ins by decoding into Go
types). ``Strict`` refuses the write with 400 BadRequest, ``Warn`` (the default without the parameter)
answers with one ``Warning`` header per field, ``Ignore`` drops them silently. kubectl sends ``Strict``
unless ``--validate=false`` (``Ignore``) or ``--validate=warn``. Built-in kinds are judged against the
published OpenAPI schemas (:mod:`leadergroup.sim.openapi_builtin`), custom ones against their CRD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from leadergroup.sim import errors, openapi, openapi_builtin, schema
from leadergroup.sim.field_errors import child_path, index_path, key_path
from leadergroup.sim.resources import ResourceType
from leadergroup.sim.schema_prune import OBJECT_META_FIELDS, PRESERVE_UNKNOWN

JsonDict = dict[str, Any]
DIRECTIVES: Final = ("Ignore", "Warn", "Strict")


@dataclass
class FieldValidation:
    """One request's directive, and the warnings it collected for the response."""

    directive: str = "Warn"
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, value: str | None, verb: str) -> FieldValidation:
        """The request's directive; an unknown one is a 422 on the verb's options kind, as kube's."""
        if not value:
            return cls()
        if value not in DIRECTIVES:
            options = {"create": "CreateOptions", "update": "UpdateOptions"}.get(verb, "PatchOptions")
            supported = ", ".join(f'"{name}"' for name in sorted(("", *DIRECTIVES)))
            cause = {
                "reason": "FieldValueNotSupported",
                "field": "fieldValidation",
                "message": f'Unsupported value: "{value}": supported values: {supported}',
            }
            raise errors.invalid(options, "meta.k8s.io", "", [cause])
        return cls(value)

    def check_strategic_patch(self, rtype: ResourceType, patch: Any) -> None:
        """``Strict`` judges a strategic merge patch itself, before it is applied, as kube does."""
        if self.directive != "Strict" or rtype.custom or not isinstance(patch, dict):
            return
        unknown = [path for path, _, _ in _unknown_builtin(rtype, patch) if "$" not in path]
        if unknown:
            listed = ", ".join(f'unknown field "{path}"' for path in unknown)
            cause = {
                "reason": "FieldValueInvalid",
                "field": "patch",
                "message": f'Invalid value: "{go_format(patch)}": strict decoding error: {listed}',
            }
            raise errors.invalid("", "", "", [cause])

    def check(self, rtype: ResourceType, obj: JsonDict) -> None:
        """Refuse (Strict) or note (Warn) the fields of ``obj`` the kind's schema does not name.

        Built-in objects lose those fields here (the Go round trip drops them); custom resources lose
        them later, when they are pruned.
        """
        if self.directive == "Ignore":
            drop_unknown_fields(rtype, obj)
            return
        unknown = unknown_fields(rtype, obj)
        if not unknown:
            return
        if self.directive == "Strict":
            listed = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise errors.bad_request(
                f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
                f"strict decoding error: {listed}"
            )
        if self.directive == "Warn":
            self.warnings.extend(f'unknown field "{path}"' for path in unknown)
        drop_unknown_fields(rtype, obj)


def unknown_fields(rtype: ResourceType, obj: JsonDict) -> list[str]:
    """Paths (``spec.replicaz``, ``spec.template.spec.containers[0].imagee``) of fields no schema names."""
    if rtype.custom:
        # The root's metadata is decoded into Go's ObjectMeta: what it does not name is unknown too.
        metadata = obj.get("metadata")
        found = [f"metadata.{key}" for key in metadata or {} if key not in OBJECT_META_FIELDS]
        return found + (schema.unknown_fields(rtype.schema, obj) if rtype.schema is not None else [])
    return [path for path, _, _ in _unknown_builtin(rtype, obj)]


def go_format(value: Any) -> str:
    """A decoded JSON value as Go's ``%v`` prints it (``map[spec:map[replicas:2]]``)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{go_format(value[key])}" for key in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_format(item) for item in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def drop_unknown_fields(rtype: ResourceType, obj: JsonDict) -> None:
    """Remove what decoding into Go types drops: unknown fields of built-ins, a custom resource's metadata.

    The rest of a custom resource is pruned later, by its schema.
    """
    if rtype.custom:
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            for key in [key for key in metadata if key not in OBJECT_META_FIELDS]:
                del metadata[key]
        return
    for _, parent, key in _unknown_builtin(rtype, obj):
        parent.pop(key, None)


_Found = list[tuple[str, JsonDict, str]]


def _unknown_builtin(rtype: ResourceType, obj: JsonDict) -> _Found:
    names = openapi_builtin.kind_names(rtype.group, rtype.version, rtype.kind)
    found: _Found = []
    if names:
        _walk(obj, {"$ref": openapi.SCHEMA_PREFIX + names[0]}, "", openapi_builtin.schemas(), found)
    return found


def _resolve(node: JsonDict, schemas: dict[str, JsonDict]) -> JsonDict:
    # kube wraps a described reference in allOf: [{$ref}]; a bare $ref is the same schema.
    while True:
        if isinstance(node.get("$ref"), str):
            node = schemas.get(node["$ref"][len(openapi.SCHEMA_PREFIX) :], {})
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node


def _walk(value: Any, node: JsonDict, path: str, schemas: dict[str, JsonDict], found: _Found) -> None:
    node = _resolve(node, schemas)
    if node.get(PRESERVE_UNKNOWN) is True:
        return
    if isinstance(value, dict):
        properties = node.get("properties")
        additional = node.get("additionalProperties")
        for key, item in value.items():
            if isinstance(properties, dict) and key in properties:
                _walk(item, properties[key], child_path(path, key), schemas, found)
            elif isinstance(additional, dict):
                _walk(item, additional, key_path(path, key), schemas, found)
            elif isinstance(properties, dict) and additional is None:
                found.append((child_path(path, key), value, key))
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            _walk(item, node["items"], index_path(path, index), schemas, found)
