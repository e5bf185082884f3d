from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from leadergroup.builders import get_deployment, get_election_env, get_owner_reference
from leadergroup.model import LeaderGroup

MakeGroup = Callable[..., LeaderGroup]

ELECTION_ENV_NAMES = [
    "POD_NAME",
    "POD_NAMESPACE",
    "LEASE_NAME",
    "LEASE_NAMESPACE",
    "LEASE_DURATION_SECONDS",
    "RENEW_DEADLINE_SECONDS",
    "RETRY_PERIOD_SECONDS",
]


def template(*containers: dict[str, Any], **pod_spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": list(containers), **pod_spec}}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {variable["name"]: variable for variable in container["env"]}


class TestDeploymentShape:
    def test_is_named_after_the_group_with_its_replicas(self, make_group: MakeGroup) -> None:
        group = make_group(name="billing", namespace="payments", replicas=5)
        deployment = get_deployment(group)
        assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
        assert deployment["metadata"]["name"] == "billing"
        assert deployment["metadata"]["namespace"] == "payments"
        assert deployment["metadata"]["ownerReferences"] == [get_owner_reference(group)]
        assert deployment["spec"]["replicas"] == 5

    def test_selects_pods_by_the_group_label_only(self, make_group: MakeGroup) -> None:
        deployment = get_deployment(make_group(name="billing"))
        assert deployment["spec"]["selector"] == {"matchLabels": {"leadergroup.dev/group": "billing"}}

    def test_leaves_server_defaulted_fields_unset(self, make_group: MakeGroup) -> None:
        spec = get_deployment(make_group())["spec"]
        assert set(spec) == {"replicas", "selector", "template"}

    def test_is_deterministic(self, make_group: MakeGroup) -> None:
        group = make_group(leaderService={"ports": [{"port": 80}]})
        assert get_deployment(group) == get_deployment(group)


class TestPodTemplate:
    def test_merges_group_labels_into_the_user_labels(self, make_group: MakeGroup) -> None:
        labels = get_deployment(make_group(name="billing"))["spec"]["template"]["metadata"]["labels"]
        assert labels == {
            "app": "elector",
            "app.kubernetes.io/managed-by": "leadergroup-operator",
            "leadergroup.dev/group": "billing",
            # Every new pod starts as a follower: only the holder's pod is relabelled when it leads.
            "leadergroup.dev/role": "follower",
        }

    def test_pod_labels_match_the_selector(self, make_group: MakeGroup) -> None:
        deployment = get_deployment(
            make_group(template={"spec": {"containers": [{"name": "a", "image": "i"}]}})
        )
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()

    def test_runs_as_the_group_service_account(self, make_group: MakeGroup) -> None:
        pod_spec = get_deployment(make_group(name="billing"))["spec"]["template"]["spec"]
        assert pod_spec["serviceAccountName"] == "billing"

    def test_passes_the_rest_of_the_pod_spec_through(self, make_group: MakeGroup) -> None:
        user_template = template(
            {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}], "resources": {"limits": {}}},
            nodeSelector={"disk": "ssd"},
            terminationGracePeriodSeconds=5,
            tolerations=[{"key": "k", "operator": "Exists"}],
        )
        user_template["metadata"]["annotations"] = {"team": "payments"}
        deployment = get_deployment(make_group(template=user_template))
        pod = deployment["spec"]["template"]
        assert pod["metadata"]["annotations"] == {"team": "payments"}
        assert pod["spec"]["nodeSelector"] == {"disk": "ssd"}
        assert pod["spec"]["terminationGracePeriodSeconds"] == 5
        assert pod["spec"]["tolerations"] == [{"key": "k", "operator": "Exists"}]
        assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]
        assert pod["spec"]["containers"][0]["resources"] == {"limits": {}}

    def test_null_sections_are_left_out(self, make_group: MakeGroup) -> None:
        user_template = {
            "metadata": None,
            "spec": {"containers": [{"name": "a", "image": "i"}], "initContainers": None},
        }
        pod = get_deployment(make_group(template=user_template))["spec"]["template"]
        assert "initContainers" not in pod["spec"]
        assert pod["metadata"]["labels"]["leadergroup.dev/group"] == "elector"

    def test_does_not_modify_the_group_template(self, make_group: MakeGroup) -> None:
        group = make_group()
        before = copy.deepcopy(group.spec.template)
        deployment = get_deployment(group)
        deployment["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "X", "value": "1"})
        assert group.spec.template == before


class TestElectionEnv:
    def test_every_container_gets_the_election_env_first(self, make_group: MakeGroup) -> None:
        user_template = template(
            {"name": "app", "image": "app", "env": [{"name": "MODE", "value": "fast"}]},
            {"name": "sidecar", "image": "sidecar"},
            initContainers=[{"name": "init", "image": "init"}],
        )
        pod_spec = get_deployment(make_group(template=user_template))["spec"]["template"]["spec"]
        for container in pod_spec["containers"] + pod_spec["initContainers"]:
            names = [variable["name"] for variable in container["env"]]
            assert names[: len(ELECTION_ENV_NAMES)] == ELECTION_ENV_NAMES
        assert [v["name"] for v in pod_spec["containers"][0]["env"]] == [*ELECTION_ENV_NAMES, "MODE"]

    def test_values_come_from_the_downward_api_and_the_spec(self, make_group: MakeGroup) -> None:
        group = make_group(
            namespace="payments",
            lockName="test",
            election={"leaseDurationSeconds": 60, "renewDeadlineSeconds": 15, "retryPeriodSeconds": 5},
        )
        env = env_of(get_deployment(group)["spec"]["template"]["spec"]["containers"][0])
        assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
        assert env["LEASE_NAME"]["value"] == "test"
        assert env["LEASE_NAMESPACE"]["value"] == "payments"
        assert env["LEASE_DURATION_SECONDS"]["value"] == "60"
        assert env["RENEW_DEADLINE_SECONDS"]["value"] == "15"
        assert env["RETRY_PERIOD_SECONDS"]["value"] == "5"

    def test_a_user_variable_of_the_same_name_wins(self, make_group: MakeGroup) -> None:
        user_env = [{"name": "LEASE_NAME", "value": "mine"}, {"name": "POD_NAME", "value": "fixed"}]
        user_template = template({"name": "app", "image": "app", "env": user_env})
        container = get_deployment(make_group(template=user_template))["spec"]["template"]["spec"][
            "containers"
        ][0]
        names = [variable["name"] for variable in container["env"]]
        assert names.count("LEASE_NAME") == 1 and names.count("POD_NAME") == 1
        assert env_of(container)["LEASE_NAME"] == {"name": "LEASE_NAME", "value": "mine"}
        assert env_of(container)["POD_NAME"] == {"name": "POD_NAME", "value": "fixed"}
        assert names[-2:] == ["LEASE_NAME", "POD_NAME"]

    def test_get_election_env_is_what_gets_injected(self, make_group: MakeGroup) -> None:
        group = make_group()
        container = get_deployment(group)["spec"]["template"]["spec"]["containers"][0]
        assert container["env"] == get_election_env(group)


class TestTopologySpread:
    def test_spreads_across_nodes_by_default(self, make_group: MakeGroup) -> None:
        pod_spec = get_deployment(make_group(name="billing"))["spec"]["template"]["spec"]
        assert pod_spec["topologySpreadConstraints"] == [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"leadergroup.dev/group": "billing"}},
            }
        ]

    def test_keeps_the_user_constraints(self, make_group: MakeGroup) -> None:
        own = [
            {"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}
        ]
        user_template = template({"name": "a", "image": "i"}, topologySpreadConstraints=own)
        pod_spec = get_deployment(make_group(template=user_template))["spec"]["template"]["spec"]
        assert pod_spec["topologySpreadConstraints"] == own

    def test_is_absent_when_disabled(self, make_group: MakeGroup) -> None:
        group = make_group(placement={"spreadAcrossNodes": False})
        assert "topologySpreadConstraints" not in get_deployment(group)["spec"]["template"]["spec"]
