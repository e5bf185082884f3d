"""The blog's setup as one LeaderGroup (``manifests/samples/seed.yaml``) with the demo's replicas, timings."""

from __future__ import annotations

from typing import Any

from leadergroup import constants
from leadergroup.demo.options import Timings

GROUP_NAME = "elector"
LOCK_NAME = "test"
# No node carries this label: on a real cluster the pods stay Pending, so only the demo's local electors
# (which use the pods' names) compete for the Lease, never a second copy of one running in the cluster.
UNSCHEDULABLE_SELECTOR = {f"{constants.GROUP}/demo": "never-scheduled"}


def leader_group(namespace: str, replicas: int, timings: Timings, *, keep_pending: bool) -> dict[str, Any]:
    """The seed sample: candidates of client-go's leader-election example competing for Lease ``test``."""
    pod_spec: dict[str, Any] = {
        "containers": [
            {
                "name": "elector",
                # The blog's image; in the demo the electors run as local processes instead.
                "image": "leader-election-example:latest",
                "imagePullPolicy": "IfNotPresent",
                "args": [
                    "-id=$(POD_NAME)",
                    "-lease-lock-name=$(LEASE_NAME)",
                    "-lease-lock-namespace=$(LEASE_NAMESPACE)",
                ],
            }
        ]
    }
    if keep_pending:
        pod_spec["nodeSelector"] = dict(UNSCHEDULABLE_SELECTOR)
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {"name": GROUP_NAME, "namespace": namespace},
        "spec": {
            "lockName": LOCK_NAME,
            "replicas": replicas,
            "election": {
                "leaseDurationSeconds": timings.lease_duration,
                "renewDeadlineSeconds": timings.renew_deadline,
                "retryPeriodSeconds": timings.retry_period,
            },
            "template": {"metadata": {"labels": {"app": "elector"}}, "spec": pod_spec},
        },
    }
