"""Type-specific write rules, like kube's per-resource strategies: service IPs, immutable fields, CRDs."""

from __future__ import annotations

from typing import Any

from leadergroup.sim import errors
from leadergroup.sim.builtin import CUSTOM_RESOURCE_DEFINITIONS
from leadergroup.sim.catalog import crd_causes, crd_status
from leadergroup.sim.cel import VALIDATIONS, CelRuleError, check_rules, compile_expression
from leadergroup.sim.cel_values import parse_field_path
from leadergroup.sim.crd_defaults import default_causes
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
        elif rtype.storage_key == DEPLOYMENTS_KEY and old is not None:
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


def _check_selector_unchanged(rtype: ResourceType, obj: JsonDict, old: JsonDict) -> None:
    selector = (obj.get("spec") or {}).get("selector")
    if selector != (old.get("spec") or {}).get("selector"):
        cause = {
            "reason": "FieldValueInvalid",
            "field": "spec.selector",
            "message": f"Invalid value: {selector}: field is immutable",
        }
        raise errors.invalid(rtype.kind, rtype.group, obj["metadata"]["name"], [cause])


def _prepare_crd(rtype: ResourceType, obj: JsonDict, old: JsonDict | None) -> None:
    causes = crd_causes(obj)
    if not causes:
        causes = _cel_causes(obj)
    if not causes:
        causes = default_causes(obj)
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
    for index, version in enumerate(crd["spec"].get("versions") or []):
        schema = ((version or {}).get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            continue
        path = f"spec.versions[{index}].schema.openAPIV3Schema"
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


def _cel_cause(field: str, value: Any, detail: str) -> JsonDict:
    if isinstance(value, dict):
        # ErrorBody prints the ValidationRule struct as JSON in Go field order.
        order = ("rule", "message", "messageExpression", "reason", "fieldPath", "optionalOldSelf")
        rendered = go_json({key: value[key] for key in order if key in value}, sort_keys=False)
        return {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {rendered}: {detail}",
            "field": field,
        }
    cause = invalid(field, value, detail)
    return {"reason": cause.reason, "message": cause.message, "field": cause.field}
