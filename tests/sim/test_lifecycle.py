"""Finalizers and garbage collection through ownerReferences."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.sim.conftest import LEASES, Api, lease
from tests.support import eventually

from leadergroup.sim import Emulator

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
MERGE = "application/merge-patch+json"


def owned_by(*owners: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
        }
        for owner in owners
    ]


async def test_finalizers_defer_deletion_until_emptied(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a", finalizers=["example.com/x", "example.com/y"]))
    deleting = await api.ok("DELETE", f"{LEASES}/a")
    assert (
        deleting["metadata"]["deletionTimestamp"] and deleting["metadata"]["deletionGracePeriodSeconds"] == 0
    )
    again = await api.ok("DELETE", f"{LEASES}/a")
    assert again["metadata"]["resourceVersion"] == deleting["metadata"]["resourceVersion"]
    await api.ok("PATCH", f"{LEASES}/a", {"metadata": {"finalizers": ["example.com/y"]}}, content_type=MERGE)
    assert (await api.get(f"{LEASES}/a")).status == 200
    await api.ok("PATCH", f"{LEASES}/a", {"metadata": {"finalizers": None}}, content_type=MERGE)
    assert (await api.get(f"{LEASES}/a")).status == 404


async def test_no_new_finalizers_on_an_object_being_deleted(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a", finalizers=["example.com/x"]))
    await api.ok("DELETE", f"{LEASES}/a")
    reply = await api.patch(f"{LEASES}/a", {"metadata": {"finalizers": ["example.com/x", "example.com/new"]}})
    assert reply.status == 422


async def test_deletion_timestamp_cannot_be_written(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    patched = await api.ok(
        "PATCH",
        f"{LEASES}/a",
        {"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}},
        content_type=MERGE,
    )
    assert "deletionTimestamp" not in patched["metadata"]


async def test_dependents_are_collected_after_their_owner(api: Api) -> None:
    owner = await api.ok("POST", LEASES, lease("owner"))
    other = await api.ok("POST", LEASES, lease("other-owner"))
    child = await api.ok(
        "POST", CONFIGMAPS, {"metadata": {"name": "child", "ownerReferences": owned_by(owner)}}
    )
    await api.ok(
        "POST", CONFIGMAPS, {"metadata": {"name": "shared", "ownerReferences": owned_by(owner, other)}}
    )
    await api.ok("POST", CONFIGMAPS, {"metadata": {"name": "grandchild", "ownerReferences": owned_by(child)}})
    await api.ok("DELETE", f"{LEASES}/owner")

    async def collected() -> bool:
        child = await api.get(f"{CONFIGMAPS}/child")
        grandchild = await api.get(f"{CONFIGMAPS}/grandchild")
        return child.status == 404 and grandchild.status == 404

    await eventually(collected, timeout=1, message="child and grandchild collected")
    assert (await api.get(f"{CONFIGMAPS}/shared")).status == 200  # one owner is still alive


async def test_dangling_owner_reference_counts_as_gone(api: Api) -> None:
    ghost = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"},
    }
    await api.ok("POST", CONFIGMAPS, {"metadata": {"name": "orphan", "ownerReferences": owned_by(ghost)}})

    async def collected() -> bool:
        return (await api.get(f"{CONFIGMAPS}/orphan")).status == 404

    await eventually(collected, timeout=1, message="a dependent of a missing owner is collected")


async def test_orphan_propagation_keeps_dependents(emulator: Emulator, api: Api) -> None:
    owner = await api.ok("POST", LEASES, lease("owner"))
    await api.ok("POST", CONFIGMAPS, {"metadata": {"name": "child", "ownerReferences": owned_by(owner)}})
    await api.ok("DELETE", f"{LEASES}/owner", {"propagationPolicy": "Orphan"})
    await asyncio.sleep(emulator.api.gc.delay * 4)  # give a (wrong) collection the chance to happen
    child = await api.ok("GET", f"{CONFIGMAPS}/child")
    assert "ownerReferences" not in child["metadata"]


async def test_finalizer_on_dependent_is_respected_by_gc(api: Api) -> None:
    owner = await api.ok("POST", LEASES, lease("owner"))
    await api.ok(
        "POST",
        CONFIGMAPS,
        {
            "metadata": {
                "name": "child",
                "ownerReferences": owned_by(owner),
                "finalizers": ["example.com/hold"],
            }
        },
    )
    await api.ok("DELETE", f"{LEASES}/owner")

    async def marked() -> bool:
        child = await api.ok("GET", f"{CONFIGMAPS}/child")
        return bool(child["metadata"].get("deletionTimestamp"))

    await eventually(marked, timeout=1, message="the dependent is being deleted")
