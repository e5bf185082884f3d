"""Type-specific write rules, like kube's per-resource strategies: service IPs, immutable fields, CRDs."""

from __future__ import annotations

from typing import Any

from leadergroup.sim import errors
from leadergroup.sim.builtin import CUSTOM_RESOURCE_DEFINITIONS
from leadergroup.sim.catalog import crd_causes, crd_status
from leadergroup.sim.objects import now_timestamp
from leadergroup.sim.resources import ResourceType

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
    if causes := crd_causes(obj):
        raise errors.invalid(rtype.kind, rtype.group, obj["metadata"]["name"], causes)
    obj["spec"].setdefault("conversion", {"strategy": "None"})
    obj["status"] = crd_status(obj, now_timestamp())
    if old is not None and (old.get("status") or {}).get("conditions"):
        # Keep the original transition times: the CRD stays established across updates.
        obj["status"]["conditions"] = old["status"]["conditions"]
