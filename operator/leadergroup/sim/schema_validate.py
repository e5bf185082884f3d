"""OpenAPI v3 value validation of custom resources, worded as kube-apiserver words it.

Mirrors kube-openapi's ``validate.SchemaValidator`` (the checks and their order per node: type,
``allOf``/``anyOf``/``oneOf``/``not``, string length and pattern, format, numeric bounds, array items and
size, ``enum``, object size, properties and ``required``) and the conversion of its errors into field
errors in ``apiextensions-apiserver/pkg/apiserver/validation`` (``Required value``, ``Unsupported
value``, ``Too long``, ``Too many``, ``Invalid value: "string": ... must be of type integer`` ...).

Updates are *ratcheted* (``CRDValidationRatcheting``, on by default since Kubernetes 1.30): errors of a
node whose value equals its correlated old value are dropped. Object fields and map values correlate by
key; items correlate only in ``x-kubernetes-list-type: map`` lists (by their keys).

Properties are checked in schema order (Go's map order is random, so kube's order is not fixed either).
``anyOf``/``oneOf`` report the first failing branch's errors where kube picks the "best" one.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

from leadergroup.sim.field_errors import (
    FieldCause,
    go_json,
    go_number,
    go_quote,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)
from leadergroup.sim.schema_formats import string_matches_format
from leadergroup.sim.schema_prune import additional_schema

JsonDict = dict[str, Any]


class _NoOld:
    """Marker: the node has no correlated old value (create, or an uncorrelatable position)."""


NO_OLD: Final = _NoOld()
INT_OR_STRING: Final = "x-kubernetes-int-or-string"


def same_json(left: Any, right: Any) -> bool:
    """Go's ``reflect.DeepEqual`` on decoded JSON: like ``==`` but ``True`` is not ``1``."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_json(item, right[key]) for key, item in left.items())
    if isinstance(left, list):
        return len(left) == len(right) and all(same_json(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


def json_type_name(value: Any) -> str:
    """The OpenAPI type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def schema_types(schema: JsonDict) -> list[str]:
    """The types a schema node allows (int-or-string allows two, an untyped node none)."""
    if schema.get(INT_OR_STRING):
        return ["integer", "string"]
    declared = schema.get("type")
    if not declared:
        return []
    return list(declared) if isinstance(declared, list) else [declared]


def _field_of(name: str) -> str:
    # kube: fldPath.Child(strings.TrimPrefix(err.Name, ".")); an empty name means the nil path.
    return "" if name in ("", ".") else name.removeprefix(".")


def _type_ok(value: Any, types: list[str], actual: str) -> bool:
    if actual in types:
        return True
    if actual == "number" and "integer" in types:
        return bool(value.is_integer())
    return actual == "integer" and "number" in types


@lru_cache(maxsize=512)
def _compiled_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def validate_value(value: Any, schema: JsonDict, old: Any = NO_OLD, path: str = "") -> list[FieldCause]:
    """All schema violations of ``value``, ratcheted against ``old`` when given.

    Args:
        value: the (pruned, defaulted) value.
        schema: the schema node for ``value``.
        old: the correlated old value, or :data:`NO_OLD`.
        path: kube-openapi's path of the node (``spec.items[0].name``; map keys join with dots).

    Returns:
        The causes, in kube's per-node order.
    """
    causes: list[FieldCause] = []
    _validate(value, schema, old, path, causes)
    return causes


def _validate(value: Any, schema: JsonDict, old: Any, path: str, causes: list[FieldCause]) -> None:
    if old is not NO_OLD and same_json(value, old):
        return
    field = _field_of(path)
    types = schema_types(schema)
    actual = json_type_name(value)
    if value is None:
        if types and "null" not in types and not schema.get("nullable"):
            message = f"{path} in body must be of type {','.join(types)}: {go_quote('null')}"
            causes.append(type_invalid(field, "null", message))
        _check_enum(value, schema, field, path, causes)
        return
    if types and not _type_ok(value, types, actual):
        message = f"{path} in body must be of type {','.join(types)}: {go_quote(actual)}"
        causes.append(type_invalid(field, actual, message))
    _check_combinators(value, schema, old, path, causes)
    if isinstance(value, str):
        _check_string(value, schema, field, path, causes)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, schema, field, path, causes)
    elif isinstance(value, list):
        _check_array(value, schema, old, field, path, causes)
    _check_enum(value, schema, field, path, causes)
    if isinstance(value, dict):
        _check_object(value, schema, old, field, path, causes)


def _check_combinators(value: Any, schema: JsonDict, old: Any, path: str, causes: list[FieldCause]) -> None:
    # go-openapi reports these as CompositeErrors, which kube turns into nil-path "Invalid value" errors.
    any_of: list[JsonDict] = schema.get("anyOf") or []
    if any_of:
        results = [validate_value(value, branch, old, path) for branch in any_of]
        if all(results):
            causes.append(invalid("", "", f"{go_quote(path)} must validate at least one schema (anyOf)"))
            causes.extend(results[0])
    one_of: list[JsonDict] = schema.get("oneOf") or []
    if one_of:
        results = [validate_value(value, branch, old, path) for branch in one_of]
        passed = sum(1 for result in results if not result)
        if passed != 1:
            found = "Found none valid" if passed == 0 else f"Found {passed} valid alternatives"
            causes.append(
                invalid("", "", f"{go_quote(path)} must validate one and only one schema (oneOf). {found}")
            )
            if passed == 0:
                causes.extend(results[0])
    all_of: list[JsonDict] = schema.get("allOf") or []
    if all_of:
        results = [validate_value(value, branch, old, path) for branch in all_of]
        for result in results:
            causes.extend(result)
        passed = sum(1 for result in results if not result)
        if passed != len(all_of):
            suffix = ". None validated" if passed == 0 else ""
            causes.append(invalid("", "", f"{go_quote(path)} must validate all the schemas (allOf){suffix}"))
    negated = schema.get("not")
    if isinstance(negated, dict) and not validate_value(value, negated, old, path):
        causes.append(invalid("", "", f"{go_quote(path)} must not validate the schema (not)"))


def _check_string(text: str, schema: JsonDict, field: str, path: str, causes: list[FieldCause]) -> None:
    # kube-openapi stops at the first failing string check; lengths count runes, not bytes.
    max_length = schema.get("maxLength")
    min_length = schema.get("minLength")
    pattern = schema.get("pattern")
    if max_length is not None and len(text) > max_length:
        causes.append(too_long(field, int(max_length)))
    elif min_length is not None and len(text) < min_length:
        causes.append(invalid(field, text, f"{path} in body should be at least {int(min_length)} chars long"))
    elif pattern and _compiled_pattern(pattern).search(text) is None:
        causes.append(invalid(field, text, f"{path} in body should match '{pattern}'"))
    format_name = schema.get("format")
    if format_name and not string_matches_format(format_name, text):
        detail = f"{path} in body must be of type {format_name}: {go_quote(text)}"
        causes.append(type_invalid(field, text, detail))


def _bound_text(bound: float, value: int | float) -> str:
    # kube-openapi compares an int64 value with int64(bound) and prints that; floats print as %v.
    if isinstance(value, int) and float(bound).is_integer():
        return str(int(bound))
    return go_number(float(bound))


def _check_number(
    number: int | float, schema: JsonDict, field: str, path: str, causes: list[FieldCause]
) -> None:
    multiple_of = schema.get("multipleOf")
    if multiple_of is not None and multiple_of > 0:
        quotient = number / multiple_of
        if isinstance(number, int) and float(multiple_of).is_integer():
            failed = number % int(multiple_of) != 0
        else:
            failed = not float(quotient).is_integer()
        if failed:
            bound = _bound_text(multiple_of, number)
            causes.append(invalid(field, number, f"{path} in body should be a multiple of {bound}"))
    minimum = schema.get("minimum")
    if minimum is not None:
        exclusive = bool(schema.get("exclusiveMinimum"))
        if number < minimum or (exclusive and number == minimum):
            relation = "greater than" if exclusive else "greater than or equal to"
            bound = _bound_text(minimum, number)
            causes.append(invalid(field, number, f"{path} in body should be {relation} {bound}"))
    maximum = schema.get("maximum")
    if maximum is not None:
        exclusive = bool(schema.get("exclusiveMaximum"))
        if number > maximum or (exclusive and number == maximum):
            relation = "less than" if exclusive else "less than or equal to"
            bound = _bound_text(maximum, number)
            causes.append(invalid(field, number, f"{path} in body should be {relation} {bound}"))


def list_map_key(item: Any, keys: list[str]) -> tuple[Any, ...] | None:
    """The identity of an item of an ``x-kubernetes-list-type: map`` list (None for a non-object)."""
    if not isinstance(item, dict):
        return None
    return tuple(repr(item.get(key)) for key in keys)


def correlated_items(schema: JsonDict, old: Any) -> dict[tuple[Any, ...], Any] | None:
    """Old items of a map-type list by key, or None where items do not correlate."""
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if schema.get("x-kubernetes-list-type") != "map" or not keys or not isinstance(old, list):
        return None
    by_key: dict[tuple[Any, ...], Any] = {}
    for item in old:
        identity = list_map_key(item, keys)
        if identity is not None:
            by_key.setdefault(identity, item)
    return by_key


def _check_array(
    items: list[Any], schema: JsonDict, old: Any, field: str, path: str, causes: list[FieldCause]
) -> None:
    item_schema = schema.get("items")
    if isinstance(item_schema, dict):
        old_by_key = correlated_items(schema, old)
        keys = schema.get("x-kubernetes-list-map-keys") or []
        for index, item in enumerate(items):
            old_item: Any = NO_OLD
            if old_by_key is not None:
                old_item = old_by_key.get(list_map_key(item, keys) or (), NO_OLD)
            _validate(item, item_schema, old_item, f"{path}[{index}]", causes)
    min_items = schema.get("minItems")
    if min_items is not None and len(items) < min_items:
        detail = f"{path} in body should have at least {int(min_items)} items"
        causes.append(invalid(field, len(items), detail))
    max_items = schema.get("maxItems")
    if max_items is not None and len(items) > max_items:
        causes.append(too_many(field, len(items), int(max_items)))


def _enum_matches(value: Any, candidate: Any) -> bool:
    if isinstance(value, bool) or isinstance(candidate, bool):
        return isinstance(value, bool) and isinstance(candidate, bool) and value == candidate
    if isinstance(value, int | float) and isinstance(candidate, int | float):
        return value == candidate
    return same_json(value, candidate)


def _check_enum(value: Any, schema: JsonDict, field: str, path: str, causes: list[FieldCause]) -> None:
    enum: list[Any] | None = schema.get("enum")
    if not enum or any(_enum_matches(value, candidate) for candidate in enum):
        return
    supported = [candidate if isinstance(candidate, str) else go_json(candidate) for candidate in enum]
    causes.append(not_supported(field, value, supported))


def _check_object(
    value: JsonDict, schema: JsonDict, old: Any, field: str, path: str, causes: list[FieldCause]
) -> None:
    size = len(value)
    min_properties = schema.get("minProperties")
    if min_properties is not None and size < min_properties:
        detail = f"{path} in body should have at least {int(min_properties)} properties"
        causes.append(invalid(field, size, detail))
    max_properties = schema.get("maxProperties")
    if max_properties is not None and size > max_properties:
        causes.append(too_many(field, size, int(max_properties)))
    old_map: JsonDict | None = old if isinstance(old, dict) else None
    properties: JsonDict = schema.get("properties") or {}
    additional = additional_schema(schema)
    if additional is not None:
        for key, item in value.items():
            if key not in properties:
                old_item = old_map.get(key, NO_OLD) if old_map is not None else NO_OLD
                _validate(item, additional, old_item, f"{path}.{key}", causes)
    for key, prop in properties.items():
        if key in value:
            # The resource's apiVersion and kind are never ratcheted (old and new are the same type).
            at_type_meta = path == "" and key in ("apiVersion", "kind")
            old_item = NO_OLD if old_map is None or at_type_meta else old_map.get(key, NO_OLD)
            _validate(value[key], prop, old_item, f"{path}.{key}" if path else key, causes)
    for key in schema.get("required") or []:
        if key not in value:
            causes.append(required(_field_of(f"{path}.{key}")))
