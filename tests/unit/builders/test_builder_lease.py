from __future__ import annotations

from collections.abc import Callable

from leadergroup.builders import get_lease, get_owner_reference
from leadergroup.model import LeaderGroup

MakeGroup = Callable[..., LeaderGroup]


class TestLease:
    def test_is_named_after_the_lock_name(self, make_group: MakeGroup) -> None:
        lease = get_lease(make_group(name="elector", lockName="test"))
        assert (lease["apiVersion"], lease["kind"]) == ("coordination.k8s.io/v1", "Lease")
        assert lease["metadata"]["name"] == "test"

    def test_falls_back_to_the_group_name(self, make_group: MakeGroup) -> None:
        assert get_lease(make_group(name="billing"))["metadata"]["name"] == "billing"

    def test_starts_free_with_the_group_lease_duration(self, make_group: MakeGroup) -> None:
        group = make_group(
            election={"leaseDurationSeconds": 60, "renewDeadlineSeconds": 15, "retryPeriodSeconds": 5}
        )
        assert get_lease(group)["spec"] == {"holderIdentity": "", "leaseDurationSeconds": 60}

    def test_sets_no_times_or_counters_the_electors_own(self, make_group: MakeGroup) -> None:
        spec = get_lease(make_group())["spec"]
        assert not {"acquireTime", "renewTime", "leaseTransitions"} & set(spec)

    def test_is_owned_by_the_group(self, make_group: MakeGroup) -> None:
        group = make_group(namespace="payments")
        lease = get_lease(group)
        assert lease["metadata"]["namespace"] == "payments"
        assert lease["metadata"]["ownerReferences"] == [get_owner_reference(group)]
