"""Discovery documents, CRDs served at once and removed with their objects, tables."""

from __future__ import annotations

import json

from tests.sim.conftest import CRD_PATH, WIDGETS, Api, widget, widget_crd
from tests.support import eventually

from leadergroup.sim import Emulator

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


async def test_version_and_core_discovery(api: Api) -> None:
    version = await api.ok("GET", "/version")
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    assert (await api.ok("GET", "/api"))["versions"] == ["v1"]
    core = await api.ok("GET", "/api/v1")
    by_name = {entry["name"]: entry for entry in core["resources"]}
    assert by_name["pods"]["namespaced"] is True and by_name["pods"]["kind"] == "Pod"
    assert by_name["namespaces"]["namespaced"] is False and "ns" in by_name["namespaces"]["shortNames"]
    assert "pods/status" in by_name and set(by_name["pods/status"]["verbs"]) == {"get", "patch", "update"}
    assert set(by_name["configmaps"]["verbs"]) == {
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    }


async def test_group_discovery(api: Api) -> None:
    groups = {group["name"]: group for group in (await api.ok("GET", "/apis"))["groups"]}
    for name in (
        "apps",
        "coordination.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "events.k8s.io",
        "apiextensions.k8s.io",
        "authorization.k8s.io",
    ):
        assert groups[name]["preferredVersion"]["version"] == "v1"
    apps = await api.ok("GET", "/apis/apps")
    assert apps["kind"] == "APIGroup" and apps["preferredVersion"]["groupVersion"] == "apps/v1"
    resources = {entry["name"]: entry for entry in (await api.ok("GET", "/apis/apps/v1"))["resources"]}
    assert (
        resources["deployments/scale"]["kind"] == "Scale"
        and resources["deployments/scale"]["group"] == "autoscaling"
    )
    assert (await api.get("/apis/nothing.example.com")).status == 404


async def test_openapi_v2_is_not_served(api: Api) -> None:
    # kubectl ≥ 1.27 reads v3 (see test_openapi.py); v2 is only its fallback.
    assert (await api.get("/openapi/v2")).status == 404


async def test_crd_is_served_immediately_and_established(api: Api) -> None:
    crd = await api.ok("POST", CRD_PATH, widget_crd())
    conditions = {condition["type"]: condition["status"] for condition in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    group = await api.ok("GET", "/apis/example.com")
    assert group["preferredVersion"]["version"] == "v1"
    resources = {entry["name"]: entry for entry in (await api.ok("GET", "/apis/example.com/v1"))["resources"]}
    assert resources["widgets"]["shortNames"] == ["wd"] and "widgets/status" in resources
    created = await api.ok("POST", WIDGETS, widget("w"))
    assert created["spec"] == {"size": 1, "color": "blue"}  # schema defaulting applies


async def test_invalid_crd_is_rejected(api: Api) -> None:
    crd = widget_crd()
    crd["metadata"]["name"] = "wrong.example.com"
    reply = await api.post(CRD_PATH, crd)
    assert reply.status == 422 and reply.body["details"]["causes"][0]["field"] == "metadata.name"


async def test_schema_violations_are_422_with_causes(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd())
    reply = await api.post(WIDGETS, widget("w", size=-1))
    assert reply.status == 422 and reply.body["reason"] == "Invalid"
    assert reply.body["details"]["kind"] == "Widget" and reply.body["details"]["group"] == "example.com"
    # The schema's minimum, then the /scale subresource's own check of its replicas path.
    assert [cause["field"] for cause in reply.body["details"]["causes"]] == ["spec.size", ".spec.size"]
    assert reply.body["message"].startswith('Widget.example.com "w" is invalid: [spec.size')


async def test_schema_prunes_unknown_fields(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd())
    created = await api.ok("POST", WIDGETS, {**widget("w"), "extra": 1, "spec": {"size": 1, "bogus": True}})
    assert "extra" not in created and "bogus" not in created["spec"]


async def test_deleting_a_crd_removes_its_objects_and_its_api(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd())
    await api.ok("POST", WIDGETS, widget("w"))
    await api.ok("DELETE", f"{CRD_PATH}/widgets.example.com")
    assert (await api.get(f"{WIDGETS}/w")).status == 404
    assert (await api.get("/apis/example.com/v1")).status == 404
    emulator.load_crds(widget_crd())
    assert (await api.ok("GET", WIDGETS))["items"] == []


async def test_multiple_versions_share_storage(emulator: Emulator, api: Api) -> None:
    crd = widget_crd()
    v2 = {**crd["spec"]["versions"][0], "name": "v2", "storage": False}
    crd["spec"]["versions"].append(v2)
    emulator.load_crds(crd)
    await api.ok("POST", WIDGETS, widget("w"))
    as_v2 = await api.ok("GET", "/apis/example.com/v2/namespaces/default/widgets/w")
    assert as_v2["apiVersion"] == "example.com/v2"
    assert (await api.ok("GET", "/apis/example.com"))["preferredVersion"]["version"] == "v2"


async def test_table_with_printer_columns(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd())
    await api.ok("POST", WIDGETS, widget("w", size=3))
    await api.ok(
        "PATCH",
        f"{WIDGETS}/w/status",
        {"status": {"phase": "Ready"}},
        content_type="application/merge-patch+json",
    )
    table = await api.ok("GET", WIDGETS, headers={"Accept": TABLE})
    assert table["kind"] == "Table"
    assert [column["name"] for column in table["columnDefinitions"]] == ["Name", "Size", "Phase", "Age"]
    cells = table["rows"][0]["cells"]
    assert cells[:3] == ["w", 3, "Ready"] and cells[3].endswith("s")
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    single = await api.ok(
        "GET", f"{WIDGETS}/w", headers={"Accept": TABLE}, params={"includeObject": "Object"}
    )
    assert single["rows"][0]["object"]["spec"]["size"] == 3


async def test_default_table_columns_for_builtins(api: Api) -> None:
    table = await api.ok("GET", "/api/v1/namespaces", headers={"Accept": TABLE})
    assert [column["name"] for column in table["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert ["default", "Active"] in [row["cells"][:2] for row in table["rows"]]


async def test_aggregated_discovery_request_gets_the_legacy_form(api: Api) -> None:
    accept = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    )
    reply = await api.get("/apis", headers={"Accept": accept})
    assert reply.status == 200 and reply.body["kind"] == "APIGroupList"
    assert reply.headers["Content-Type"].startswith("application/json")


async def test_crd_watch_sees_new_crds(emulator: Emulator, api: Api) -> None:
    async def crd_listed() -> bool:
        listed = await api.ok("GET", CRD_PATH)
        return any(item["metadata"]["name"] == "widgets.example.com" for item in listed["items"])

    emulator.load_crds(widget_crd())
    await eventually(crd_listed, timeout=1)


async def test_partial_object_metadata(api: Api) -> None:
    accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
    listed = await api.ok("GET", "/api/v1/namespaces", headers={"Accept": accept})
    assert listed["kind"] == "PartialObjectMetadataList"
    assert {"kind", "apiVersion", "metadata"} == set(listed["items"][0])


async def test_table_watch_and_legacy_watch_path(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd())
    await api.ok("POST", WIDGETS, widget("w", size=2))
    async with api.session.get(
        f"{emulator.url}/apis/example.com/v1/watch/namespaces/default/widgets",
        params={"timeoutSeconds": "0.2"},
        headers={"Accept": TABLE},
    ) as response:
        lines = [line for line in (await response.text()).splitlines() if line]
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "ADDED" and event["object"]["kind"] == "Table"
    assert event["object"]["rows"][0]["cells"][:2] == ["w", 2]
