"""Request parsing as kube-apiserver's RequestInfoFactory does it, for routing and for RBAC."""

from __future__ import annotations

import pytest

from leadergroup.sim.routing import authorized_name, parse_request

LEASES = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"


@pytest.mark.parametrize(
    ("path", "query", "verb", "name"),
    [
        (LEASES, {"watch": "true", "fieldSelector": "metadata.name=lock"}, "watch", "lock"),
        (LEASES, {"fieldSelector": "metadata.name==lock"}, "list", "lock"),
        (LEASES, {"fieldSelector": "spec.holderIdentity=a,metadata.name=lock"}, "list", "lock"),
        (LEASES, {"fieldSelector": "metadata.name!=lock"}, "list", None),
        (LEASES, {"watch": "true"}, "watch", None),
        (f"{LEASES}/lock", {}, "get", "lock"),
    ],
)
def test_a_list_or_watch_of_one_name_names_it_for_rbac(
    path: str, query: dict[str, str], verb: str, name: str | None
) -> None:
    info = parse_request("GET", path, query)
    assert info.verb == verb
    assert authorized_name(info, query) == name
