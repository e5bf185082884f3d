from __future__ import annotations

from collections.abc import Callable

from leadergroup.builders import get_disruption_budget, get_owner_reference
from leadergroup.model import LeaderGroup

MakeGroup = Callable[..., LeaderGroup]


class TestDisruptionBudget:
    def test_is_made_by_default(self, make_group: MakeGroup) -> None:
        budget = get_disruption_budget(make_group(name="billing"))
        assert budget is not None
        assert (budget["apiVersion"], budget["kind"]) == ("policy/v1", "PodDisruptionBudget")
        assert budget["metadata"]["name"] == "billing"

    def test_lets_drains_take_one_replica_of_this_group_at_a_time(self, make_group: MakeGroup) -> None:
        budget = get_disruption_budget(make_group(name="billing"))
        assert budget is not None
        assert budget["spec"]["maxUnavailable"] == 1
        assert "minAvailable" not in budget["spec"]
        assert budget["spec"]["selector"] == {"matchLabels": {"leadergroup.dev/group": "billing"}}

    def test_does_not_let_unhealthy_pods_block_drains(self, make_group: MakeGroup) -> None:
        budget = get_disruption_budget(make_group())
        assert budget is not None
        assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"

    def test_is_absent_when_disabled(self, make_group: MakeGroup) -> None:
        assert get_disruption_budget(make_group(placement={"disruptionBudget": False})) is None

    def test_is_owned_by_the_group(self, make_group: MakeGroup) -> None:
        group = make_group(namespace="payments")
        budget = get_disruption_budget(group)
        assert budget is not None
        assert budget["metadata"]["namespace"] == "payments"
        assert budget["metadata"]["ownerReferences"] == [get_owner_reference(group)]
