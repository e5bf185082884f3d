"""JSON values as CEL values typed by their schema, and the ``fieldPath`` of CEL rules."""

from __future__ import annotations

from typing import Any, Final

from celpy import celtypes

from leadergroup.sim.field_errors import child_path, key_path
from leadergroup.sim.schema_prune import EMBEDDED_RESOURCE, additional_schema, field_schema

JsonDict = dict[str, Any]


class CelRuleError(ValueError):
    """A rule kube-apiserver would have refused when the CRD was created (does not compile, bad fieldPath)."""


# The only metadata a rule at a resource root can see (kube's model.WithTypeAndObjectMeta).
VISIBLE_METADATA: Final = ("name", "generateName")


def to_cel(
    value: Any,
    schema: JsonDict | None,
    *,
    resource_root: bool = False,
    memo: dict[tuple[int, bool], Any] | None = None,
) -> Any:
    """Convert decoded JSON into celpy values, typed by the schema.

    Args:
        value: the JSON value.
        schema: its schema node (None for unknown fields kept by ``x-kubernetes-preserve-unknown-fields``).
        resource_root: the value is a resource (root or embedded): its metadata shrinks to name and
            generateName.
        memo: conversions of objects and lists already made, by ``(id(value), resource_root)``.

    Returns:
        A celpy value (``MapType``, ``ListType``, ``IntType`` ...) or None for null.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    type_name = schema.get("type") if schema else None
    if isinstance(value, int):
        return celtypes.DoubleType(value) if type_name == "number" else celtypes.IntType(value)
    if isinstance(value, float):
        if type_name == "integer" and value.is_integer():
            return celtypes.IntType(int(value))
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return _string_to_cel(value, schema)
    if memo is not None:
        key = (id(value), resource_root)
        if key not in memo:
            memo[key] = _compound_to_cel(value, schema, resource_root, memo)
        return memo[key]
    return _compound_to_cel(value, schema, resource_root, memo)


def _string_to_cel(text: str, schema: JsonDict | None) -> Any:
    if schema and schema.get("format") in ("date-time", "datetime"):
        try:
            return celtypes.TimestampType(text)
        except (ValueError, TypeError):
            pass
    return celtypes.StringType(text)


def _compound_to_cel(
    value: Any, schema: JsonDict | None, resource_root: bool, memo: dict[tuple[int, bool], Any] | None
) -> Any:
    if isinstance(value, list):
        items = schema.get("items") if schema else None
        return celtypes.ListType([to_cel(item, items, memo=memo) for item in value])
    restricted = resource_root or bool(schema and schema.get(EMBEDDED_RESOURCE))
    entries: dict[Any, Any] = {}
    for key, item in value.items():
        if restricted and key == "metadata" and isinstance(item, dict):
            entries[celtypes.StringType(key)] = celtypes.MapType(
                {
                    celtypes.StringType(name): celtypes.StringType(item[name])
                    for name in VISIBLE_METADATA
                    if isinstance(item.get(name), str)
                }
            )
        else:
            entries[celtypes.StringType(key)] = to_cel(item, field_schema(schema, key), memo=memo)
    return celtypes.MapType(entries)


def _tokens(json_path: str) -> list[str]:
    """Split a rule's fieldPath into ``.``, ``[``, ``]``, names and single-quoted strings."""
    tokens: list[str] = []
    position = 0
    while position < len(json_path):
        char = json_path[position]
        if char in ".[]":
            tokens.append(char)
            position += 1
        elif char == "'":
            end = position + 1
            while end < len(json_path) and not (json_path[end] == "'" and json_path[end - 1] != "\\"):
                end += 1
            tokens.append(json_path[position : end + 1])
            position = end + 1
        else:
            end = position
            while end < len(json_path) and json_path[end] not in ".[]":
                end += 1
            tokens.append(json_path[position:end])
            position = end
    return tokens


_ESCAPES: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "'": "'",
    "\\": "\\",
}


def _unescaped(quoted: str) -> str:
    out: list[str] = []
    chars = iter(quoted)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPES:
                raise ValueError(f"invalid escape char \\{escaped}")
            out.append(_ESCAPES[escaped])
        else:
            out.append(char)
    return "".join(out)


def parse_field_path(json_path: str, schema: JsonDict) -> str:
    """Kube's ``ValidFieldPath``: the field.Path string of a rule's ``fieldPath`` relative to its node.

    Args:
        json_path: e.g. ``.spec.lockName`` or ``.labels['app.kubernetes.io/name']``.
        schema: the schema node the rule is attached to.

    Returns:
        ``spec.lockName``; map keys print as ``labels[app.kubernetes.io/name]``.

    Raises:
        CelRuleError: the path is malformed or names a field the schema does not have.
    """
    path = ""
    node: JsonDict | None = schema
    tokens = iter(_tokens(json_path))
    for token in tokens:
        if token == "[":  # noqa: S105 - a JSON path token, not a secret
            name_token = next(tokens, "")
            if len(name_token) < 2 or name_token[0] != "'" or name_token[-1] != "'":
                detail = f"expected single quoted string but got {name_token}"
                raise CelRuleError(f"fieldPath {json_path!r}: {detail}")
            try:
                name = _unescaped(name_token[1:-1])
            except ValueError as error:
                raise CelRuleError(f"fieldPath {json_path!r}: invalid string literal: {error}") from error
            if next(tokens, "") != "]":
                raise CelRuleError(f"fieldPath {json_path!r}: expected ]")
        elif token == ".":  # noqa: S105
            name = next(tokens, "")
            if not name:
                raise CelRuleError(f"fieldPath {json_path!r}: unexpected end of JSON path")
        else:
            raise CelRuleError(f"fieldPath {json_path!r}: expected [ or . but got: {token}")
        if node is not None and node.get("properties") is not None:
            path = child_path(path, name)
            node = node["properties"].get(name)
            if node is None:
                raise CelRuleError(f"fieldPath {json_path!r}: does not refer to a valid field")
        elif node is not None and additional_schema(node) is not None:
            path = key_path(path, name)
            node = additional_schema(node)
        else:
            raise CelRuleError(f"fieldPath {json_path!r}: does not refer to a valid field")
    return path
