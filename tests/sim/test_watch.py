"""Watch: initial state, resuming without duplicates, 410 after compaction, bookmarks, selectors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tests.sim.conftest import LEASES, Api, lease, watches_started

from leadergroup.sim import Emulator

ALL_LEASES = "/apis/coordination.k8s.io/v1/leases"


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(event["type"], event["object"]["metadata"].get("name", "")) for event in events]


@pytest.mark.parametrize("flag", ["true", "1", "True"])
async def test_watch_without_version_lists_then_streams(emulator: Emulator, api: Api, flag: str) -> None:
    await api.ok("POST", LEASES, lease("old"))
    watching = asyncio.create_task(api.watch_events(LEASES, {"watch": flag, "timeoutSeconds": "5"}, count=3))
    await watches_started(emulator)
    await api.ok("POST", LEASES, lease("new"))
    await api.ok("DELETE", f"{LEASES}/old")
    events = await watching
    assert summary(events) == [("ADDED", "old"), ("ADDED", "new"), ("DELETED", "old")]
    assert events[0]["object"]["kind"] == "Lease"


async def test_watch_resumes_after_a_version_without_duplicates(api: Api) -> None:
    first = await api.ok("POST", LEASES, lease("a"))
    await api.ok(
        "PATCH", f"{LEASES}/a", {"spec": {"holderIdentity": "x"}}, content_type="application/merge-patch+json"
    )
    await api.ok("POST", LEASES, lease("b"))
    events = await api.watch_events(
        LEASES, {"resourceVersion": first["metadata"]["resourceVersion"], "timeoutSeconds": "1"}
    )
    assert summary(events) == [("MODIFIED", "a"), ("ADDED", "b")]
    versions = [int(event["object"]["metadata"]["resourceVersion"]) for event in events]
    assert versions == sorted(versions) and versions[0] > int(first["metadata"]["resourceVersion"])


async def test_deleted_event_carries_a_new_resource_version(api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("a"))
    await api.ok("DELETE", f"{LEASES}/a")
    events = await api.watch_events(
        LEASES, {"resourceVersion": created["metadata"]["resourceVersion"], "timeoutSeconds": "0.5"}
    )
    assert summary(events) == [("DELETED", "a")]
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )


async def test_compacted_history_answers_410_gone(emulator: Emulator, api: Api) -> None:
    created = await api.ok("POST", LEASES, lease("a"))
    await api.ok("POST", LEASES, lease("b"))
    emulator.compact()
    events = await api.watch_events(LEASES, {"resourceVersion": created["metadata"]["resourceVersion"]})
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["code"] == 410 and status["reason"] == "Expired" and status["kind"] == "Status"
    assert status["message"].startswith(
        f"too old resource version: {created['metadata']['resourceVersion']} ("
    )


async def test_resuming_from_the_compaction_point_is_allowed(emulator: Emulator, api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    emulator.compact()
    listed = await api.ok("GET", LEASES)
    await api.ok("POST", LEASES, lease("b"))
    events = await api.watch_events(
        LEASES, {"resourceVersion": listed["metadata"]["resourceVersion"], "timeoutSeconds": "0.5"}
    )
    assert summary(events) == [("ADDED", "b")]


async def test_history_is_bounded() -> None:
    with Emulator(history_limit=3) as emulator:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            api = Api(session, emulator.url)
            created = await api.ok("POST", LEASES, lease("a"))
            for holder in "bcde":
                await api.ok(
                    "PATCH",
                    f"{LEASES}/a",
                    {"spec": {"holderIdentity": holder}},
                    content_type="application/merge-patch+json",
                )
            events = await api.watch_events(
                LEASES, {"resourceVersion": created["metadata"]["resourceVersion"]}
            )
            assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


async def test_timeout_seconds_ends_the_stream_cleanly(api: Api) -> None:
    started = time.monotonic()
    events = await api.watch_events(LEASES, {"timeoutSeconds": "0.3"}, timeout=5)
    elapsed = time.monotonic() - started
    assert events == [] and 0.25 <= elapsed < 3


async def test_bookmarks_carry_only_the_resource_version(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    listed = await api.ok("GET", LEASES)
    events = await api.watch_events(
        LEASES,
        {
            "resourceVersion": listed["metadata"]["resourceVersion"],
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "5",
        },
        count=1,
    )
    assert events == [
        {
            "type": "BOOKMARK",
            "object": {
                "kind": "Lease",
                "apiVersion": "coordination.k8s.io/v1",
                "metadata": {"resourceVersion": listed["metadata"]["resourceVersion"]},
            },
        }
    ]


async def test_no_bookmarks_unless_asked(api: Api) -> None:
    events = await api.watch_events(LEASES, {"timeoutSeconds": "0.6"})  # three bookmark intervals
    assert events == []


async def test_initial_events_end_bookmark(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    events = await api.watch_events(
        LEASES,
        {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"},
        count=2,
    )
    assert summary(events)[0] == ("ADDED", "a")
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_label_selector_transitions_become_added_and_deleted(emulator: Emulator, api: Api) -> None:
    await api.ok("POST", LEASES, lease("a", labels={"role": "leader"}))
    await api.ok("POST", LEASES, lease("b"))
    watching = asyncio.create_task(
        api.watch_events(LEASES, {"labelSelector": "role=leader", "timeoutSeconds": "5"}, count=3)
    )
    await watches_started(emulator)
    await api.ok(
        "PATCH",
        f"{LEASES}/a",
        {"metadata": {"labels": {"role": None}}},
        content_type="application/merge-patch+json",
    )
    await api.ok(
        "PATCH",
        f"{LEASES}/b",
        {"metadata": {"labels": {"role": "leader"}}},
        content_type="application/merge-patch+json",
    )
    assert summary(await watching) == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "b")]


async def test_watch_is_scoped_to_its_namespace_and_cluster_wide_sees_all(
    emulator: Emulator, api: Api
) -> None:
    other = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    namespaced = asyncio.create_task(api.watch_events(LEASES, {"timeoutSeconds": "1"}))
    everywhere = asyncio.create_task(api.watch_events(ALL_LEASES, {"timeoutSeconds": "1"}))
    await watches_started(emulator, 2)
    await api.ok("POST", other, lease("elsewhere"))
    await api.ok("POST", LEASES, lease("here"))
    assert summary(await namespaced) == [("ADDED", "here")]
    assert summary(await everywhere) == [("ADDED", "elsewhere"), ("ADDED", "here")]


async def test_watch_of_one_named_object(api: Api) -> None:
    await api.ok("POST", LEASES, lease("a"))
    await api.ok("POST", LEASES, lease("b"))
    events = await api.watch_events(f"{LEASES}/b", {"timeoutSeconds": "0.3"})
    assert summary(events) == [("ADDED", "b")]


async def test_bad_resource_version_is_bad_request(api: Api) -> None:
    reply = await api.get(LEASES, params={"watch": "true", "resourceVersion": "abc"})
    assert reply.status == 400


async def test_stopping_the_emulator_ends_open_watches() -> None:
    import aiohttp

    emulator = Emulator().start()
    async with aiohttp.ClientSession() as session:
        api = Api(session, emulator.url)
        watching = asyncio.create_task(api.watch_events(LEASES, {}, timeout=10))
        await watches_started(emulator)
        started = time.monotonic()
        await asyncio.to_thread(emulator.stop)
        assert await asyncio.wait_for(watching, 5) == []
        assert time.monotonic() - started < 5


async def test_watch_from_a_future_resource_version_waits_for_it(emulator: Emulator, api: Api) -> None:
    # Measured on v1.37: no error, the watch waits (until its timeout) and then sees what follows.
    created = await api.ok("POST", LEASES, lease("a"))
    current = int(created["metadata"]["resourceVersion"])
    assert (
        await api.watch_events(LEASES, {"resourceVersion": str(current + 100), "timeoutSeconds": "1"}) == []
    )
    watching = asyncio.create_task(
        api.watch_events(LEASES, {"resourceVersion": str(current + 1), "timeoutSeconds": "5"}, count=1)
    )
    await watches_started(emulator)
    await api.ok("POST", LEASES, lease("b"))  # current + 1
    await api.ok("POST", LEASES, lease("c"))  # current + 2: the first event after the one asked for
    events = await asyncio.wait_for(watching, 10)
    assert [(event["type"], event["object"]["metadata"]["name"]) for event in events] == [("ADDED", "c")]


async def test_watch_from_a_resource_version_reached_while_waiting_proceeds(
    emulator: Emulator, api: Api
) -> None:
    created = await api.ok("POST", LEASES, lease("a"))
    future = str(int(created["metadata"]["resourceVersion"]) + 1)
    watch = asyncio.create_task(api.watch_events(LEASES, {"resourceVersion": future}, count=1))
    await watches_started(emulator)
    await api.ok("POST", LEASES, lease("b"))  # reaches `future`: not delivered, it is not after it
    await api.ok("POST", LEASES, lease("c"))
    assert summary(await watch) == [("ADDED", "c")]


async def test_leaving_the_selector_sends_the_previous_object(emulator: Emulator, api: Api) -> None:
    # kube's cacher: DELETED with the object as it last matched, at the event's resourceVersion.
    await api.ok("POST", LEASES, lease("a", labels={"role": "leader"}))
    watching = asyncio.create_task(
        api.watch_events(LEASES, {"labelSelector": "role=leader", "timeoutSeconds": "5"}, count=2)
    )
    await watches_started(emulator)
    patched = await api.ok(
        "PATCH",
        f"{LEASES}/a",
        {"metadata": {"labels": {"role": None}}},
        content_type="application/merge-patch+json",
    )
    added, deleted = await watching
    assert deleted["type"] == "DELETED"
    assert deleted["object"]["metadata"]["labels"] == {"role": "leader"}
    assert deleted["object"]["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
    assert added["type"] == "ADDED"
