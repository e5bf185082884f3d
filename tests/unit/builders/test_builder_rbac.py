from __future__ import annotations

from collections.abc import Callable

from leadergroup.builders import (
    get_labels,
    get_owner_reference,
    get_role,
    get_role_binding,
    get_service_account,
)
from leadergroup.model import LeaderGroup

MakeGroup = Callable[..., LeaderGroup]


class TestServiceAccount:
    def test_is_named_after_the_group_and_owned_by_it(self, make_group: MakeGroup) -> None:
        group = make_group(name="billing", namespace="payments")
        account = get_service_account(group)
        assert (account["apiVersion"], account["kind"]) == ("v1", "ServiceAccount")
        assert account["metadata"]["name"] == "billing"
        assert account["metadata"]["namespace"] == "payments"
        assert account["metadata"]["ownerReferences"] == [get_owner_reference(group)]
        assert set(account) == {"apiVersion", "kind", "metadata"}


class TestRole:
    def test_grants_exactly_get_update_patch_on_the_one_lease(self, make_group: MakeGroup) -> None:
        role = get_role(make_group(name="billing", lockName="billing-lock"))
        assert role["metadata"]["name"] == "billing-lease"
        assert role["rules"] == [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": ["billing-lock"],
                "verbs": ["get", "update", "patch", "list", "watch"],
            }
        ]

    def test_names_the_group_lease_when_lock_name_is_unset(self, make_group: MakeGroup) -> None:
        role = get_role(make_group(name="billing"))
        assert role["rules"][0]["resourceNames"] == ["billing"]

    def test_never_grants_create_delete_or_wildcards(self, make_group: MakeGroup) -> None:
        # The blog's Role allowed "*" on every Lease; one compromised pod could then steal any lock.
        # list/watch are granted on the one name only (a single-object watch), like every verb here.
        (rule,) = get_role(make_group())["rules"]
        assert not {"*", "create", "delete", "deletecollection"} & set(rule["verbs"])
        assert rule["resourceNames"] == [make_group().lock_name]
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"]

    def test_carries_the_group_labels(self, make_group: MakeGroup) -> None:
        group = make_group()
        assert get_role(group)["metadata"]["labels"] == get_labels(group)


class TestRoleBinding:
    def test_binds_the_lease_role_to_the_group_service_account(self, make_group: MakeGroup) -> None:
        binding = get_role_binding(make_group(name="billing", namespace="payments"))
        assert binding["metadata"]["name"] == "billing-lease"
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "billing-lease",
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "billing", "namespace": "payments"}]

    def test_role_ref_matches_the_built_role(self, make_group: MakeGroup) -> None:
        group = make_group(name="billing")
        assert get_role_binding(group)["roleRef"]["name"] == get_role(group)["metadata"]["name"]
        assert (
            get_role_binding(group)["subjects"][0]["name"] == get_service_account(group)["metadata"]["name"]
        )
