"""The apply layer's pure judgement: what counts as drift, and what the patch contains."""

from __future__ import annotations

import json
from typing import Any

from leadergroup import constants
from leadergroup.apply import drift_patch, is_owned_by, is_subset


def deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "g", "namespace": "ns", "labels": {"a": "1"}},
        "spec": {"replicas": 3, **spec},
    }


class TestIsSubset:
    def test_server_defaults_are_not_drift(self) -> None:
        desired = {"containers": [{"name": "c", "image": "i", "env": [{"name": "X", "value": "1"}]}]}
        live = {
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "imagePullPolicy": "Always",
                    "env": [{"name": "X", "value": "1"}],
                    "terminationMessagePath": "/dev/termination-log",
                }
            ],
            "restartPolicy": "Always",
        }
        assert is_subset(desired, live)

    def test_changed_scalar_is_drift(self) -> None:
        assert not is_subset({"replicas": 3}, {"replicas": 5})

    def test_extra_list_item_is_drift(self) -> None:
        assert not is_subset({"env": [{"name": "A"}]}, {"env": [{"name": "A"}, {"name": "B"}]})

    def test_missing_key_is_drift(self) -> None:
        assert not is_subset({"a": {"b": 1}}, {"a": {}})

    def test_type_change_is_drift(self) -> None:
        assert not is_subset({"a": {"b": 1}}, {"a": [1]})


class TestDriftPatch:
    def test_converged_object_needs_no_patch(self) -> None:
        live = deployment()
        live["metadata"]["labels"]["extra"] = "kept"
        live["metadata"]["resourceVersion"] = "7"
        live["status"] = {"readyReplicas": 3}
        assert drift_patch(deployment(), live) == {}

    def test_scaled_by_hand_patches_spec_only(self) -> None:
        live = deployment()
        live["spec"]["replicas"] = 1
        assert drift_patch(deployment(), live) == {"spec": {"replicas": 3}}

    def test_removed_label_patches_labels_only(self) -> None:
        live = deployment()
        live["metadata"]["labels"] = {}
        assert drift_patch(deployment(), live) == {"metadata": {"labels": {"a": "1"}}}

    def test_lease_spec_is_never_patched(self) -> None:
        desired = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l", "labels": {"a": "1"}},
            "spec": {"holderIdentity": "", "leaseDurationSeconds": 15},
        }
        live = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l", "labels": {"a": "1"}},
            "spec": {"holderIdentity": "pod-1", "leaseDurationSeconds": 15, "leaseTransitions": 4},
        }
        assert drift_patch(desired, live) == {}
        live["metadata"]["labels"] = {}
        assert drift_patch(desired, live) == {"metadata": {"labels": {"a": "1"}}}

    def test_the_template_role_label_alone_is_not_drift(self) -> None:
        # A Deployment made before the template carried the role label is not rolled out to add it.
        role = {constants.LABEL_ROLE: constants.ROLE_FOLLOWER}
        desired = deployment(template={"metadata": {"labels": {"g": "1", **role}}, "spec": {}})
        live = deployment(template={"metadata": {"labels": {"g": "1"}}, "spec": {}})
        assert drift_patch(desired, live) == {}

    def test_the_template_role_label_goes_with_another_change(self) -> None:
        role = {constants.LABEL_ROLE: constants.ROLE_FOLLOWER}
        desired = deployment(template={"metadata": {"labels": {"g": "1", **role}}, "spec": {}})
        live = deployment(template={"metadata": {"labels": {"g": "1"}}, "spec": {}})
        live["spec"]["replicas"] = 1
        patch = drift_patch(desired, live)
        assert patch["spec"]["replicas"] == 3
        assert patch["spec"]["template"]["metadata"]["labels"] == {"g": "1", **role}

    def test_another_template_role_is_drift(self) -> None:
        desired = deployment(
            template={"metadata": {"labels": {constants.LABEL_ROLE: "follower"}}, "spec": {}}
        )
        live = deployment(template={"metadata": {"labels": {constants.LABEL_ROLE: "leader"}}, "spec": {}})
        patch = drift_patch(desired, live)
        assert patch["spec"]["template"]["metadata"]["labels"] == {constants.LABEL_ROLE: "follower"}

    def test_only_the_deployment_template_role_label_is_spared(self) -> None:
        role = {constants.LABEL_ROLE: constants.ROLE_FOLLOWER}
        desired = deployment(template={"metadata": {"labels": {"g": "1", **role}}, "spec": {}})
        live = deployment(template={"metadata": {"labels": {**role}}, "spec": {}})
        assert drift_patch(desired, live) != {}
        desired["kind"] = live["kind"] = "StatefulSet"
        live["spec"]["template"]["metadata"]["labels"] = {"g": "1"}
        assert drift_patch(desired, live) != {}


class TestOwnership:
    def test_owned_by_uid_not_name(self) -> None:
        body = {"metadata": {"ownerReferences": [{"kind": "LeaderGroup", "name": "g", "uid": "u-1"}]}}
        assert is_owned_by(body, "u-1")
        assert not is_owned_by(body, "u-2")

    def test_no_owner_references(self) -> None:
        assert not is_owned_by({"metadata": {}}, "u-1")


class TestLastApplied:
    def test_annotation_records_what_we_set_but_not_the_lease_spec(self) -> None:
        from leadergroup.apply import LAST_APPLIED_ANNOTATION, with_last_applied

        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l", "labels": {"a": "1"}},
            "spec": {"holderIdentity": ""},
        }
        record = json.loads(with_last_applied(lease)["metadata"]["annotations"][LAST_APPLIED_ANNOTATION])
        assert record == {"metadata": {"labels": {"a": "1"}}}

    def test_field_we_stop_setting_is_removed(self) -> None:
        from leadergroup.apply import with_last_applied

        before = deployment(
            template={"spec": {"topologySpreadConstraints": [{"maxSkew": 1}], "containers": []}}
        )
        after = deployment(template={"spec": {"containers": []}})
        live = with_last_applied(before)
        live["spec"]["template"]["spec"]["restartPolicy"] = "Always"  # a server default
        patch = drift_patch(with_last_applied(after), live)
        assert patch["spec"]["template"]["spec"]["topologySpreadConstraints"] is None
        assert "restartPolicy" not in patch["spec"]["template"]["spec"]

    def test_server_added_fields_are_not_removed(self) -> None:
        from leadergroup.apply import with_last_applied

        desired = with_last_applied(deployment())
        live = json.loads(json.dumps(desired))
        live["spec"]["progressDeadlineSeconds"] = 600
        assert drift_patch(desired, live) == {}
