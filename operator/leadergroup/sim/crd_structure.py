"""CRD schema checks kube-apiserver makes at creation beyond compiling CEL, measured on v1.37.

- structural schemas: a node with ``properties`` (or ``items``) must name its ``type``;
- every ``default`` must validate against its own node's schema (``... .default: Invalid value: "string":
  in body must be of type integer``);
- a CEL rule may select only fields its node's schema has (cel-go's type check: ``undefined field``).

Field paths start at ``spec.validation.openAPIV3Schema`` when every version has the same schema (kube's
internal form keeps one schema then), else at ``spec.versions[i].schema.openAPIV3Schema``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from leadergroup.sim.schema_prune import PRESERVE_UNKNOWN, additional_schema
from leadergroup.sim.schema_validate import validate_value

JsonDict = dict[str, Any]
# The root of a custom resource always has these, whatever its schema says.
_IMPLICIT_ROOT_FIELDS = frozenset({"apiVersion", "kind", "metadata"})
_SELF_CHAIN = re.compile(r"(?<![\w.'\"])self((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def schema_roots(crd: JsonDict) -> list[tuple[str, JsonDict]]:
    """(field path, openAPIV3Schema) of each distinct schema, as kube reports errors in them."""
    versions = [v for v in (crd.get("spec") or {}).get("versions") or [] if isinstance(v, dict)]
    schemas = [((v.get("schema") or {}).get("openAPIV3Schema")) for v in versions]
    first = schemas[0] if schemas else None
    if isinstance(first, dict) and all(schema == first for schema in schemas):
        return [("spec.validation.openAPIV3Schema", first)]
    return [
        (f"spec.versions[{index}].schema.openAPIV3Schema", schema)
        for index, schema in enumerate(schemas)
        if isinstance(schema, dict)
    ]


def schema_nodes(schema: JsonDict, path: str) -> Iterator[tuple[str, JsonDict]]:
    """Every node of a schema with its field path, the root first."""
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        if isinstance(child, dict):
            yield from schema_nodes(child, f"{path}.properties[{name}]")
    items = schema.get("items")
    if isinstance(items, dict):
        yield from schema_nodes(items, f"{path}.items")
    extra = additional_schema(schema)
    if isinstance(extra, dict):
        yield from schema_nodes(extra, f"{path}.additionalProperties")


def _required(field: str, detail: str) -> JsonDict:
    return {"reason": "FieldValueRequired", "field": field, "message": f"Required value: {detail}"}


def structural_causes(crd: JsonDict) -> list[JsonDict]:
    """Nodes whose type is missing where the structural-schema rules need one."""
    causes = []
    for root_path, root in schema_roots(crd):
        for path, node in schema_nodes(root, root_path):
            if node.get("type") or node.get("x-kubernetes-int-or-string") is True:
                continue
            if node.get("properties"):
                causes.append(_required(f"{path}.type", "must not be empty for specified object fields"))
            elif isinstance(node.get("items"), dict):
                causes.append(_required(f"{path}.type", "must not be empty for specified array items"))
    return causes


def default_type_causes(crd: JsonDict) -> list[JsonDict]:
    """Defaults that do not validate against their own node's schema."""
    causes = []
    for root_path, root in schema_roots(crd):
        for path, node in schema_nodes(root, root_path):
            if "default" not in node:
                continue
            plain = {key: value for key, value in node.items() if key != "x-kubernetes-validations"}
            for cause in validate_value(node["default"], plain):
                nested = "" if cause.field in ("", "<nil>") else f".{cause.field}"
                causes.append(
                    {"reason": cause.reason, "field": f"{path}.default{nested}", "message": cause.message}
                )
    return causes


def _selects_unknown(node: JsonDict, names: list[str]) -> tuple[int, str] | None:
    """The index and name of the first field of ``names`` the schema below ``node`` cannot have."""
    for index, name in enumerate(names):
        if node.get(PRESERVE_UNKNOWN) is True or node.get("type") != "object":
            return None
        properties = node.get("properties") or {}
        if name in properties:
            node = properties[name]
        elif additional_schema(node) is not None or node.get("additionalProperties") is True:
            return None  # a map: any key is a valid selection
        else:
            return index, name
    return None


def undefined_field_causes(crd: JsonDict, render_rule: Any) -> list[JsonDict]:
    """Rules that select ``self.x`` where the schema has no ``x``, worded as cel-go's type check.

    ``render_rule`` writes a rule as kube prints it in the cause (the caller's Go-struct rendering).
    """
    causes = []
    for root_path, root in schema_roots(crd):
        for path, node in schema_nodes(root, root_path):
            for index, rule in enumerate(node.get("x-kubernetes-validations") or []):
                text = rule.get("rule") if isinstance(rule, dict) else None
                if not isinstance(text, str):
                    continue
                for match in _SELF_CHAIN.finditer(text):
                    names = match.group(1).split(".")[1:]
                    if path == root_path and names[0] in _IMPLICIT_ROOT_FIELDS:
                        continue
                    found = _selects_unknown(node, names)
                    if found is None:
                        continue
                    position, name = found
                    column = match.start() + len("self") + sum(len(n) + 1 for n in names[:position]) + 1
                    detail = (
                        f"compilation failed: ERROR: <input>:1:{column}: undefined field '{name}'\n"
                        f" | {text}\n | {'.' * (column - 1)}^"
                    )
                    causes.append(
                        {
                            "reason": "FieldValueInvalid",
                            "field": f"{path}.x-kubernetes-validations[{index}].rule",
                            "message": f"Invalid value: {render_rule(rule)}: {detail}",
                        }
                    )
                    break
    return causes
