"""OpenAPI v3 as kube-apiserver publishes it: ``/openapi/v3`` and one document per group version.

kubectl needs it for three things: ``kubectl explain`` (the schema of a kind, found by its
``x-kubernetes-group-version-kind``), the check that decides whether the server validates fields itself
(a PATCH operation of the kind that lists the ``fieldValidation`` parameter; otherwise kubectl wants
``/openapi/v2`` for client-side validation, hence "failed to download openapi ... --validate=false"), and
the strategic merge patches of client-side ``kubectl apply`` (``x-kubernetes-patch-merge-key``).

Schemas of custom resources are built from their CRD as apiextensions-apiserver's builder does; those of
the built-in kinds come from a snapshot of a real kube-apiserver (:mod:`leadergroup.sim.openapi_builtin`).
Paths carry what clients read (operations, their kind, their query parameters), not response bodies.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from leadergroup.sim import openapi_builtin
from leadergroup.sim.catalog import Catalog
from leadergroup.sim.resources import ResourceType

JsonDict = dict[str, Any]
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
SCHEMA_PREFIX = "#/components/schemas/"
_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
_OBJECT_META_DESCRIPTION = f"Standard object's metadata. More info: {_CONVENTIONS}#metadata"
# Sic: kube's builder links list metadata to #types-kinds.
_LIST_META_DESCRIPTION = f"Standard list metadata. More info: {_CONVENTIONS}#types-kinds"
_API_VERSION = {
    "description": "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject unrecognized values. "
    f"More info: {_CONVENTIONS}#resources",
    "type": "string",
}
_KIND = {
    "description": "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. "
    f"More info: {_CONVENTIONS}#types-kinds",
    "type": "string",
}
_EMBEDDED_API_VERSION = (
    "apiVersion defines the versioned schema of this representation of an object. "
    f"More info: {_CONVENTIONS}#resources"
)
_EMBEDDED_KIND = (
    "kind is a string value representing the type of this object. In CamelCase. "
    f"More info: {_CONVENTIONS}#types-kinds"
)
# Query parameters of writes (what kubectl's field-validation check looks for is ``fieldValidation``).
_WRITE_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation")


def _ref(name: str) -> JsonDict:
    return {"$ref": SCHEMA_PREFIX + name}


def _meta_ref(name: str, description: str) -> JsonDict:
    # OpenAPI v3 cannot put a description beside a $ref: kube wraps the reference in allOf.
    return {"allOf": [_ref(META + name)], "description": description}


def model_name(group: str, version: str, kind: str) -> str:
    """The schema name kube gives a custom kind: the group reversed (``io.leadergroup.v1alpha1.X``)."""
    return ".".join([*reversed(group.split(".")), version, kind])


def _gvk(rtype: ResourceType, kind: str | None = None) -> list[JsonDict]:
    return [{"group": rtype.group, "kind": kind or rtype.kind, "version": rtype.version}]


def _as_published(schema: JsonDict) -> JsonDict:
    """A CRD schema as kube publishes it.

    Embedded resources get apiVersion, kind and an ObjectMeta reference; int-or-string fields an
    ``anyOf`` of both types.
    """
    result = dict(schema)
    if isinstance(result.get("properties"), dict):
        result["properties"] = {key: _as_published(value) for key, value in result["properties"].items()}
    if isinstance(result.get("items"), dict):
        result["items"] = _as_published(result["items"])
    if isinstance(result.get("additionalProperties"), dict):
        result["additionalProperties"] = _as_published(result["additionalProperties"])
    if result.get("x-kubernetes-int-or-string") is True and "anyOf" not in result and "allOf" not in result:
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if result.get("x-kubernetes-embedded-resource") is True:
        properties = dict(result.get("properties") or {})
        properties["apiVersion"] = {**_API_VERSION, "description": _EMBEDDED_API_VERSION}
        properties["kind"] = {**_KIND, "description": _EMBEDDED_KIND}
        properties["metadata"] = _meta_ref("ObjectMeta", _OBJECT_META_DESCRIPTION)
        result["properties"] = properties
        required = list(result.get("required") or [])
        result["required"] = required + [key for key in ("kind", "apiVersion") if key not in required]
    return result


def custom_kind_schema(rtype: ResourceType) -> JsonDict:
    """The published schema of a custom kind: its CRD's schema with kube's type and object metadata."""
    if rtype.schema is None:
        schema: JsonDict = {"type": "object"}
    else:
        schema = _as_published(rtype.schema)
        properties = dict(schema.get("properties") or {})
        properties["apiVersion"] = dict(_API_VERSION)
        properties["kind"] = dict(_KIND)
        properties["metadata"] = _meta_ref("ObjectMeta", _OBJECT_META_DESCRIPTION)
        schema["properties"] = properties
    schema["x-kubernetes-group-version-kind"] = _gvk(rtype)
    return schema


def custom_list_schema(rtype: ResourceType) -> JsonDict:
    """The published schema of a custom kind's list."""
    return {
        "description": f"{rtype.list_kind} is a list of {rtype.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": dict(_API_VERSION),
            "items": {
                "description": f"List of {rtype.plural}. More info: {_CONVENTIONS}",
                "type": "array",
                "items": _ref(model_name(rtype.group, rtype.version, rtype.kind)),
            },
            "kind": dict(_KIND),
            "metadata": _meta_ref("ListMeta", _LIST_META_DESCRIPTION),
        },
        "x-kubernetes-group-version-kind": _gvk(rtype, rtype.list_kind),
    }


