"""The served resources: built-ins plus whatever CustomResourceDefinitions have been created."""

from __future__ import annotations

from typing import Any

from leadergroup.sim.builtin import builtin_types
from leadergroup.sim.resources import PrinterColumn, ResourceType, ScaleSpec, version_priority

JsonDict = dict[str, Any]
_DEFAULT_CRD_COLUMNS = (PrinterColumn("Age", "date", ".metadata.creationTimestamp"),)


class Catalog:
    """Every served (group, version, plural), for routing and discovery."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in builtin_types():
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        """Serve a resource version."""
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove(self, group: str, plural: str) -> None:
        """Stop serving every version of a resource."""
        for key in [key for key in self._types if key[0] == group and key[2] == plural]:
            del self._types[key]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource served at /apis/group/version/plural, if any."""
        return self._types.get((group, version, plural))

    def preferred(self, group: str, plural: str) -> ResourceType | None:
        """The preferred served version of a resource."""
        candidates = [rtype for (g, _, p), rtype in self._types.items() if g == group and p == plural]
        return min(candidates, key=lambda rtype: version_priority(rtype.version), default=None)

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        """The preferred served version of the resource whose objects have this group and kind."""
        candidates = [rtype for rtype in self._types.values() if rtype.group == group and rtype.kind == kind]
        return min(candidates, key=lambda rtype: version_priority(rtype.version), default=None)

    def groups(self) -> dict[str, list[str]]:
        """Served versions per group, preferred first (the core group is ``""``)."""
        versions: dict[str, set[str]] = {}
        for group, version, _ in self._types:
            versions.setdefault(group, set()).add(version)
        return {group: sorted(found, key=version_priority) for group, found in versions.items()}

    def resources(self, group: str, version: str) -> list[ResourceType]:
        """Resources served in one group version."""
        return [rtype for (g, v, _), rtype in self._types.items() if g == group and v == version]


def crd_causes(crd: JsonDict) -> list[JsonDict]:
    """Structural problems of a CRD that kube would reject with 422 (a practical subset)."""
    causes: list[JsonDict] = []
    spec: JsonDict = crd["spec"] if isinstance(crd.get("spec"), dict) else {}
    names: JsonDict = spec["names"] if isinstance(spec.get("names"), dict) else {}
    group, plural = spec.get("group"), names.get("plural")
    for field, value in (
        ("spec.group", group),
        ("spec.names.plural", plural),
        ("spec.names.kind", names.get("kind")),
    ):
        if not value:
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": field})
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "field": "spec.scope",
                "message": f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", '
                f'"Namespaced"',
            }
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.versions"})
    elif sum(1 for version in versions if version.get("storage")) != 1:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "field": "spec.versions",
                "message": "Invalid value: must have exactly one version marked as storage version",
            }
        )
        if not (crd.get("status") or {}).get("storedVersions"):
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "status.storedVersions",
                    "message": "Invalid value: null: must have at least one stored version",
                }
            )
    name = (crd.get("metadata") or {}).get("name")
    if group and plural and name != f"{plural}.{group}":
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "field": "metadata.name",
                "message": f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            }
        )
    return causes


def crd_resource_types(crd: JsonDict) -> list[ResourceType]:
    """One ResourceType per served version of a (valid) CRD."""
    spec = crd["spec"]
    names = spec["names"]
    types = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        columns = tuple(
            PrinterColumn(
                column["name"],
                column.get("type", "string"),
                column["jsonPath"],
                column.get("description", ""),
                column.get("format", ""),
                column.get("priority", 0),
            )
            for column in version.get("additionalPrinterColumns") or []
        )
        types.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                kind=names["kind"],
                namespaced=spec["scope"] == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in subresources,
                scale=ScaleSpec(
                    scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath")
                )
                if isinstance(scale, dict)
                else None,
                generation=True,
                printer_columns=columns or _DEFAULT_CRD_COLUMNS,
                selectable_fields=tuple(
                    field["jsonPath"].lstrip(".") for field in version.get("selectableFields") or []
                ),
                custom=True,
                unconditional_update=False,
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            )
        )
    return types


def crd_status(crd: JsonDict, now: str) -> JsonDict:
    """The status kube's CRD controllers would write right away: accepted and established."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
            "lastTransitionTime": now,
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
            "lastTransitionTime": now,
        },
    ]
    stored = [version["name"] for version in spec["versions"] if version.get("storage")]
    return {"acceptedNames": names, "conditions": conditions, "storedVersions": stored}
