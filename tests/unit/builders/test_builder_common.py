from __future__ import annotations

from collections.abc import Callable

from leadergroup.builders import get_labels, get_metadata, get_owner_reference, get_selector_labels
from leadergroup.model import LeaderGroup

MakeGroup = Callable[..., LeaderGroup]


class TestLabels:
    def test_every_child_label_names_the_manager_and_the_group(self, make_group: MakeGroup) -> None:
        assert get_labels(make_group(name="billing")) == {
            "app.kubernetes.io/managed-by": "leadergroup-operator",
            "leadergroup.dev/group": "billing",
        }

    def test_selector_is_only_the_group_label(self, make_group: MakeGroup) -> None:
        # A selector is immutable on a Deployment: it must not include anything that could ever change.
        assert get_selector_labels(make_group(name="billing")) == {"leadergroup.dev/group": "billing"}

    def test_returns_a_fresh_dict_each_time(self, make_group: MakeGroup) -> None:
        group = make_group()
        get_labels(group)["tampered"] = "yes"
        assert "tampered" not in get_labels(group)


class TestOwnerReference:
    def test_points_at_the_group_as_controller(self, make_group: MakeGroup) -> None:
        assert get_owner_reference(make_group(name="billing")) == {
            "apiVersion": "leadergroup.dev/v1alpha1",
            "kind": "LeaderGroup",
            "name": "billing",
            "uid": "uid-of-billing",
            "controller": True,
            "blockOwnerDeletion": True,
        }


class TestMetadata:
    def test_puts_the_child_in_the_group_namespace_with_labels_and_owner(self, make_group: MakeGroup) -> None:
        group = make_group(name="billing", namespace="payments")
        metadata = get_metadata(group, "billing-lease")
        assert metadata["name"] == "billing-lease"
        assert metadata["namespace"] == "payments"
        assert metadata["labels"] == get_labels(group)
        assert metadata["ownerReferences"] == [get_owner_reference(group)]