def _kind_schemas(rtype: ResourceType) -> dict[str, str | JsonDict]:
    """Schema name → schema (custom kinds) or name only (built-ins: the snapshot has it)."""
    if rtype.custom:
        return {
            model_name(rtype.group, rtype.version, rtype.kind): custom_kind_schema(rtype),
            model_name(rtype.group, rtype.version, rtype.list_kind): custom_list_schema(rtype),
        }
    names = openapi_builtin.kind_names(rtype.group, rtype.version, rtype.kind)
    return dict.fromkeys(names, "")


def _operation(rtype: ResourceType, action: str, schema_name: str | None, writes: bool) -> JsonDict:
    operation: JsonDict = {
        "operationId": f"{action}{rtype.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rtype.group,
            "kind": rtype.kind,
            "version": rtype.version,
        },
        "responses": {"200": {"description": "OK"}},
    }
    if writes:
        operation["parameters"] = [
            {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for name in _WRITE_PARAMETERS
        ]
    if schema_name is not None:
        content = {"application/json": {"schema": _ref(schema_name)}}
        if action == "patch":
            content = {
                media: {"schema": _ref(META + "Patch")}
                for media in (
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                    "application/apply-patch+yaml",
                )
            }
        operation["requestBody"] = {"content": content}
    return operation


def _paths(rtype: ResourceType, kind_schema: str | None) -> JsonDict:
    prefix = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else f"/api/{rtype.version}"
    scope = f"{prefix}/namespaces/{{namespace}}" if rtype.namespaced else prefix
    collection = f"{scope}/{rtype.plural}"
    item = f"{collection}/{{name}}"
    paths: JsonDict = {
        collection: {
            "get": _operation(rtype, "list", None, writes=False),
            "post": _operation(rtype, "post", kind_schema, writes=True),
        },
        item: {
            "get": _operation(rtype, "get", None, writes=False),
            "put": _operation(rtype, "put", kind_schema, writes=True),
            "patch": _operation(rtype, "patch", kind_schema, writes=True),
            "delete": _operation(rtype, "delete", None, writes=False),
        },
    }
    if rtype.virtual:
        return {collection: {"post": paths[collection]["post"]}}
    if rtype.status_subresource:
        paths[f"{item}/status"] = {
            verb: _operation(rtype, action, kind_schema, writes=verb != "get")
            for verb, action in (("get", "get"), ("put", "put"), ("patch", "patch"))
        }
    return paths


def reachable(schemas: dict[str, JsonDict], roots: list[str]) -> dict[str, JsonDict]:
    """Every schema reachable from ``roots`` through ``$ref``, in name order (kube's documents are sorted)."""
    found: dict[str, JsonDict] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in found or name not in schemas:
            continue
        found[name] = schemas[name]
        pending.extend(_references(schemas[name]))
    return dict(sorted(found.items()))


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        refs = [value["$ref"][len(SCHEMA_PREFIX) :]] if isinstance(value.get("$ref"), str) else []
        for item in value.values():
            refs.extend(_references(item))
        return refs
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


# (group, version) → (the resource types it was built from, document, hash). A CRD write replaces its
# ResourceType objects, so identity tells a stale document; the cache holds the types, so ids stay unique.
_documents: dict[tuple[str, str], tuple[list[ResourceType], JsonDict, str]] = {}


def group_version_document(catalog: Catalog, group: str, version: str) -> JsonDict | None:
    """``/openapi/v3/api/v1`` or ``/openapi/v3/apis/{group}/{version}``; None when not served."""
    built = _built(catalog, group, version)
    return built[1] if built else None


def _built(catalog: Catalog, group: str, version: str) -> tuple[list[ResourceType], JsonDict, str] | None:
    resources = sorted(catalog.resources(group, version), key=lambda rtype: rtype.plural)
    if not resources:
        return None
    cached = _documents.get((group, version))
    if (
        cached
        and len(cached[0]) == len(resources)
        and all(a is b for a, b in zip(cached[0], resources, strict=True))
    ):
        return cached
    document = _build(resources)
    digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest().upper()
    _documents[(group, version)] = (resources, document, digest)
    return _documents[(group, version)]


def _build(resources: list[ResourceType]) -> JsonDict:
    paths: JsonDict = {}
    schemas: dict[str, JsonDict] = dict(openapi_builtin.schemas())
    roots: list[str] = [META + "Patch", META + "Status", META + "DeleteOptions"]
    for rtype in resources:
        kind_schemas = _kind_schemas(rtype)
        for name, schema in kind_schemas.items():
            if isinstance(schema, dict):
                schemas[name] = schema
        roots.extend(kind_schemas)
        if rtype.scale is not None:
            roots.append("io.k8s.api.autoscaling.v1.Scale")
        kind_schema = next(iter(kind_schemas), None)
        paths.update(_paths(rtype, kind_schema))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": openapi_builtin.release()},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": reachable(schemas, roots)},
    }


def _document_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root_document(catalog: Catalog) -> JsonDict:
    """``/openapi/v3``: where each group version's document is, with a hash clients cache by."""
    paths: JsonDict = {}
    for group, versions in sorted(catalog.groups().items()):
        for version in versions:
            built = _built(catalog, group, version)
            if built is None:
                continue
            relative = _document_path(group, version)
            paths[relative] = {"serverRelativeURL": f"/openapi/v3/{relative}?hash={built[2]}"}
    return {"paths": paths}


def document_for_path(catalog: Catalog, path: str) -> JsonDict | None:
    """The document at an ``/openapi/v3/...`` path, the root included; None when there is none."""
    segments = [segment for segment in path.split("/") if segment][2:]
    if not segments:
        return root_document(catalog)
    if len(segments) == 2 and segments[0] == "api":
        return group_version_document(catalog, "", segments[1])
    if len(segments) == 3 and segments[0] == "apis":
        return group_version_document(catalog, segments[1], segments[2])
    return None
