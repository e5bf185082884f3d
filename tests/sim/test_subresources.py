"""The /status and /scale subresources, and metadata.generation."""

from __future__ import annotations

from tests.sim.conftest import WIDGETS, Api, widget, widget_crd
from tests.sim.test_patch import DEPLOYMENTS, deployment

from leadergroup.sim import Emulator

MERGE = "application/merge-patch+json"


async def test_custom_resource_status_is_isolated_both_ways(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd())
    created = await api.ok("POST", WIDGETS, widget("w", status={"phase": "ignored on create"}))
    assert "status" not in created
    through_main = await api.ok(
        "PATCH", f"{WIDGETS}/w", {"spec": {"size": 2}, "status": {"phase": "nope"}}, content_type=MERGE
    )
    assert through_main["spec"]["size"] == 2 and "status" not in through_main
    through_status = await api.ok(
        "PATCH", f"{WIDGETS}/w/status", {"spec": {"size": 9}, "status": {"phase": "Ok"}}, content_type=MERGE
    )
    assert through_status["spec"]["size"] == 2 and through_status["status"] == {"phase": "Ok"}
    put_status = {**through_status, "status": {"phase": "Put"}}
    assert (await api.ok("PUT", f"{WIDGETS}/w/status", put_status))["status"] == {"phase": "Put"}


async def test_without_the_subresource_status_is_an_ordinary_field(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd(status_subresource=False))
    created = await api.ok("POST", WIDGETS, widget("w", status={"phase": "kept"}))
    assert created["status"] == {"phase": "kept"}
    assert (await api.patch(f"{WIDGETS}/w/status", {"status": {}})).status == 404


async def test_generation_tracks_spec_changes_only(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd())
    created = await api.ok("POST", WIDGETS, widget("w"))
    assert created["metadata"]["generation"] == 1
    labelled = await api.ok("PATCH", f"{WIDGETS}/w", {"metadata": {"labels": {"a": "b"}}}, content_type=MERGE)
    assert labelled["metadata"]["generation"] == 1
    status = await api.ok("PATCH", f"{WIDGETS}/w/status", {"status": {"phase": "x"}}, content_type=MERGE)
    assert status["metadata"]["generation"] == 1
    resized = await api.ok("PATCH", f"{WIDGETS}/w", {"spec": {"size": 5}}, content_type=MERGE)
    assert resized["metadata"]["generation"] == 2


async def test_generation_without_status_subresource_counts_status(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd(status_subresource=False))
    await api.ok("POST", WIDGETS, widget("w"))
    patched = await api.ok("PATCH", f"{WIDGETS}/w", {"status": {"phase": "x"}}, content_type=MERGE)
    assert patched["metadata"]["generation"] == 2


async def test_generation_bumps_when_deletion_starts(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd())
    await api.ok("POST", WIDGETS, {**widget("w"), "metadata": {"name": "w", "finalizers": ["example.com/x"]}})
    deleting = await api.ok("DELETE", f"{WIDGETS}/w")
    assert deleting["metadata"]["generation"] == 2 and deleting["metadata"]["deletionTimestamp"]


async def test_deployment_status_is_isolated_and_generation_bumps(api: Api) -> None:
    created = await api.ok(
        "POST", DEPLOYMENTS, {**deployment("d", [{"name": "a", "image": "a:1"}]), "status": {"replicas": 7}}
    )
    assert created["status"] == {} and created["metadata"]["generation"] == 1
    status = await api.ok(
        "PATCH", f"{DEPLOYMENTS}/d/status", {"status": {"readyReplicas": 1}}, content_type=MERGE
    )
    assert status["status"] == {"readyReplicas": 1} and status["metadata"]["generation"] == 1
    scaled = await api.ok(
        "PATCH",
        f"{DEPLOYMENTS}/d",
        {"spec": {"replicas": 3}, "status": {"readyReplicas": 9}},
        content_type=MERGE,
    )
    assert scaled["metadata"]["generation"] == 2 and scaled["status"] == {"readyReplicas": 1}


async def test_deployment_scale_subresource(api: Api) -> None:
    await api.ok("POST", DEPLOYMENTS, deployment("d", [{"name": "a", "image": "a:1"}]))
    scale = await api.ok("GET", f"{DEPLOYMENTS}/d/scale")
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 1}
    assert scale["status"]["selector"] == "app=d"
    scale["spec"]["replicas"] = 4
    assert (await api.ok("PUT", f"{DEPLOYMENTS}/d/scale", scale))["spec"]["replicas"] == 4
    patched = await api.ok("PATCH", f"{DEPLOYMENTS}/d/scale", {"spec": {"replicas": 2}}, content_type=MERGE)
    assert patched["spec"]["replicas"] == 2
    assert (await api.ok("GET", f"{DEPLOYMENTS}/d"))["spec"]["replicas"] == 2
    stale = await api.put(f"{DEPLOYMENTS}/d/scale", scale)  # still carries the old resourceVersion
    assert stale.status == 409


async def test_custom_resource_scale_subresource(emulator: Emulator, api: Api) -> None:
    emulator.load_crds(widget_crd())
    await api.ok("POST", WIDGETS, widget("w", size=1))
    await api.ok("PATCH", f"{WIDGETS}/w/scale", {"spec": {"replicas": 3}}, content_type=MERGE)
    assert (await api.ok("GET", f"{WIDGETS}/w"))["spec"]["size"] == 3
