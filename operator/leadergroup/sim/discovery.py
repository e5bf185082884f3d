"""Discovery documents: /version, /api, /api/v1, /apis, /apis/{group}, /apis/{group}/{version}.

Only the legacy (unaggregated) form is served; clients asking for aggregated discovery
(``as=APIGroupDiscoveryList``) get it with ``Content-Type: application/json`` and fall back, as kubectl
does against older servers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from leadergroup.sim.catalog import Catalog
from leadergroup.sim.resources import SUBRESOURCE_VERBS, ResourceType

JsonDict = dict[str, Any]

# The release the emulator is measured against (tests/controlplane/go/go.mod; its OpenAPI snapshot).
VERSION_INFO = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.2+leadergroup.sim",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> JsonDict:
    """``/api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> JsonDict:
    entries = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(catalog: Catalog) -> JsonDict:
    """``/apis``: every named group."""
    groups = [_group(name, versions) for name, versions in sorted(catalog.groups().items()) if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(catalog: Catalog, name: str) -> JsonDict | None:
    """``/apis/{group}``, or None when the group is not served."""
    versions = catalog.groups().get(name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _storage_version_hash(rtype: ResourceType) -> str:
    digest = hashlib.sha256(f"{rtype.group}/{rtype.version}/{rtype.kind}".encode()).digest()
    return digest[:8].hex()


def _entries(rtype: ResourceType) -> list[JsonDict]:
    main: JsonDict = {
        "name": rtype.plural,
        "singularName": rtype.singular,
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": list(rtype.verbs),
    }
    if rtype.short_names:
        main["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        main["categories"] = list(rtype.categories)
    if not rtype.virtual:
        main["storageVersionHash"] = _storage_version_hash(rtype)
    entries = [main]
    if rtype.status_subresource:
        entries.append(
            {
                "name": f"{rtype.plural}/status",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": list(SUBRESOURCE_VERBS),
            }
        )
    if rtype.scale is not None:
        entries.append(
            {
                "name": f"{rtype.plural}/scale",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": list(SUBRESOURCE_VERBS),
            }
        )
    return entries


def api_resource_list(catalog: Catalog, group: str, version: str) -> JsonDict | None:
    """``/api/v1`` or ``/apis/{group}/{version}``, or None when not served."""
    resources = catalog.resources(group, version)
    if not resources:
        return None
    group_version = f"{group}/{version}" if group else version
    entries = [entry for rtype in sorted(resources, key=lambda r: r.plural) for entry in _entries(rtype)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }
