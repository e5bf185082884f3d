"""Structural invariants kube-apiserver checks besides OpenAPI validation.

* ``x-kubernetes-list-type: set`` items and ``map`` keys must be unique (``Duplicate value``);
  map-list items must be objects (``apiextensions-apiserver/pkg/apiserver/schema/listtype``);
* ``x-kubernetes-embedded-resource`` objects need a string ``apiVersion`` and ``kind``
  (``.../schema/objectmeta``). The embedded ``metadata`` itself is not validated here.
"""

from __future__ import annotations

import re
from typing import Any, Final

from leadergroup.sim.field_errors import (
    FieldCause,
    child_path,
    duplicate,
    go_json,
    index_path,
    invalid,
    key_path,
    required,
)
from leadergroup.sim.schema_prune import EMBEDDED_RESOURCE, additional_schema

JsonDict = dict[str, Any]

_DNS1035: Final = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1035_FORMAT: Final = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_MESSAGE: Final = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    f"character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    f"validation is '{_DNS1035_FORMAT}')"
)


def _identity(value: Any) -> Any:
    # Go compares scalars as interface values (int64(1) != float64(1) != true) and compounds as JSON.
    if isinstance(value, dict | list):
        return ("json", go_json(value))
    return (type(value).__name__, value)


def _repeated_indices(values: list[Any]) -> list[int]:
    """Indices of the second occurrence of each repeated value (kube reports each value once)."""
    counts: dict[Any, int] = {}
    repeated = []
    for index, value in enumerate(values):
        identity = _identity(value)
        counts[identity] = counts.get(identity, 0) + 1
        if counts[identity] == 2:
            repeated.append(index)
    return repeated


def _list_map_errors(path: str, schema: JsonDict, items: list[Any]) -> list[FieldCause]:
    for index, item in enumerate(items):
        if item is not None and not isinstance(item, dict):
            return [invalid(index_path(path, index), item, "must be an object for an array of list-type map")]
    if len(items) <= 1:
        return []
    key_fields: list[str] = schema.get("x-kubernetes-list-map-keys") or []
    keys: list[JsonDict] = []
    for item in items:
        present = item or {}
        keys.append({name: present[name] for name in key_fields if name in present})
    return [duplicate(index_path(path, index), keys[index]) for index in _repeated_indices(keys)]


def _array_errors(path: str, schema: JsonDict, items: list[Any]) -> list[FieldCause]:
    causes: list[FieldCause] = []
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        causes.extend(duplicate(index_path(path, index), items[index]) for index in _repeated_indices(items))
    elif list_type == "map":
        causes.extend(_list_map_errors(path, schema, items))
    item_schema = schema.get("items")
    if isinstance(item_schema, dict):
        for index, item in enumerate(items):
            causes.extend(_node_list_errors(index_path(path, index), item_schema, item))
    return causes


def _node_list_errors(path: str, schema: JsonDict, value: Any) -> list[FieldCause]:
    if isinstance(value, list):
        return _array_errors(path, schema, value)
    if isinstance(value, dict):
        return list_errors(schema, value, path)
    return []


def list_errors(schema: JsonDict, value: JsonDict, path: str = "") -> list[FieldCause]:
    """``Duplicate value`` errors of set and map lists below ``value`` (kube's ``ValidateListSetsAndMaps``).

    Args:
        schema: the schema of the object ``value``.
        value: an object (the resource root or below).
        path: the field path of ``value``.

    Returns:
        The causes; empty when every list keeps its invariant.
    """
    causes: list[FieldCause] = []
    properties: JsonDict = schema.get("properties") or {}
    additional = additional_schema(schema)
    if additional is not None:
        for key, item in value.items():
            causes.extend(_node_list_errors(key_path(path, key), additional, item))
    for key, item in value.items():
        if key in properties:
            causes.extend(_node_list_errors(child_path(path, key), properties[key], item))
    return causes


def _embedded_errors(path: str, value: JsonDict) -> list[FieldCause]:
    causes: list[FieldCause] = []
    for name in ("apiVersion", "kind"):
        if name not in value:
            causes.append(required(child_path(path, name)))
    for name, item in value.items():
        field = child_path(path, name)
        if name not in ("apiVersion", "kind"):
            continue
        if not isinstance(item, str):
            causes.append(invalid(field, item, "must be a string"))
        elif not item:
            causes.append(invalid(field, item, "must not be empty"))
        elif name == "apiVersion" and item.count("/") > 1:
            causes.append(invalid(field, item, f"unexpected GroupVersion string: {item}"))
        elif name == "kind":
            problems = []
            if len(item) > 63:
                problems.append("must be no more than 63 characters")
            if _DNS1035.fullmatch(item.lower()) is None:
                problems.append(_DNS1035_MESSAGE)
            if problems:
                detail = "may have mixed case, but should otherwise match: " + ",".join(problems)
                causes.append(invalid(field, item, detail))
    return causes


def embedded_resource_errors(schema: JsonDict | None, value: Any, path: str = "") -> list[FieldCause]:
    """Bad ``apiVersion``/``kind`` of ``x-kubernetes-embedded-resource`` objects below ``value``.

    The resource root is not checked here: the API server checks its own apiVersion and kind.
    """
    if schema is None:
        return []
    causes: list[FieldCause] = []
    if isinstance(value, dict):
        if path and schema.get(EMBEDDED_RESOURCE):
            causes.extend(_embedded_errors(path, value))
        properties: JsonDict = schema.get("properties") or {}
        additional = additional_schema(schema)
        for key, item in value.items():
            if key in properties:
                causes.extend(embedded_resource_errors(properties[key], item, child_path(path, key)))
            elif additional is not None:
                causes.extend(embedded_resource_errors(additional, item, key_path(path, key)))
    elif isinstance(value, list):
        item_schema = schema.get("items")
        for index, item in enumerate(value):
            causes.extend(embedded_resource_errors(item_schema, item, index_path(path, index)))
    return causes
