"""Paged lists: ``limit`` and ``continue`` as kube-apiserver answers them (one list, read page by page)."""

from __future__ import annotations

from typing import Any

from tests.sim.conftest import LEASES, Api, lease

from leadergroup.sim import Emulator


async def pages(api: Api, path: str = LEASES, **params: str) -> list[dict[str, Any]]:
    """Every page of one list, following its continue tokens."""
    listed = [await api.ok("GET", path, params={"limit": "2", **params})]
    while listed[-1]["metadata"].get("continue"):
        token = listed[-1]["metadata"]["continue"]
        listed.append(await api.ok("GET", path, params={"limit": "2", **params, "continue": token}))
    return listed


def names(page: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in page["items"]]


async def test_a_list_with_a_limit_comes_in_pages_of_one_snapshot(api: Api) -> None:
    for name in "abcde":
        await api.ok("POST", LEASES, lease(name))
    first = await api.ok("GET", LEASES, params={"limit": "2"})
    assert names(first) == ["a", "b"]
    assert first["metadata"]["remainingItemCount"] == 3
    # Created after the first page: not part of this list, whose later pages keep the first's version.
    await api.ok("POST", LEASES, lease("f"))
    second = await api.ok("GET", LEASES, params={"limit": "2", "continue": first["metadata"]["continue"]})
    third = await api.ok("GET", LEASES, params={"limit": "2", "continue": second["metadata"]["continue"]})
    assert (names(second), names(third)) == (["c", "d"], ["e"])
    assert "continue" not in third["metadata"] and "remainingItemCount" not in third["metadata"]
    versions = {page["metadata"]["resourceVersion"] for page in (first, second, third)}
    assert versions == {first["metadata"]["resourceVersion"]}


async def test_pages_keep_the_selector_and_a_small_list_is_one_page(api: Api) -> None:
    for name in "abcd":
        await api.ok("POST", LEASES, lease(name, labels={"keep": "yes" if name != "b" else "no"}))
    listed = await pages(api, labelSelector="keep=yes")
    assert [names(page) for page in listed] == [["a", "c"], ["d"]]
    small = await api.ok("GET", LEASES, params={"limit": "10"})
    assert names(small) == ["a", "b", "c", "d"] and "continue" not in small["metadata"]


async def test_an_expired_token_is_410_expired_and_a_token_of_another_list_is_400(
    api: Api, emulator: Emulator
) -> None:
    for name in "abc":
        await api.ok("POST", LEASES, lease(name))
    first = await api.ok("GET", LEASES, params={"limit": "1"})
    token = first["metadata"]["continue"]
    other = await api.get(
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", params={"limit": "1", "continue": token}
    )
    assert other.status == 400
    emulator.call(emulator.api.pager.expire_all)  # as compaction past the list's revision would
    expired = await api.get(LEASES, params={"limit": "1", "continue": token})
    assert (expired.status, expired.body["reason"]) == (410, "Expired")
    assert "start a new list" in expired.body["message"]


async def test_tables_come_in_pages_too(api: Api) -> None:
    for name in "abc":
        await api.ok("POST", LEASES, lease(name))
    table = "application/json;as=Table;v=v1;g=meta.k8s.io"
    first = await api.ok("GET", LEASES, params={"limit": "2"}, headers={"Accept": table})
    assert [row["cells"][0] for row in first["rows"]] == ["a", "b"]
    token = first["metadata"]["continue"]
    rest = await api.ok("GET", LEASES, params={"limit": "2", "continue": token}, headers={"Accept": table})
    assert [row["cells"][0] for row in rest["rows"]] == ["c"]
