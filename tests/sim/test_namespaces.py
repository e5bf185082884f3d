"""Namespaces: the initial ones, existence checks, and deletion of their content."""

from __future__ import annotations

from tests.sim.conftest import Api, lease
from tests.support import eventually

from leadergroup.sim import Emulator

NAMESPACES = "/api/v1/namespaces"


async def test_initial_namespaces_exist_and_are_active(api: Api) -> None:
    listed = await api.ok("GET", NAMESPACES)
    names = {item["metadata"]["name"] for item in listed["items"]}
    assert {"default", "kube-system", "kube-public"} <= names
    default = await api.ok("GET", f"{NAMESPACES}/default")
    assert default["status"]["phase"] == "Active" and default["spec"]["finalizers"] == ["kubernetes"]


async def test_create_in_a_missing_namespace_is_404(api: Api) -> None:
    reply = await api.post("/apis/coordination.k8s.io/v1/namespaces/nowhere/leases", lease("a"))
    assert reply.status == 404 and reply.body["message"] == 'namespaces "nowhere" not found'


async def test_list_in_a_missing_namespace_is_empty(api: Api) -> None:
    listed = await api.ok("GET", "/apis/coordination.k8s.io/v1/namespaces/nowhere/leases")
    assert listed["items"] == []


async def test_namespace_names_are_dns_labels(api: Api) -> None:
    assert (await api.post(NAMESPACES, {"metadata": {"name": "a.b"}})).status == 422


async def test_deleting_a_namespace_deletes_its_objects(emulator: Emulator, api: Api) -> None:
    await api.ok("POST", NAMESPACES, {"metadata": {"name": "doomed"}})
    leases = "/apis/coordination.k8s.io/v1/namespaces/doomed/leases"
    await api.ok("POST", leases, lease("a"))
    await api.ok("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease("survivor"))
    deleting = await api.ok("DELETE", f"{NAMESPACES}/doomed")
    assert deleting["status"]["phase"] == "Terminating" and deleting["metadata"]["deletionTimestamp"]
    assert (await api.get(f"{leases}/a")).status == 404
    refused = await api.post(leases, lease("late"))
    gone = (await api.get(f"{NAMESPACES}/doomed")).status == 404
    assert gone or (refused.status == 403 and "being terminated" in refused.body["message"])

    async def namespace_gone() -> bool:
        return (await api.get(f"{NAMESPACES}/doomed")).status == 404

    await eventually(namespace_gone, timeout=2, message="the empty namespace disappears")
    assert (await api.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/survivor")).status == 200


async def test_namespace_waits_for_finalized_content(api: Api) -> None:
    await api.ok("POST", NAMESPACES, {"metadata": {"name": "slow"}})
    configmaps = "/api/v1/namespaces/slow/configmaps"
    await api.ok("POST", configmaps, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    await api.ok("DELETE", f"{NAMESPACES}/slow")
    held = await api.ok("GET", f"{configmaps}/held")
    assert held["metadata"]["deletionTimestamp"]
    assert (await api.post(configmaps, {"metadata": {"name": "late"}})).status == 403
    assert (await api.ok("GET", f"{NAMESPACES}/slow"))["status"]["phase"] == "Terminating"
    await api.ok(
        "PATCH",
        f"{configmaps}/held",
        {"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )

    async def namespace_gone() -> bool:
        return (await api.get(f"{NAMESPACES}/slow")).status == 404

    await eventually(namespace_gone, timeout=2, message="the namespace goes once its content is finalized")
