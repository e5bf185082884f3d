"""CRD creation checks every ``default`` against its schema's CEL rules, as kube-apiserver does.

Measured on kube-apiserver v1.37: a default is validated as it stands, without the nested defaults filled
into it first, so ``default: {}`` on an object whose rules read its fields is refused with
``...properties[election].default: Invalid value: "object": no such key: leaseDurationSeconds evaluating
rule: <message>``. The field path starts at ``spec.validation.openAPIV3Schema`` when every version has the
same schema (kube's internal form keeps one schema then), else at ``spec.versions[i].schema...``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from leadergroup.sim.cel import CelRuleError, has_rules, validate_rules
from leadergroup.sim.schema_prune import additional_schema

JsonDict = dict[str, Any]


def _nodes(schema: JsonDict, path: str) -> Iterator[tuple[str, JsonDict]]:
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        if isinstance(child, dict):
            yield from _nodes(child, f"{path}.properties[{name}]")
    items = schema.get("items")
    if isinstance(items, dict):
        yield from _nodes(items, f"{path}.items")
    extra = additional_schema(schema)
    if isinstance(extra, dict):
        yield from _nodes(extra, f"{path}.additionalProperties")


def _schema_roots(crd: JsonDict) -> list[tuple[str, JsonDict]]:
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


def default_causes(crd: JsonDict) -> list[JsonDict]:
    """Every default that fails a CEL rule of the schema node it sits on (or below), as 422 causes."""
    causes: list[JsonDict] = []
    for root_path, root in _schema_roots(crd):
        for path, node in _nodes(root, root_path):
            if "default" not in node or not has_rules(node):
                continue
            try:
                failures = validate_rules(node, node["default"])
            except CelRuleError:
                continue  # a rule that does not compile is reported by the CRD's own rule check
            for failure in failures:
                nested = "" if failure.field in ("", "<nil>") else f".{failure.field}"
                causes.append(
                    {"reason": failure.reason, "message": failure.message, "field": f"{path}.default{nested}"}
                )
    return causes
