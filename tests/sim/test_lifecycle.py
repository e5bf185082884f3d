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


async def gc_settled(emulator: Emulator) -> None:
    # A (wrong) collection would happen within a few sweeps.
    await asyncio.sleep(emulator.api.gc.delay * 4)


async def test_owner_in_another_namespace_does_not_keep_a_dependent(emulator: Emulator, api: Api) -> None:
    # Owners resolve in the dependent's namespace: a reference to an object elsewhere dangles.
    elsewhere = await api.ok(
        "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", lease("owner")
    )
    await api.ok("POST", CONFIGMAPS, {"metadata": {"name": "child", "ownerReferences": owned_by(elsewhere)}})

    async def collected() -> bool:
        return (await api.get(f"{CONFIGMAPS}/child")).status == 404

    await eventually(collected, timeout=1, message="a dependent of a cross-namespace owner is collected")


async def test_right_uid_but_wrong_name_or_kind_dangles(emulator: Emulator, api: Api) -> None:
    owner = await api.ok("POST", LEASES, lease("owner"))
    wrong_name = owned_by(owner)[0] | {"name": "someone-else"}
    wrong_kind = owned_by(owner)[0] | {"apiVersion": "v1", "kind": "ConfigMap"}
    await api.ok("POST", CONFIGMAPS, {"metadata": {"name": "by-name", "ownerReferences": [wrong_name]}})
    await api.ok("POST", CONFIGMAPS, {"metadata": {"name": "by-kind", "ownerReferences": [wrong_kind]}})

    async def collected() -> bool:
        gone = [(await api.get(f"{CONFIGMAPS}/{name}")).status == 404 for name in ("by-name", "by-kind")]
        return all(gone)

    await eventually(collected, timeout=1, message="references that do not resolve to the uid are dangling")


async def test_owner_recreated_under_the_same_name_does_not_keep_a_dependent(api: Api) -> None:
    owner = await api.ok("POST", LEASES, lease("owner"))
    await api.ok("POST", CONFIGMAPS, {"metadata": {"name": "child", "ownerReferences": owned_by(owner)}})
    await api.ok("DELETE", f"{LEASES}/owner")
    await api.ok("POST", LEASES, lease("owner"))  # same name, new uid

    async def collected() -> bool:
        return (await api.get(f"{CONFIGMAPS}/child")).status == 404

    await eventually(collected, timeout=1, message="the new owner has another uid")


async def test_cluster_scoped_owner_of_a_namespaced_dependent(emulator: Emulator, api: Api) -> None:
    namespace = await api.ok("GET", "/api/v1/namespaces/default")
    await api.ok("POST", CONFIGMAPS, {"metadata": {"name": "child", "ownerReferences": owned_by(namespace)}})
    await gc_settled(emulator)
    assert (await api.get(f"{CONFIGMAPS}/child")).status == 200


async def test_unresolvable_references_are_left_alone(emulator: Emulator, api: Api) -> None:
    # kube cannot tell whether these owners exist, so it never deletes the dependent.
    unknown_kind = {"apiVersion": "example.com/v1", "kind": "Nothing", "name": "x", "uid": "1"}
    await api.ok("POST", CONFIGMAPS, {"metadata": {"name": "unknown", "ownerReferences": [unknown_kind]}})
    namespaced_owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1"}
    await api.ok(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {"metadata": {"name": "role", "ownerReferences": [namespaced_owner]}},
    )
    await gc_settled(emulator)
    assert (await api.get(f"{CONFIGMAPS}/unknown")).status == 200
    assert (await api.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/role")).status == 200
