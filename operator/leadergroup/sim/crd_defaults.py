"""CRD creation checks every ``default`` against its schema's CEL rules, as kube-apiserver does.

Measured on kube-apiserver v1.37: a default is validated as it stands, without the nested defaults filled
into it first, so ``default: {}`` on an object whose rules read its fields is refused with
``...properties[election].default: Invalid value: "object": no such key: leaseDurationSeconds evaluating
rule: <message>``. The field path starts at ``spec.validation.openAPIV3Schema`` when every version has the
same schema (kube's internal form keeps one schema then), else at ``spec.versions[i].schema...``.
"""

from __future__ import annotations

from typing import Any

from leadergroup.sim.cel import CelRuleError, has_rules, validate_rules
from leadergroup.sim.crd_structure import schema_nodes, schema_roots

JsonDict = dict[str, Any]


def default_causes(crd: JsonDict) -> list[JsonDict]:
    """Every default that fails a CEL rule of the schema node it sits on (or below), as 422 causes."""
    causes: list[JsonDict] = []
    for root_path, root in schema_roots(crd):
        for path, node in schema_nodes(root, root_path):
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
