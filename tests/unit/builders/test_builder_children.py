from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from leadergroup.builders import get_children, get_labels, get_owner_reference
from leadergroup.model import LeaderGroup

MakeGroup = Callable[..., LeaderGroup]


class TestChildren:
    def test_creation_order_puts_the_lease_before_rights_to_it_and_both_before_pods(
        self, make_group: MakeGroup
    ) -> None:
        children = get_children(make_group(leaderService={"ports": [{"port": 80}]}))
        assert [child["kind"] for child in children] == [
            "ServiceAccount",
            "Lease",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
        ]

    def test_optional_children_follow_the_spec(self, make_group: MakeGroup) -> None:
        children = get_children(make_group(placement={"disruptionBudget": False}))
        assert [child["kind"] for child in children] == [
            "ServiceAccount",
            "Lease",
            "Role",
            "RoleBinding",
            "Deployment",
        ]

    @pytest.mark.parametrize("lock_name", [None, "test"])
    def test_every_child_is_labelled_and_owned_in_the_group_namespace(
        self, make_group: MakeGroup, lock_name: str | None
    ) -> None:
        lock: dict[str, Any] = {"lockName": lock_name} if lock_name else {}
        group = make_group(
            name="billing", namespace="payments", leaderService={"ports": [{"port": 80}]}, **lock
        )
        for child in get_children(group):
            assert child["metadata"]["namespace"] == "payments"
            assert child["metadata"]["labels"] == get_labels(group)
            assert child["metadata"]["ownerReferences"] == [get_owner_reference(group)]

    def test_child_names_do_not_collide_within_a_kind(self, make_group: MakeGroup) -> None:
        children = get_children(make_group(leaderService={"ports": [{"port": 80}]}))
        keys = [(child["kind"], child["metadata"]["name"]) for child in children]
        assert len(keys) == len(set(keys))
