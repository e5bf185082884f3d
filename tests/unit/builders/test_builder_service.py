from __future__ import annotations

from collections.abc import Callable

from leadergroup.builders import get_leader_service, get_owner_reference
from leadergroup.model import LeaderGroup

MakeGroup = Callable[..., LeaderGroup]


class TestLeaderService:
    def test_is_absent_without_leader_service(self, make_group: MakeGroup) -> None:
        assert get_leader_service(make_group()) is None

    def test_selects_only_the_leader_of_this_group(self, make_group: MakeGroup) -> None:
        service = get_leader_service(make_group(name="billing", leaderService={"ports": [{"port": 80}]}))
        assert service is not None
        assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
        assert service["metadata"]["name"] == "billing-leader"
        assert service["spec"]["selector"] == {
            "leadergroup.dev/group": "billing",
            "leadergroup.dev/role": "leader",
        }

    def test_copies_ports_and_leaves_unset_fields_to_the_api_server(self, make_group: MakeGroup) -> None:
        ports = [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "metrics", "port": 9090, "targetPort": 9091, "protocol": "TCP"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ]
        service = get_leader_service(make_group(leaderService={"ports": ports}))
        assert service is not None
        assert service["spec"]["ports"] == [
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            {"name": "metrics", "port": 9090, "targetPort": 9091, "protocol": "TCP"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ]

    def test_an_unnamed_single_port_has_no_name(self, make_group: MakeGroup) -> None:
        service = get_leader_service(make_group(leaderService={"ports": [{"port": 8080}]}))
        assert service is not None
        assert service["spec"]["ports"] == [{"port": 8080, "protocol": "TCP"}]

    def test_type_defaults_to_cluster_ip_and_follows_the_spec(self, make_group: MakeGroup) -> None:
        default = get_leader_service(make_group(leaderService={"ports": [{"port": 80}]}))
        balanced = get_leader_service(
            make_group(leaderService={"type": "LoadBalancer", "ports": [{"port": 80}]})
        )
        assert default is not None and balanced is not None
        assert default["spec"]["type"] == "ClusterIP"
        assert balanced["spec"]["type"] == "LoadBalancer"

    def test_is_owned_by_the_group(self, make_group: MakeGroup) -> None:
        group = make_group(namespace="payments", leaderService={"ports": [{"port": 80}]})
        service = get_leader_service(group)
        assert service is not None
        assert service["metadata"]["namespace"] == "payments"
        assert service["metadata"]["ownerReferences"] == [get_owner_reference(group)]
