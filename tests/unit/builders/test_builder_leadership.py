"""Pod role patches: the holder leads, the others follow, and nothing is written before anyone leads."""

from __future__ import annotations

from typing import Any

from leadergroup import constants
from leadergroup.builders.leadership import (
    DELETION_COST_ANNOTATION,
    LEADER_DELETION_COST,
    get_pod_role_patch,
)


def pod(name: str, role: str | None = None, cost: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {}, "annotations": {}}
    if role is not None:
        metadata["labels"][constants.LABEL_ROLE] = role
    if cost is not None:
        metadata["annotations"][DELETION_COST_ANNOTATION] = cost
    return {"metadata": metadata}


class TestPodRolePatch:
    def test_the_holder_leads_with_the_deletion_cost(self) -> None:
        assert get_pod_role_patch(pod("a"), "a") == {
            "metadata": {
                "labels": {constants.LABEL_ROLE: constants.ROLE_LEADER},
                "annotations": {DELETION_COST_ANNOTATION: LEADER_DELETION_COST},
            }
        }

    def test_the_others_follow(self) -> None:
        assert get_pod_role_patch(pod("b"), "a") == {
            "metadata": {"labels": {constants.LABEL_ROLE: constants.ROLE_FOLLOWER}}
        }

    def test_a_pod_already_in_its_role_costs_no_write(self) -> None:
        assert get_pod_role_patch(pod("a", constants.ROLE_LEADER, LEADER_DELETION_COST), "a") is None
        assert get_pod_role_patch(pod("b", constants.ROLE_FOLLOWER), "a") is None

    def test_no_write_for_a_pod_while_nobody_leads(self) -> None:
        # New pods are followers from the template; an unlabelled one waits for the first holder.
        assert get_pod_role_patch(pod("a", constants.ROLE_FOLLOWER), "") is None
        assert get_pod_role_patch(pod("a"), "") is None

    def test_a_former_leader_follows_when_the_lease_is_released(self) -> None:
        assert get_pod_role_patch(pod("a", constants.ROLE_LEADER, LEADER_DELETION_COST), "") == {
            "metadata": {
                "labels": {constants.LABEL_ROLE: constants.ROLE_FOLLOWER},
                "annotations": {DELETION_COST_ANNOTATION: None},
            }
        }

    def test_a_user_deletion_cost_on_a_follower_is_left_alone(self) -> None:
        assert get_pod_role_patch(pod("b", constants.ROLE_FOLLOWER, "5"), "a") is None
