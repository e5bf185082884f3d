from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from leadergroup.model import (
    LEASE_LONGER_THAN_RENEW_MESSAGE,
    RENEW_LONGER_THAN_RETRIES_MESSAGE,
    ElectionSpec,
    LeaderGroup,
    LeaderGroupSpec,
    LeaderGroupStatus,
    SpecError,
)

CONTAINER = {"name": "elector", "image": "leader-election-example:latest"}


def body(name: str = "elector", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "leadergroup.dev/v1alpha1",
        "kind": "LeaderGroup",
        "metadata": {"name": name, "namespace": "default", "uid": "1234", "generation": 7},
        "spec": {"template": {"spec": {"containers": [dict(CONTAINER)]}}, **copy.deepcopy(spec)},
    }


def with_pod_spec(**pod_spec: Any) -> dict[str, Any]:
    return {"spec": {"containers": [dict(CONTAINER)], **pod_spec}}


def spec_error(raw: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        LeaderGroup.from_body(raw)
    return caught.value.message


class TestFromBody:
    def test_reads_identity_from_metadata(self) -> None:
        group = LeaderGroup.from_body(body("billing"))
        assert (group.name, group.namespace, group.uid, group.generation) == ("billing", "default", "1234", 7)

    def test_fills_every_default(self) -> None:
        spec = LeaderGroup.from_body(body()).spec
        assert spec.lock_name is None
        assert spec.replicas == 3
        assert (
            spec.election.lease_duration_seconds,
            spec.election.renew_deadline_seconds,
            spec.election.retry_period_seconds,
        ) == (15, 10, 2)
        assert spec.leader_service is None
        assert spec.failover.release_on_holder_deletion is True
        assert (spec.placement.spread_across_nodes, spec.placement.disruption_budget) == (True, True)
        assert (spec.flapping.max_transitions, spec.flapping.window_seconds) == (5, 600)

    def test_reads_camel_case_fields(self) -> None:
        spec = LeaderGroup.from_body(
            body(
                lockName="test",
                replicas=5,
                election={"leaseDurationSeconds": 60, "renewDeadlineSeconds": 15, "retryPeriodSeconds": 5},
                failover={"releaseOnHolderDeletion": False},
                placement={"spreadAcrossNodes": False, "disruptionBudget": False},
                flapping={"maxTransitions": 2, "windowSeconds": 60},
                leaderService={"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]},
            )
        ).spec
        assert (spec.lock_name, spec.replicas) == ("test", 5)
        assert spec.election == ElectionSpec(
            lease_duration_seconds=60, renew_deadline_seconds=15, retry_period_seconds=5
        )
        assert spec.failover.release_on_holder_deletion is False
        assert spec.placement.spread_across_nodes is False and spec.placement.disruption_budget is False
        assert (spec.flapping.max_transitions, spec.flapping.window_seconds) == (2, 60)
        assert spec.leader_service is not None and spec.leader_service.type == "NodePort"
        assert spec.leader_service.ports[0].target_port == "http"
        assert spec.leader_service.ports[0].protocol == "TCP"

    def test_ignores_fields_it_does_not_know(self) -> None:
        # A newer CRD may add fields; an older operator must keep working rather than stall.
        assert LeaderGroup.from_body(body(futureField=True)).spec.replicas == 3

    @pytest.mark.parametrize("missing", ["name", "namespace", "uid"])
    def test_requires_identity(self, missing: str) -> None:
        raw = body()
        del raw["metadata"][missing]
        assert spec_error(raw) == f"metadata.{missing}: Field required"

    def test_requires_a_spec(self) -> None:
        raw = body()
        del raw["spec"]
        assert spec_error(raw).startswith("spec: Field required")

    def test_the_group_is_immutable(self) -> None:
        spec: Any = LeaderGroup.from_body(body()).spec
        with pytest.raises(ValueError, match="frozen"):
            spec.replicas = 4


class TestLockName:
    def test_defaults_to_the_group_name(self) -> None:
        assert LeaderGroup.from_body(body("billing")).lock_name == "billing"

    def test_uses_the_spec_when_set(self) -> None:
        assert LeaderGroup.from_body(body("elector", lockName="test")).lock_name == "test"

    @pytest.mark.parametrize(
        ("lock_name", "problem"),
        [
            ("Test", "String should match pattern"),
            ("a" * 254, "String should have at most 253 characters"),
            ("-lead", "String should match pattern"),
            (42, "Input should be a valid string"),
        ],
    )
    def test_rejects_names_a_lease_cannot_have(self, lock_name: Any, problem: str) -> None:
        assert spec_error(body(lockName=lock_name)).startswith(f"spec.lockName: {problem}")

    def test_accepts_a_dotted_subdomain(self) -> None:
        assert LeaderGroup.from_body(body(lockName="a.b-c.d")).lock_name == "a.b-c.d"


class TestReplicas:
    @pytest.mark.parametrize("replicas", [0, -1, 101])
    def test_rejects_out_of_range(self, replicas: int) -> None:
        assert spec_error(body(replicas=replicas)).startswith("spec.replicas: Input should be")

    @pytest.mark.parametrize("replicas", ["3", 3.0, True])
    def test_does_not_coerce_other_types(self, replicas: Any) -> None:
        # The API server would refuse these; an operator that guessed would hide a broken object.
        assert spec_error(body(replicas=replicas)).startswith(
            "spec.replicas: Input should be a valid integer"
        )


class TestElectionTimings:
    @pytest.mark.parametrize(
        ("lease", "renew", "retry"),
        [(15, 10, 2), (60, 15, 5), (3, 2, 1), (13, 12, 9)],
    )
    def test_accepts_what_client_go_accepts(self, lease: int, renew: int, retry: int) -> None:
        election = {"leaseDurationSeconds": lease, "renewDeadlineSeconds": renew, "retryPeriodSeconds": retry}
        assert LeaderGroup.from_body(body(election=election)).spec.election.retry_period_seconds == retry

    @pytest.mark.parametrize(("lease", "renew"), [(10, 10), (5, 10)])
    def test_lease_must_outlast_the_renew_deadline(self, lease: int, renew: int) -> None:
        message = spec_error(body(election={"leaseDurationSeconds": lease, "renewDeadlineSeconds": renew}))
        assert message.startswith(f"spec.election: {LEASE_LONGER_THAN_RENEW_MESSAGE}")
        assert f"leaseDurationSeconds={lease}" in message

    @pytest.mark.parametrize(("renew", "retry"), [(12, 10), (10, 9), (2, 2)])
    def test_renew_deadline_must_exceed_1_2_retry_periods(self, renew: int, retry: int) -> None:
        election = {"leaseDurationSeconds": 100, "renewDeadlineSeconds": renew, "retryPeriodSeconds": retry}
        message = spec_error(body(election=election))
        assert message.startswith(f"spec.election: {RENEW_LONGER_THAN_RETRIES_MESSAGE}")

    def test_defaults_satisfy_the_rules(self) -> None:
        assert ElectionSpec().lease_duration_seconds == 15

    def test_zero_is_reported_at_the_field(self) -> None:
        message = spec_error(body(election={"retryPeriodSeconds": 0}))
        assert message == "spec.election.retryPeriodSeconds: Input should be greater than or equal to 1"


class TestTemplate:
    def test_is_required(self) -> None:
        raw = body()
        del raw["spec"]["template"]
        assert spec_error(raw) == "spec.template: Field required"

    def test_needs_a_pod_spec(self) -> None:
        assert spec_error(body(template={"metadata": {}})).startswith("spec.template.spec: Field required")

    @pytest.mark.parametrize("containers", [[], None, "nginx"])
    def test_needs_containers(self, containers: Any) -> None:
        message = spec_error(body(template={"spec": {"containers": containers}}))
        assert message == "spec.template.spec.containers: at least one container is required"

    def test_needs_an_image(self) -> None:
        message = spec_error(body(template={"spec": {"containers": [{"name": "a"}]}}))
        assert message.startswith("spec.template.spec.containers[0].image: Field required")

    def test_needs_valid_container_names(self) -> None:
        message = spec_error(body(template={"spec": {"containers": [{"name": "Web_1", "image": "i"}]}}))
        assert message.startswith("spec.template.spec.containers[0].name: must be a DNS-1123 label")

    def test_container_names_must_be_unique_across_init_containers(self) -> None:
        template = with_pod_spec(initContainers=[{"name": "elector", "image": "busybox"}])
        message = spec_error(body(template=template))
        assert message.startswith("spec.template.spec.initContainers[0].name: 'elector' is already the name")
        assert "spec.template.spec.containers[0]" in message

    def test_rejects_a_disabled_token(self) -> None:
        message = spec_error(body(template=with_pod_spec(automountServiceAccountToken=False)))
        assert message.startswith("spec.template.spec.automountServiceAccountToken: must not be false")

    def test_allows_an_enabled_token(self) -> None:
        LeaderGroup.from_body(body(template=with_pod_spec(automountServiceAccountToken=True)))

    def test_rejects_a_restart_policy_a_deployment_refuses(self) -> None:
        message = spec_error(body(template=with_pod_spec(restartPolicy="OnFailure")))
        assert message.startswith("spec.template.spec.restartPolicy: must be Always")

    def test_rejects_the_role_label(self) -> None:
        template = {"metadata": {"labels": {"leadergroup.dev/role": "leader"}}, **with_pod_spec()}
        message = spec_error(body(template=template))
        assert message.startswith("spec.template.metadata.labels: leadergroup.dev/role must not be set")

    def test_keeps_the_template_as_written(self) -> None:
        template = {"metadata": {"annotations": {"a": "b"}}, **with_pod_spec(hostNetwork=False)}
        assert LeaderGroup.from_body(body(template=template)).spec.template == template


class TestRulesThatNeedTheName:
    def test_group_label_must_equal_the_name(self) -> None:
        template = {"metadata": {"labels": {"leadergroup.dev/group": "other"}}, **with_pod_spec()}
        message = spec_error(body("elector", template=template))
        assert message.startswith(
            "spec.template.metadata.labels: leadergroup.dev/group must be unset or equal"
        )
        assert "'other'" in message

    def test_group_label_equal_to_the_name_is_fine(self) -> None:
        template = {"metadata": {"labels": {"leadergroup.dev/group": "elector"}}, **with_pod_spec()}
        LeaderGroup.from_body(body("elector", template=template))

    @pytest.mark.parametrize("field", ["serviceAccountName", "serviceAccount"])
    def test_a_foreign_service_account_is_refused(self, field: str) -> None:
        message = spec_error(body("elector", template=with_pod_spec(**{field: "default"})))
        assert message.startswith(f"spec.template.spec.{field}: must be unset or 'elector', not 'default'")

    def test_the_group_service_account_is_fine(self) -> None:
        LeaderGroup.from_body(body("elector", template=with_pod_spec(serviceAccountName="elector")))

    def test_name_must_fit_a_label_value(self) -> None:
        assert spec_error(body("a" * 64)).startswith("metadata.name: must be at most 63 characters")

    def test_leader_service_needs_a_shorter_name(self) -> None:
        message = spec_error(body("a" * 57, leaderService={"ports": [{"port": 80}]}))
        assert message.startswith("metadata.name: must be at most 56 characters with leaderService")
        LeaderGroup.from_body(body("a" * 56, leaderService={"ports": [{"port": 80}]}))

    def test_leader_service_needs_a_name_starting_with_a_letter(self) -> None:
        message = spec_error(body("1elector", leaderService={"ports": [{"port": 80}]}))
        assert message.startswith("metadata.name: must start with a letter with leaderService")
        LeaderGroup.from_body(body("1elector"))


class TestLeaderService:
    def test_needs_ports(self) -> None:
        message = spec_error(body(leaderService={"ports": []}))
        assert message.startswith("spec.leaderService.ports: List should have at least 1 item")

    def test_several_ports_need_names(self) -> None:
        message = spec_error(body(leaderService={"ports": [{"name": "a", "port": 80}, {"port": 81}]}))
        assert (
            message
            == "spec.leaderService.ports[1].name: Field required when the Service has more than one port"
        )

    def test_port_names_must_be_unique(self) -> None:
        ports = [{"name": "a", "port": 80}, {"name": "a", "port": 81}]
        message = spec_error(body(leaderService={"ports": ports}))
        assert message.startswith("spec.leaderService.ports[1].name: 'a' is the name of another port")

    def test_port_and_protocol_must_be_unique(self) -> None:
        ports = [{"name": "a", "port": 80}, {"name": "b", "port": 80, "protocol": "TCP"}]
        assert spec_error(body(leaderService={"ports": ports})).startswith(
            "spec.leaderService.ports[1]: 80/TCP"
        )

    def test_the_same_port_over_udp_is_another_port(self) -> None:
        ports = [{"name": "a", "port": 53}, {"name": "b", "port": 53, "protocol": "UDP"}]
        LeaderGroup.from_body(body(leaderService={"ports": ports}))

    @pytest.mark.parametrize(
        ("port", "problem"),
        [
            (
                {"port": 70000},
                "spec.leaderService.ports[0].port: Input should be less than or equal to 65535",
            ),
            ({"port": 80, "protocol": "HTTP"}, "spec.leaderService.ports[0].protocol: Input should be 'TCP'"),
            ({"port": 80, "targetPort": 0}, "spec.leaderService.ports[0].targetPort: must be a port number"),
            (
                {"port": 80, "targetPort": 1.5},
                "spec.leaderService.ports[0].targetPort: Input should be a valid",
            ),
            ({"name": "x"}, "spec.leaderService.ports[0].port: Field required"),
        ],
    )
    def test_ports_are_checked(self, port: dict[str, Any], problem: str) -> None:
        assert spec_error(body(leaderService={"ports": [port]})).startswith(problem)

    def test_int_or_string_union_is_reported_once(self) -> None:
        message = spec_error(body(leaderService={"ports": [{"port": 80, "targetPort": 1.5}]}))
        assert message == "spec.leaderService.ports[0].targetPort: Input should be a valid integer or string"

    def test_rejects_an_unknown_type(self) -> None:
        message = spec_error(body(leaderService={"type": "ExternalName", "ports": [{"port": 80}]}))
        assert message.startswith("spec.leaderService.type: Input should be")


class TestSpecErrorMessage:
    def test_lists_every_problem_with_its_path(self) -> None:
        message = spec_error(body(replicas=0, flapping={"windowSeconds": 0}))
        assert message.split("; ") == [
            "spec.replicas: Input should be greater than or equal to 1",
            "spec.flapping.windowSeconds: Input should be greater than or equal to 1",
        ]

    def test_speaks_of_objects_and_lists_not_python_types(self) -> None:
        message = spec_error(body(election="fast", leaderService={"ports": "80"}))
        assert (
            message
            == "spec.election: Input should be an object; spec.leaderService.ports: Input should be a list"
        )

    def test_is_the_exception_text(self) -> None:
        with pytest.raises(SpecError) as caught:
            LeaderGroup.from_body(body(replicas=0))
        assert str(caught.value) == caught.value.message


class TestModelsByName:
    def test_spec_can_be_built_with_python_names(self) -> None:
        spec = LeaderGroupSpec(lock_name="test", template=with_pod_spec())
        assert spec.model_dump(by_alias=True, exclude_none=True)["lockName"] == "test"


class TestStatus:
    def test_reads_what_the_operator_writes(self) -> None:
        status = LeaderGroupStatus.model_validate(
            {
                "holder": "elector-5644c5f84f-frs5n",
                "leaseTransitions": 3,
                "lastTransitionTime": "2026-07-24T12:00:00Z",
                "recentTransitions": [{"holder": "", "time": "2026-07-24T11:59:00.000000Z"}],
                "readyReplicas": 3,
                "ready": "3/3",
                "observedGeneration": 4,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "LeaderElected",
                        "message": "",
                        "lastTransitionTime": "2026-07-24T12:00:00Z",
                        "observedGeneration": 4,
                    }
                ],
            }
        )
        assert status.last_transition_time == datetime(2026, 7, 24, 12, tzinfo=UTC)
        assert status.recent_transitions is not None and status.recent_transitions[0].holder == ""
        assert status.conditions is not None and status.conditions[0].status == "True"

    def test_keeps_at_most_ten_transitions(self) -> None:
        transitions = [{"holder": f"p{i}", "time": "2026-07-24T12:00:00Z"} for i in range(11)]
        with pytest.raises(ValueError, match="at most 10"):
            LeaderGroupStatus.model_validate({"recentTransitions": transitions})

    def test_condition_status_is_tri_state(self) -> None:
        condition = {
            "type": "Ready",
            "status": "Yes",
            "reason": "R",
            "message": "",
            "lastTransitionTime": "x",
        }
        with pytest.raises(ValueError, match="status"):
            LeaderGroupStatus.model_validate({"conditions": [condition]})


class TestNullsMeanAbsent:
    def test_null_metadata_labels_and_init_containers_are_accepted(self) -> None:
        template = {"metadata": {"labels": None}, "spec": {"containers": [CONTAINER], "initContainers": None}}
        LeaderGroup.from_body(body(template=template))
        LeaderGroup.from_body(body(template={"metadata": None, **with_pod_spec()}))
