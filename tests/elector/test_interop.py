"""Interop with Leases as client-go's LeaseLock writes them (hand-written fixtures in its exact wire form)."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from tests.elector.conftest import LEASE, NAMESPACE, Harness

from leadergroup.elector import ManualClock
from leadergroup.elector.record import format_micro_time, parse_micro_time

MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def client_go_lease(**spec: Any) -> dict[str, Any]:
    """A Lease as the blog's Go elector leaves it, as returned by the API server."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": LEASE,
            "namespace": NAMESPACE,
            "uid": "9b1c3a5e-0d2f-4f6a-8e8f-3f1f2b7c9d10",
            "resourceVersion": "4711",
            "creationTimestamp": "2026-07-24T11:00:00Z",
            "managedFields": [
                {
                    "manager": "leader-election",
                    "operation": "Update",
                    "apiVersion": "coordination.k8s.io/v1",
                    "time": "2026-07-24T11:59:58Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:holderIdentity": {}, "f:renewTime": {}}},
                }
            ],
        },
        "spec": spec,
    }


HELD_BY_GO = {
    "holderIdentity": "go-elector-1",
    "leaseDurationSeconds": 60,
    "acquireTime": "2026-07-24T11:00:00.123456Z",
    "renewTime": "2026-07-24T11:59:58.654321Z",
    "leaseTransitions": 4,
}
RELEASED_BY_GO = {
    "holderIdentity": "",
    "leaseDurationSeconds": 1,
    "acquireTime": "2026-07-24T12:00:01.000001Z",
    "renewTime": "2026-07-24T12:00:01.000001Z",
    "leaseTransitions": 4,
}


def assert_client_go_shape(spec: dict[str, Any]) -> None:
    """Every field we write has the type and form client-go writes and decodes."""
    assert set(spec) == {
        "holderIdentity",
        "leaseDurationSeconds",
        "acquireTime",
        "renewTime",
        "leaseTransitions",
    }
    assert isinstance(spec["holderIdentity"], str)
    assert type(spec["leaseDurationSeconds"]) is int
    assert type(spec["leaseTransitions"]) is int
    assert MICRO_TIME.match(spec["acquireTime"]), spec["acquireTime"]
    assert MICRO_TIME.match(spec["renewTime"]), spec["renewTime"]
    json.dumps(spec)


async def test_waits_the_go_holders_sixty_seconds_then_takes_over(
    harness: Harness, clock: ManualClock
) -> None:
    harness.store.put(NAMESPACE, client_go_lease(**HELD_BY_GO))
    elector = await harness.start("py-elector")
    assert elector.leader == "go-elector-1"
    # Our own lease duration is 3 s, but the record says 60: that is what counts.
    await clock.advance(59.5)
    assert not elector.is_leader
    await harness.advance_until(lambda: elector.is_leader, limit=3)
    lease = harness.lease()
    spec = lease["spec"]
    assert_client_go_shape(spec)
    assert spec["holderIdentity"] == "py-elector"
    assert spec["leaseDurationSeconds"] == 3
    assert spec["leaseTransitions"] == 5
    assert spec["acquireTime"] == spec["renewTime"]
    assert clock.now() - parse_micro_time(spec["renewTime"]) <= datetime.timedelta(seconds=0.05)
    for key in ("uid", "creationTimestamp", "managedFields"):
        assert lease["metadata"][key] == client_go_lease()["metadata"][key]


async def test_takes_a_lease_released_by_client_go_at_the_first_poll(
    harness: Harness, clock: ManualClock
) -> None:
    harness.store.put(NAMESPACE, client_go_lease(**RELEASED_BY_GO))
    elector = await harness.start("py-elector")
    assert elector.is_leader
    spec = harness.spec()
    assert_client_go_shape(spec)
    assert spec["leaseTransitions"] == 5


async def test_renewals_and_release_keep_client_go_form(harness: Harness, clock: ManualClock) -> None:
    harness.store.put(NAMESPACE, client_go_lease(**RELEASED_BY_GO))
    await harness.start("py-elector")
    acquired = harness.spec()
    await clock.advance(3.0)
    renewed = harness.spec()
    assert_client_go_shape(renewed)
    assert renewed["acquireTime"] == acquired["acquireTime"]
    assert renewed["renewTime"] == format_micro_time(clock.now())
    await harness.stop("py-elector")
    released = harness.spec()
    assert_client_go_shape(released)
    assert released["holderIdentity"] == ""
    assert released["leaseDurationSeconds"] == 1
    assert released["leaseTransitions"] == acquired["leaseTransitions"]


async def test_a_go_holder_renewing_at_second_precision_is_seen_as_alive(
    harness: Harness, clock: ManualClock
) -> None:
    # Older client-go versions and other tools write MicroTime without the fraction.
    harness.store.put(NAMESPACE, client_go_lease(**{**HELD_BY_GO, "leaseDurationSeconds": 3}))
    elector = await harness.start("py-elector")
    for second in range(10, 30):
        await clock.advance(1)
        lease = harness.lease()
        lease["spec"]["renewTime"] = f"2026-07-24T12:00:{second}Z"
        harness.store.put(NAMESPACE, lease)
    assert not elector.is_leader
    assert elector.leader == "go-elector-1"
