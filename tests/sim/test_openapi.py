"""OpenAPI v3: the root, one document per group version, custom kinds built from their CRD."""

from __future__ import annotations

from typing import Any

from tests.sim.conftest import CRD_PATH, Api, widget_crd

from leadergroup.sim import openapi_builtin


async def _document(api: Api, group_version: str) -> Any:
    root = await api.ok("GET", "/openapi/v3")
    url = root["paths"][group_version]["serverRelativeURL"]
    assert "?hash=" in url
    return await api.ok("GET", url.split("?")[0])


async def test_root_lists_every_served_group_version(api: Api) -> None:
    paths = (await api.ok("GET", "/openapi/v3"))["paths"]
    assert {
        "api/v1",
        "apis/apps/v1",
        "apis/coordination.k8s.io/v1",
        "apis/rbac.authorization.k8s.io/v1",
    } <= set(paths)
    assert (await api.get("/openapi/v3/apis/nothing.example.com/v1")).status == 404


async def test_built_in_kinds_come_from_the_snapshot_with_everything_they_reference(api: Api) -> None:
    document = await _document(api, "apis/apps/v1")
    schemas = document["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment == openapi_builtin.schemas()["io.k8s.api.apps.v1.Deployment"]
    assert (
        "io.k8s.api.core.v1.PodSpec" in schemas
        and "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    )
    refs = {value for name in schemas for value in _refs(schemas[name])}
    assert refs <= set(schemas), refs - set(schemas)


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"].rsplit("/", 1)[1]] if "$ref" in value else []
        return own + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []


async def test_patch_operations_name_their_kind_and_take_field_validation(api: Api) -> None:
    # What kubectl checks before it leaves field validation to the server.
    document = await _document(api, "apis/apps/v1")
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    assert "fieldValidation" in [parameter["name"] for parameter in patch["parameters"]]


async def test_a_custom_kind_is_published_as_kube_builds_it_from_the_crd(api: Api) -> None:
    await api.ok("POST", CRD_PATH, widget_crd())
    schemas = (await _document(api, "apis/example.com/v1"))["components"]["schemas"]
    widget = schemas["com.example.v1.Widget"]
    assert widget["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}
    ]
    assert widget["properties"]["spec"]["properties"]["color"] == {"type": "string", "default": "blue"}
    assert widget["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert schemas["com.example.v1.WidgetList"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/com.example.v1.Widget"
    }
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas


async def test_the_hash_changes_when_a_crd_changes(api: Api) -> None:
    await api.ok("POST", CRD_PATH, widget_crd())
    before = (await api.ok("GET", "/openapi/v3"))["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    crd = await api.ok("GET", CRD_PATH + "/widgets.example.com")
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["extra"] = {
        "type": "string"
    }
    await api.ok("PUT", CRD_PATH + "/widgets.example.com", crd)
    after = (await api.ok("GET", "/openapi/v3"))["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    assert before != after
    schemas = (await _document(api, "apis/example.com/v1"))["components"]["schemas"]
    assert "extra" in schemas["com.example.v1.Widget"]["properties"]["spec"]["properties"]


def test_the_emulator_names_the_release_its_schemas_come_from() -> None:
    from leadergroup.sim.discovery import VERSION_INFO

    assert VERSION_INFO["gitVersion"].split("+")[0] == openapi_builtin.release()
