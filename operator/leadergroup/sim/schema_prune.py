"""Structural pruning, null pruning and defaulting of custom resources, as kube-apiserver does them.

Mirrors ``apiextensions-apiserver/pkg/apiserver/schema/pruning`` and ``.../defaulting``:

* pruning drops every field the schema does not specify, except below
  ``x-kubernetes-preserve-unknown-fields: true`` (where specified properties are still pruned inside) and
  the ``apiVersion``/``kind``/``metadata`` of the resource root and of ``x-kubernetes-embedded-resource``
  objects. Embedded ``metadata`` keeps only ``ObjectMeta`` fields, as its round trip through the Go type
  does; the root's metadata belongs to the API server and is copied untouched.
* nulls where the schema is neither ``nullable`` nor has a ``default`` are removed;
* ``default`` fills missing (or null, non-nullable) properties, map values and list items, then
  descends into the result, so ``default: {}`` on an object creates it and its own defaults apply.
"""

from __future__ import annotations

from typing import Any, Final

from leadergroup.sim.field_errors import child_path, index_path

JsonDict = dict[str, Any]

PRESERVE_UNKNOWN: Final = "x-kubernetes-preserve-unknown-fields"
EMBEDDED_RESOURCE: Final = "x-kubernetes-embedded-resource"
META_FIELDS: Final = frozenset({"apiVersion", "kind", "metadata"})
# The JSON names of metav1.ObjectMeta: what survives the Go round trip of an embedded resource's metadata.
OBJECT_META_FIELDS: Final = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


def json_copy(value: Any) -> Any:
    """A deep copy of decoded JSON (dicts, lists, scalars), much faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


def additional_schema(schema: JsonDict) -> JsonDict | None:
    """The ``additionalProperties`` schema of a map type, or None (``true``/``false`` carry no schema)."""
    additional = schema.get("additionalProperties")
    return additional if isinstance(additional, dict) else None


def field_schema(schema: JsonDict | None, key: str) -> JsonDict | None:
    """The schema of one key of an object or map node, if the schema specifies one."""
    if schema is None:
        return None
    properties = schema.get("properties")
    if properties and key in properties:
        prop: JsonDict = properties[key]
        return prop
    return additional_schema(schema)


def _embedded_meta_copy(key: str, value: Any) -> Any:
    if key == "metadata" and isinstance(value, dict):
        return {name: json_copy(item) for name, item in value.items() if name in OBJECT_META_FIELDS}
    return json_copy(value)


def pruned(value: Any, schema: JsonDict | None, *, unknown: list[str] | None = None) -> Any:
    """A pruned deep copy of a whole resource (the root keeps ``apiVersion``, ``kind`` and ``metadata``).

    Args:
        value: the decoded object.
        schema: the version's ``openAPIV3Schema``.
        unknown: when given, the paths of the dropped fields are appended, as kube reports them for
            ``fieldValidation=Warn|Strict`` (``spec.foo``, ``spec.items[0].bar``).

    Returns:
        The pruned copy; ``value`` is not modified.
    """
    if not isinstance(value, dict):
        return _pruned(value, schema, "", unknown)
    root_schema = schema or {}
    preserve = bool(root_schema.get(PRESERVE_UNKNOWN))
    out: JsonDict = {}
    for key, item in value.items():
        sub = field_schema(root_schema, key)
        if key in META_FIELDS or (preserve and sub is None):
            out[key] = json_copy(item)
        elif preserve:
            out[key] = _pruned(item, sub, key, unknown)
        else:
            out.update(_pruned_entry(key, item, root_schema, "", unknown))
    return out


def _pruned_entry(key: str, item: Any, schema: JsonDict, path: str, unknown: list[str] | None) -> JsonDict:
    sub = field_schema(schema, key)
    if sub is not None:
        return {key: _pruned(item, sub, child_path(path, key), unknown)}
    if unknown is not None:
        unknown.append(child_path(path, key))
    return {}


def _pruned(value: Any, schema: JsonDict | None, path: str, unknown: list[str] | None) -> Any:
    if schema is not None and schema.get(PRESERVE_UNKNOWN):
        return _skip_pruned(value, schema, path, unknown)
    if isinstance(value, dict):
        if schema is None:
            if unknown is not None:
                unknown.extend(child_path(path, key) for key in value)
            return {}
        embedded = bool(schema.get(EMBEDDED_RESOURCE))
        out: JsonDict = {}
        for key, item in value.items():
            if embedded and key in META_FIELDS:
                out[key] = _embedded_meta_copy(key, item)
            else:
                out.update(_pruned_entry(key, item, schema, path, unknown))
        return out
    if isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        return [_pruned(item, items, index_path(path, index), unknown) for index, item in enumerate(value)]
    return value


def _skip_pruned(value: Any, schema: JsonDict | None, path: str, unknown: list[str] | None) -> Any:
    """Below ``x-kubernetes-preserve-unknown-fields``: keep unknown fields, still prune specified ones."""
    if schema is None:
        return json_copy(value)
    if isinstance(value, dict):
        embedded = bool(schema.get(EMBEDDED_RESOURCE))
        out: JsonDict = {}
        for key, item in value.items():
            sub = field_schema(schema, key)
            if embedded and key in META_FIELDS:
                out[key] = _embedded_meta_copy(key, item)
            elif sub is not None:
                out[key] = _pruned(item, sub, child_path(path, key), unknown)
            else:
                out[key] = json_copy(item)
        return out
    if isinstance(value, list):
        items = schema.get("items")
        return [
            _skip_pruned(item, items, index_path(path, index), unknown) for index, item in enumerate(value)
        ]
    return value


def _is_dropped_null(value: Any, schema: JsonDict | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable") and "default" not in schema


def prune_nulls(value: Any, schema: JsonDict | None) -> None:
    """Remove, in place, nulls the schema neither allows (``nullable``) nor defaults."""
    if isinstance(value, dict):
        for key in list(value):
            sub = field_schema(schema, key)
            if _is_dropped_null(value[key], sub):
                del value[key]
            else:
                prune_nulls(value[key], sub)
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        for item in value:
            prune_nulls(item, items)


def _needs_default(value: Any, schema: JsonDict) -> bool:
    return value is None and not schema.get("nullable")


def apply_defaults(value: Any, schema: JsonDict | None) -> None:
    """Apply ``default`` values in place, then default inside them (``structuraldefaulting.Default``)."""
    if schema is None:
        return
    if isinstance(value, dict):
        properties: JsonDict = schema.get("properties") or {}
        for key, prop in properties.items():
            if "default" in prop and (key not in value or _needs_default(value[key], prop)):
                value[key] = json_copy(prop["default"])
        additional = additional_schema(schema)
        for key in list(value):
            if key in properties:
                apply_defaults(value[key], properties[key])
            elif additional is not None:
                if _needs_default(value[key], additional) and "default" in additional:
                    value[key] = json_copy(additional["default"])
                apply_defaults(value[key], additional)
    elif isinstance(value, list):
        items = schema.get("items")
        if items is None:
            return
        for index, item in enumerate(value):
            if _needs_default(item, items) and "default" in items:
                value[index] = json_copy(items["default"])
            apply_defaults(value[index], items)
