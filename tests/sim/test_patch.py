"""PATCH flavours: merge, JSON (with test ops), strategic merge (approximated), apply (refused)."""

from __future__ import annotations

from typing import Any

from tests.sim.conftest import LEASES, WIDGETS, Api, lease, widget, widget_crd

from leadergroup.sim import Emulator
from leadergroup.sim.patch import merge_patch, strategic_merge_patch

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def deployment(name: str, containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
        },
    }


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": 1, "b": {"c": 2, "d": 3}, "list": [1, 2]}
    assert merge_patch(target, {"b": {"c": None, "e": 4}, "list": [3]}) == {
        "a": 1,
        "b": {"d": 3, "e": 4},
        "list": [3],
    }
    assert target == {"a": 1, "b": {"c": 2, "d": 3}, "list": [1, 2]}  # arguments are not mutated


def test_strategic_merge_merges_named_lists_and_deletes_directives() -> None:
    target = {
        "containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "s:1"},
        ],
        "finalizers": ["one"],
    }
    patch = {
        "containers": [
            {"name": "app", "env": [{"name": "Y", "value": "2"}]},
            {"name": "side", "$patch": "delete"},
        ],
        "finalizers": ["two"],
    }
    assert strategic_merge_patch(target, patch) == {
        "containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}
        ],
        "finalizers": ["one", "two"],
    }


async def test_merge_patch_over_http(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a", holder="h", labels={"keep": "1", "drop": "1"}))
    patched = await api.ok(
        "PATCH",
        f"{LEASES}/a",
        {"metadata": {"labels": {"drop": None}}, "spec": {"leaseDurationSeconds": 15}},
        content_type="application/merge-patch+json",
    )
    assert patched["metadata"]["labels"] == {"keep": "1"}
    assert patched["spec"] == {"holderIdentity": "h", "leaseDurationSeconds": 15}


async def test_json_patch_with_a_passing_test_op(api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("a"))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": created["metadata"]["resourceVersion"]},
        {"op": "replace", "path": "/spec/holderIdentity", "value": "me"},
    ]
    patched = await api.ok("PATCH", f"{LEASES}/a", ops, content_type="application/json-patch+json")
    assert patched["spec"]["holderIdentity"] == "me"


async def test_json_patch_with_a_failing_test_op_is_422_and_changes_nothing(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/spec/holderIdentity", "value": "me"},
    ]
    reply = await api.patch(f"{LEASES}/a", ops, content_type="application/json-patch+json")
    assert reply.status == 422 and reply.body["kind"] == "Status"
    assert (await api.ok("GET", f"{LEASES}/a"))["spec"]["holderIdentity"] == ""


async def test_stale_resource_version_in_a_patch_is_a_conflict(api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("a"))
    await api.ok(
        "PATCH", f"{LEASES}/a", {"spec": {"holderIdentity": "x"}}, content_type="application/merge-patch+json"
    )
    reply = await api.patch(
        f"{LEASES}/a",
        {
            "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
            "spec": {"holderIdentity": "y"},
        },
    )
    assert reply.status == 409 and reply.body["reason"] == "Conflict"


async def test_strategic_merge_patch_over_http_merges_containers_by_name(api: Api) -> None:
    await api.ok(
        "POST",
        DEPLOYMENTS,
        deployment("d", [{"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"}]),
    )
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "side:2"}]}}}}
    patched = await api.ok(
        "PATCH", f"{DEPLOYMENTS}/d", patch, content_type="application/strategic-merge-patch+json"
    )
    images = [container["image"] for container in patched["spec"]["template"]["spec"]["containers"]]
    assert images == ["app:1", "side:2"]


APPLY = "application/apply-patch+yaml"


async def test_server_side_apply_creates_then_merges_what_it_sets(api: Api) -> None:
    applied = await api.request(
        "PATCH", f"{LEASES}/a", lease("a", holder="x"), content_type=APPLY, params={"fieldManager": "me"}
    )
    assert applied.status == 201 and applied.body["spec"]["holderIdentity"] == "x"
    again = await api.request(
        "PATCH",
        f"{LEASES}/a",
        "metadata: {name: a, labels: {team: x}}\nspec: {leaseDurationSeconds: 9}\n",
        content_type=APPLY,
        params={"fieldManager": "me"},
    )
    assert again.status == 200
    assert again.body["metadata"]["labels"] == {"team": "x"}
    # No field ownership here: what an apply leaves out stays (a gap, see docs/testing.md).
    assert again.body["spec"] == {"holderIdentity": "x", "leaseDurationSeconds": 9}


async def test_server_side_apply_needs_a_field_manager(api: Api) -> None:
    reply = await api.request("PATCH", f"{LEASES}/a", lease("a"), content_type=APPLY)
    assert reply.status == 422
    assert reply.body["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "field": "fieldManager",
            "message": "Required value: is required for apply patch",
        }
    ]


async def test_unknown_patch_type_is_415(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    reply = await api.patch(f"{LEASES}/a", {"spec": {}}, content_type="text/plain")
    assert reply.status == 415


async def test_strategic_merge_patch_of_a_custom_resource_is_415(emulator: Emulator, api: Api) -> None:
    # Custom resources have no Go types to take merge keys from: kube accepts only JSON, merge and apply.
    emulator.load_crds(widget_crd())
    created = await api.ok("POST", WIDGETS, widget("w"))
    reply = await api.patch(
        f"{WIDGETS}/w", {"spec": {"size": 2}}, content_type="application/strategic-merge-patch+json"
    )
    assert reply.status == 415 and reply.body["reason"] == "UnsupportedMediaType"
    assert reply.body["message"].startswith(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    assert (await api.ok("GET", f"{WIDGETS}/w"))["metadata"]["resourceVersion"] == created["metadata"][
        "resourceVersion"
    ]
    # Checked before the object is looked up, as kube does.
    reply = await api.patch(f"{WIDGETS}/none", {}, content_type="application/strategic-merge-patch+json")
    assert reply.status == 415
