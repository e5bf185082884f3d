"""Type-specific write rules, like kube's per-resource strategies: service IPs, immutable fields, CRDs."""

from __future__ import annotations

from typing import Any

from leadergroup.sim import errors
from leadergroup.sim.builtin import CUSTOM_RESOURCE_DEFINITIONS
from leadergroup.sim.catalog import crd_causes, crd_status
from leadergroup.sim.cel import VALIDATIONS, CelRuleError, check_rules, compile_expression
from leadergroup.sim.cel_values import parse_field_path
from leadergroup.sim.crd_defaults import default_causes
from leadergroup.sim.crd_structure import (
    default_type_causes,
    schema_roots,
    structural_causes,
    undefined_field_causes,
)
from leadergroup.sim.field_errors import go_json, invalid
from leadergroup.sim.objects import now_timestamp
from leadergroup.sim.resources import ResourceType
from leadergroup.sim.schema_prune import additional_schema

JsonDict = dict[str, Any]
CRD_KEY = CUSTOM_RESOURCE_DEFINITIONS.storage_key
SERVICES_KEY = ("", "services")
DEPLOYMENTS_KEY = ("apps", "deployments")


class Strategies:
    """Per-type preparation of an object about to be stored (``old`` is None on create)."""

    def __init__(self) -> None:
        self._allocated_cluster_ips = 0

    def prepare(self, rtype: ResourceType, obj: JsonDict, old: JsonDict | None) -> None:
        """Apply the type's rules in place; raise ApiError when the write is not allowed."""
        if rtype.storage_key == SERVICES_KEY:
            self._keep_or_allocate_cluster_ip(obj, old)
        elif rtype.storage_key == DEPLOYMENTS_KEY:
            _check_selector_unchanged(rtype, obj, old)
        elif rtype.storage_key == CRD_KEY:
            _prepare_crd(rtype, obj, old)

    def _keep_or_allocate_cluster_ip(self, obj: JsonDict, old: JsonDict | None) -> None:
        spec = obj.setdefault("spec", {})
        if spec.get("clusterIP") not in (None, "") or spec.get("type") == "ExternalName":
            return
        cluster_ip = ((old or {}).get("spec") or {}).get("clusterIP")
        if cluster_ip is None:
            self._allocated_cluster_ips += 1
            count = self._allocated_cluster_ips
            cluster_ip = f"10.96.{count // 250}.{count % 250 + 1}"
        spec["clusterIP"] = cluster_ip
        spec["clusterIPs"] = [cluster_ip]


def _selector_matches_labels(selector: Any, labels: Any) -> bool:
    if not isinstance(selector, dict) or not isinstance(labels, dict):
        return True  # nothing to judge: the schema validation kube also runs is not emulated
    wanted = selector.get("matchLabels") or {}
    return all(labels.get(key) == value for key, value in wanted.items())


def _check_selector_unchanged(rtype: ResourceType, obj: JsonDict, old: JsonDict | None) -> None:
    """A workload's selector must select its template's labels, and never changes."""
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    causes = []
    if not _selector_matches_labels(selector, labels):
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "field": "spec.template.metadata.labels",
                "message": f"Invalid value: {go_json(labels)}: `selector` does not match template `labels`",
            }
        )
    if old is not None and selector != (old.get("spec") or {}).get("selector"):
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "field": "spec.selector",
                "message": f"Invalid value: {go_json(selector)}: field is immutable",
            }
        )
    if causes:
        raise errors.invalid(rtype.kind, rtype.group, obj["metadata"]["name"], causes)


def _prepare_crd(rtype: ResourceType, obj: JsonDict, old: JsonDict | None) -> None:
    causes = crd_causes(obj) + structural_causes(obj)
    if not causes:
        causes = _cel_causes(obj) or undefined_field_causes(obj, render_rule)
    if not causes:
        causes = default_type_causes(obj) + default_causes(obj)
    if causes:
        raise errors.invalid(rtype.kind, rtype.group, obj["metadata"]["name"], causes)
    obj["spec"].setdefault("conversion", {"strategy": "None"})
    obj["status"] = crd_status(obj, now_timestamp())
    if old is not None and (old.get("status") or {}).get("conditions"):
        # Keep the original transition times: the CRD stays established across updates.
        obj["status"]["conditions"] = old["status"]["conditions"]


def _cel_causes(crd: JsonDict) -> list[JsonDict]:
    """Rules that do not compile (or name a field the schema lacks): kube refuses such a CRD with 422."""
    causes: list[JsonDict] = []
    for path, schema in schema_roots(crd):
        try:
            check_rules(schema)
        except CelRuleError as error:
            # check_rules stops at the first bad rule without saying where: find it for kube's field path.
            causes.append(_locate_bad_rule(schema, path) or _cel_cause(path, schema, str(error)))
    return causes


def _locate_bad_rule(schema: JsonDict, path: str) -> JsonDict | None:
    for index, rule in enumerate(schema.get(VALIDATIONS) or []):
        rule_path = f"{path}.{VALIDATIONS}[{index}]"
        for key in ("rule", "messageExpression"):
            if rule.get(key):
                try:
                    compile_expression(rule[key])
                except CelRuleError as error:
                    return _cel_cause(f"{rule_path}.{key}", rule, f"compilation failed: {error}")
        if rule.get("fieldPath"):
            try:
                parse_field_path(rule["fieldPath"], schema)
            except CelRuleError as error:
                return _cel_cause(f"{rule_path}.fieldPath", rule["fieldPath"], str(error))
    children = [
        (f"{path}.properties[{name}]", child) for name, child in (schema.get("properties") or {}).items()
    ]
    children.extend((f"{path}.allOf[{i}]", child) for i, child in enumerate(schema.get("allOf") or []))
    children.append((f"{path}.items", schema.get("items")))
    children.append((f"{path}.additionalProperties", additional_schema(schema)))
    for child_path, child in children:
        if isinstance(child, dict) and (found := _locate_bad_rule(child, child_path)):
            return found
    return None


# The internal ValidationRule's fields, in Go order, with their zero values: kube prints the struct as JSON.
_RULE_FIELDS = (
    ("Rule", "rule", ""),
    ("Message", "message", ""),
    ("MessageExpression", "messageExpression", ""),
    ("Reason", "reason", None),
    ("FieldPath", "fieldPath", ""),
    ("OptionalOldSelf", "optionalOldSelf", None),
)


def render_rule(rule: JsonDict) -> str:
    """A validation rule as kube-apiserver prints it in a CRD's 422 cause."""
    return go_json({go: rule.get(key, zero) for go, key, zero in _RULE_FIELDS}, sort_keys=False)


def _cel_cause(field: str, value: Any, detail: str) -> JsonDict:
    if isinstance(value, dict):
        return {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {render_rule(value)}: {detail}",
            "field": field,
        }
    cause = invalid(field, value, detail)
    return {"reason": cause.reason, "message": cause.message, "field": cause.field}
