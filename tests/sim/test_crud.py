"""Create, read, replace and delete with kube's status codes, Status bodies and metadata rules."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from tests.sim.conftest import CRD_PATH, LEASES, WIDGETS, Api, lease, widget, widget_crd

from leadergroup.sim import Emulator
from leadergroup.sim.objects import GENERATE_NAME_ALPHABET


async def test_create_fills_in_server_owned_metadata(api: Api) -> None:
    reply = await api.post(LEASES, {"metadata": {"name": "a", "uid": "forged", "resourceVersion": "999"}})
    assert reply.status == 201
    created = reply.body
    assert created["apiVersion"] == "coordination.k8s.io/v1" and created["kind"] == "Lease"
    metadata = created["metadata"]
    assert metadata["namespace"] == "default"
    assert re.fullmatch(r"[0-9a-f-]{36}", metadata["uid"]) and metadata["uid"] != "forged"
    assert metadata["resourceVersion"] != "999" and metadata["resourceVersion"].isdigit()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["creationTimestamp"])
    assert "generation" not in metadata  # leases do not track generation


async def test_resource_version_is_a_global_counter(api: Api) -> None:
    first = await api.ok("POST", LEASES, lease("a"))
    second = await api.ok("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}})
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])


async def test_generate_name_appends_five_kube_characters(api: Api) -> None:
    created = await api.ok("POST", LEASES, {"metadata": {"generateName": "elector-"}})
    name = created["metadata"]["name"]
    assert name.startswith("elector-") and len(name) == len("elector-") + 5
    assert set(name[len("elector-") :]) <= set(GENERATE_NAME_ALPHABET)


async def test_create_without_name_is_invalid(api: Api) -> None:
    reply = await api.post(LEASES, {"metadata": {}})
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "metadata.name"


async def test_create_with_bad_name_is_invalid(api: Api) -> None:
    reply = await api.post(LEASES, lease("Not_Valid"))
    assert reply.status == 422 and reply.body["reason"] == "Invalid"


async def test_duplicate_create_is_already_exists(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    reply = await api.post(LEASES, lease("a"))
    assert reply.status == 409
    assert reply.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'leases.coordination.k8s.io "a" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "a", "group": "coordination.k8s.io", "kind": "leases"},
        "code": 409,
    }


async def test_missing_object_is_not_found_for_every_verb(api: Api) -> None:
    expected = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'leases.coordination.k8s.io "x" not found',
        "reason": "NotFound",
        "details": {"name": "x", "group": "coordination.k8s.io", "kind": "leases"},
        "code": 404,
    }
    for reply in (
        await api.get(f"{LEASES}/x"),
        await api.put(f"{LEASES}/x", lease("x")),
        await api.patch(f"{LEASES}/x", {"spec": {}}),
        await api.delete(f"{LEASES}/x"),
    ):
        assert (reply.status, reply.body) == (404, expected)


async def test_body_namespace_must_match_the_url(api: Api) -> None:
    reply = await api.post(LEASES, lease("a", namespace="kube-system"))
    assert reply.status == 400 and reply.body["reason"] == "BadRequest"


async def test_body_kind_must_match_the_url(api: Api) -> None:
    reply = await api.post(LEASES, {"kind": "ConfigMap", "metadata": {"name": "a"}})
    assert reply.status == 400


async def test_put_replaces_and_keeps_identity(api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("a", holder="one", labels={"x": "1"}))
    replacement = lease("a", holder="two")
    replacement["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    replacement["metadata"]["uid"] = "forged"
    updated = await api.ok("PUT", f"{LEASES}/a", replacement)
    assert updated["spec"]["holderIdentity"] == "two"
    assert "labels" not in updated["metadata"]  # PUT replaces, it does not merge
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


async def test_put_without_resource_version_is_unconditional_for_most_builtins(api: Api) -> None:
    configmaps = "/api/v1/namespaces/default/configmaps"
    await api.ok("POST", configmaps, {"metadata": {"name": "c"}, "data": {"k": "1"}})
    await api.ok(
        "PATCH", f"{configmaps}/c", {"data": {"k": "2"}}, content_type="application/merge-patch+json"
    )
    updated = await api.ok("PUT", f"{configmaps}/c", {"metadata": {"name": "c"}, "data": {"k": "blind"}})
    assert updated["data"] == {"k": "blind"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (LEASES, lease("a")),
        ("/apis/policy/v1/namespaces/default/poddisruptionbudgets", {"metadata": {"name": "a"}, "spec": {}}),
    ],
)
async def test_put_without_resource_version_is_invalid_for_leases_and_pdbs(
    api: Api, path: str, body: dict[str, Any]
) -> None:
    # Their strategies' AllowUnconditionalUpdate is false: a blind PUT must not overwrite a lease holder.
    created = await api.ok("POST", path, body)
    reply = await api.put(f"{path}/a", body)
    assert reply.status == 422
    assert reply.body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.resourceVersion",
            "message": "Invalid value: 0: must be specified for an update",
        }
    ]
    assert (await api.ok("GET", f"{path}/a"))["metadata"]["resourceVersion"] == created["metadata"][
        "resourceVersion"
    ]


async def test_put_without_resource_version_is_invalid_for_crds(emulator: Emulator, api: Api) -> None:
    crd = emulator.load_crds(widget_crd())[0]
    del crd["metadata"]["resourceVersion"]
    reply = await api.put(f"{CRD_PATH}/widgets.example.com", crd)
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "metadata.resourceVersion"


async def test_deletecollection_deletes_the_matching_objects(api: Api) -> None:
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        await api.ok("POST", LEASES, lease(name, labels={"app": app}))
    reply = await api.delete(LEASES, params={"labelSelector": "app=x"})
    assert reply.status == 200
    assert sorted(item["metadata"]["name"] for item in reply.body["items"]) == ["a", "b"]
    remaining = await api.ok("GET", LEASES)
    assert [item["metadata"]["name"] for item in remaining["items"]] == ["c"]


async def test_deletecollection_lists_its_targets_after_reading_the_body(
    emulator: Emulator, api: Api
) -> None:
    # A slow body used to be awaited after the targets were listed: an object deleted meanwhile made the
    # request fail with 404 halfway through.
    await api.ok("POST", LEASES, lease("a"))
    await api.ok("POST", LEASES, lease("b"))

    async def slow_body() -> Any:
        yield b'{"kind": "DeleteOptions",'
        await asyncio.sleep(0.3)
        yield b' "apiVersion": "v1"}'

    async def delete_collection() -> Any:
        async with api.session.delete(
            api.base_url + LEASES,
            data=slow_body(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer tester"},
        ) as response:
            return response.status, await response.json()

    collection = asyncio.create_task(delete_collection())
    await asyncio.sleep(0.1)
    assert (await api.delete(f"{LEASES}/a")).status == 200
    status, body = await collection
    assert status == 200
    assert [item["metadata"]["name"] for item in body["items"]] == ["b"]
    assert (await api.ok("GET", LEASES))["items"] == []


async def test_put_without_resource_version_is_invalid_for_custom_resources(
    emulator: Emulator, api: Api
) -> None:
    emulator.load_crds(widget_crd())
    await api.ok("POST", WIDGETS, widget("w"))
    reply = await api.put(f"{WIDGETS}/w", widget("w", size=2))
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "metadata.resourceVersion"


async def test_stale_resource_version_is_a_conflict(api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("a"))
    stale = created["metadata"]["resourceVersion"]
    await api.ok(
        "PUT",
        f"{LEASES}/a",
        {**lease("a", holder="first"), "metadata": {"name": "a", "resourceVersion": stale}},
    )
    reply = await api.put(
        f"{LEASES}/a", {**lease("a", holder="second"), "metadata": {"name": "a", "resourceVersion": stale}}
    )
    assert reply.status == 409 and reply.body["reason"] == "Conflict"
    assert reply.body["message"] == (
        'Operation cannot be fulfilled on leases.coordination.k8s.io "a": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert (await api.ok("GET", f"{LEASES}/a"))["spec"]["holderIdentity"] == "first"


async def test_noop_put_keeps_the_resource_version(api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("a", holder="h"))
    same = await api.ok("PUT", f"{LEASES}/a", created)
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    patched = await api.ok(
        "PATCH", f"{LEASES}/a", {"spec": {"holderIdentity": "h"}}, content_type="application/merge-patch+json"
    )
    assert patched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_name_mismatch_between_url_and_body_is_bad_request(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    reply = await api.put(f"{LEASES}/a", lease("b"))
    assert reply.status == 400


async def test_exactly_one_of_32_racing_conditional_puts_wins(api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("race"))
    read_version = created["metadata"]["resourceVersion"]

    async def take(index: int) -> int:
        body = lease("race", holder=f"candidate-{index}")
        body["metadata"]["resourceVersion"] = read_version
        return (await api.put(f"{LEASES}/race", body)).status

    statuses = await asyncio.gather(*(take(index) for index in range(32)))
    assert sorted(statuses) == [200] + [409] * 31
    winner = statuses.index(200)
    assert (await api.ok("GET", f"{LEASES}/race"))["spec"]["holderIdentity"] == f"candidate-{winner}"


async def test_delete_without_finalizers_removes_at_once(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    reply = await api.delete(f"{LEASES}/a")
    assert reply.status == 200 and reply.body["status"] == "Success"
    assert (await api.get(f"{LEASES}/a")).status == 404


async def test_delete_precondition_on_resource_version(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    reply = await api.delete(f"{LEASES}/a", {"preconditions": {"resourceVersion": "1"}})
    assert reply.status == 409
    assert (await api.get(f"{LEASES}/a")).status == 200


async def test_delete_collection_honours_label_selectors(api: Api) -> None:
    await api.ok("POST", LEASES, lease("keep", labels={"team": "a"}))
    await api.ok("POST", LEASES, lease("drop", labels={"team": "b"}))
    await api.ok("DELETE", LEASES, params={"labelSelector": "team=b"})
    names = [item["metadata"]["name"] for item in (await api.ok("GET", LEASES))["items"]]
    assert names == ["keep"]


async def test_unknown_resource_is_not_found(api: Api) -> None:
    reply = await api.get("/apis/example.com/v1/namespaces/default/gadgets")
    assert reply.status == 404 and reply.body["kind"] == "Status"
