"""The request log (verbs, users) and injected faults."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from tests.sim.conftest import LEASES, Api, lease

from leadergroup.sim import Emulator


async def test_requests_are_logged_with_rbac_verbs_and_users(emulator: Emulator, api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    current = await api.ok("GET", f"{LEASES}/a")
    await api.ok("GET", LEASES)
    await api.ok("PATCH", f"{LEASES}/a", {"spec": {}}, content_type="application/merge-patch+json")
    await api.ok("PUT", f"{LEASES}/a", {**lease("a"), "metadata": current["metadata"]})
    await api.ok("DELETE", f"{LEASES}/a")
    await api.ok("DELETE", LEASES)
    api.token = "elector-2"
    await api.get("/version")
    await api.watch_events(LEASES, {"timeoutSeconds": "0.1"})
    records = emulator.requests
    assert [record.verb for record in records] == [
        "create",
        "get",
        "list",
        "patch",
        "update",
        "delete",
        "deletecollection",
        "get",
        "watch",
    ]
    assert {record.user for record in records[:7]} == {"tester"} and records[7].user == "elector-2"
    first = records[0]
    assert (first.group, first.version, first.resource, first.namespace, first.name, first.status) == (
        "coordination.k8s.io",
        "v1",
        "leases",
        "default",
        None,
        201,
    )
    assert records[1].name == "a" and records[7].resource == "" and records[7].path == "/version"
    assert all(abs(record.time - time.time()) < 60 for record in records)
    emulator.clear_requests()
    assert emulator.requests == []


async def test_anonymous_requests(emulator: Emulator, api: Api) -> None:
    async with api.session.get(emulator.url + "/version") as response:
        assert response.status == 200
    assert emulator.requests[-1].user == "system:anonymous"


async def test_status_subresource_is_recorded(emulator: Emulator, api: Api) -> None:
    await api.get("/api/v1/namespaces/default/status")
    record = emulator.requests[-1]
    assert (record.resource, record.name, record.subresource, record.namespace) == (
        "namespaces",
        "default",
        "status",
        None,
    )


async def test_conflict_fault_hits_the_next_matching_requests_only(emulator: Emulator, api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    emulator.inject_fault(verb="update", resource="leases", status=409, times=2, name="a")
    before = await api.ok("GET", f"{LEASES}/a")
    update = {**lease("a", holder="x"), "metadata": before["metadata"]}
    replies = [await api.put(f"{LEASES}/a", update) for _ in range(3)]
    assert [reply.status for reply in replies] == [409, 409, 200]
    assert replies[0].body["reason"] == "Conflict" and replies[0].body["kind"] == "Status"
    after = await api.ok("GET", f"{LEASES}/a")
    assert int(after["metadata"]["resourceVersion"]) == int(before["metadata"]["resourceVersion"]) + 1
    assert [record.status for record in emulator.requests if record.verb == "update"] == [409, 409, 200]


async def test_throttling_and_server_error_faults(emulator: Emulator, api: Api) -> None:
    emulator.inject_fault(verb="get", resource="leases", status=429, times=1)
    emulator.inject_fault(verb="list", resource="leases", status=500, times=1)
    throttled = await api.get(f"{LEASES}/a")
    assert throttled.status == 429 and throttled.headers["Retry-After"] == "1"
    assert (
        throttled.body["reason"] == "TooManyRequests" and throttled.body["details"]["retryAfterSeconds"] == 1
    )
    failed = await api.get(LEASES)
    assert failed.status == 500 and failed.body["reason"] == "InternalError"
    assert (await api.get(LEASES)).status == 200


async def test_fault_filters_and_create_faults_store_nothing(emulator: Emulator, api: Api) -> None:
    emulator.inject_fault(verb="create", resource="leases", status=500, times=1, namespace="kube-system")
    assert (await api.post(LEASES, lease("a"))).status == 201  # other namespace: untouched
    other = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    assert (await api.post(other, lease("a"))).status == 500
    assert (await api.get(f"{other}/a")).status == 404


async def test_delay_fault_slows_then_serves(emulator: Emulator, api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    emulator.inject_fault(verb="get", resource="leases", status=None, delay=0.3, times=1)
    started = time.monotonic()
    assert (await api.get(f"{LEASES}/a")).status == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await api.get(f"{LEASES}/a")
    assert time.monotonic() - started < 0.3


async def test_delay_after_commits_then_answers_late(emulator: Emulator, api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("a"))
    emulator.inject_fault(verb="update", resource="leases", status=None, delay_after=0.8, times=1)
    update = {**lease("a", holder="me"), "metadata": created["metadata"]}
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with api.session.put(
            api.base_url + f"{LEASES}/a",
            json=update,
            headers={"Authorization": "Bearer tester"},
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass
    # The client gave up, yet the write is in: the ambiguous outcome a retry loop must handle.
    current = await api.ok("GET", f"{LEASES}/a")
    assert current["spec"]["holderIdentity"] == "me"
    assert [record.status for record in emulator.requests if record.verb == "update"] == [200]
    # Let the held-back handler finish before the emulator stops.
    await asyncio.sleep(max(0.0, 0.9 - (time.monotonic() - started)))


async def test_delay_after_holds_the_response_back(emulator: Emulator, api: Api) -> None:
    emulator.inject_fault(verb="create", resource="leases", status=None, delay_after=0.3, times=1)
    started = time.monotonic()
    assert (await api.post(LEASES, lease("a"))).status == 201
    assert time.monotonic() - started >= 0.3


def test_delay_after_with_a_status_is_refused(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="status=None"):
        emulator.inject_fault(verb="update", resource="leases", status=409, delay_after=1.0)


async def test_clear_faults(emulator: Emulator, api: Api) -> None:
    emulator.inject_fault(verb="list", resource="leases", status=500, times=None)
    assert (await api.get(LEASES)).status == 500
    assert (await api.get(LEASES)).status == 500
    emulator.clear_faults()
    assert (await api.get(LEASES)).status == 200
