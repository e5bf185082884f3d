"""Every object the operator would create, and the CRD itself, pass Kubernetes' own OpenAPI schemas.

``kubernetes_validate`` checks offline against the JSON schemas of one pinned Kubernetes release, in strict
mode (unknown fields are errors, as with ``kubectl apply --validate=strict``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from leadergroup.builders import get_children
from leadergroup.model import LeaderGroup

KUBERNETES_VERSION = "1.32"
REPO = Path(__file__).parents[2]
SAMPLES = sorted((REPO / "manifests" / "samples").glob("*.yaml"))


def validate(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def as_stored(sample: dict[str, Any]) -> dict[str, Any]:
    """A sample as the API server would hand it to the operator: namespaced, with a uid."""
    stored = copy.deepcopy(sample)
    stored["metadata"].setdefault("namespace", "default")
    stored["metadata"]["uid"] = "0f5c3a2e-4f7b-4a8e-9c1d-2b3a4c5d6e7f"
    return stored


def group(**spec: Any) -> LeaderGroup:
    template = {
        "metadata": {"labels": {"app": "web"}, "annotations": {"team": "payments"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
    }
    return LeaderGroup.from_body(
        {
            "metadata": {"name": "web", "namespace": "payments", "uid": "uid-1", "generation": 1},
            "spec": {"template": template, **spec},
        }
    )


VARIANTS: dict[str, LeaderGroup] = {
    "defaults": group(),
    "leader-service": group(leaderService={"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}),
    "load-balancer-udp": group(
        leaderService={"type": "LoadBalancer", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}
    ),
    "no-spread-no-budget": group(placement={"spreadAcrossNodes": False, "disruptionBudget": False}),
    "lock-name-and-timings": group(
        lockName="web.lock",
        election={"leaseDurationSeconds": 60, "renewDeadlineSeconds": 15, "retryPeriodSeconds": 5},
    ),
    "init-containers-and-env": group(
        template={
            "spec": {
                "initContainers": [{"name": "sidecar", "image": "elector", "restartPolicy": "Always"}],
                "containers": [
                    {"name": "web", "image": "nginx", "env": [{"name": "POD_NAME", "value": "x"}]},
                    {"name": "metrics", "image": "exporter", "envFrom": [{"configMapRef": {"name": "cm"}}]},
                ],
            }
        }
    ),
    **{
        f"sample-{path.stem}": LeaderGroup.from_body(as_stored(yaml.safe_load(path.read_text())))
        for path in SAMPLES
    },
}
CHILDREN = [
    pytest.param(child, id=f"{variant}-{child['kind']}")
    for variant, lg in VARIANTS.items()
    for child in get_children(lg)
]


@pytest.mark.parametrize("child", CHILDREN)
def test_every_child_is_a_valid_kubernetes_object(child: dict[str, Any]) -> None:
    validate(child)


def test_every_kind_is_covered() -> None:
    kinds = {param.values[0]["kind"] for param in CHILDREN}  # type: ignore[index]
    assert kinds == {
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Lease",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }


def test_the_crd_is_a_valid_custom_resource_definition() -> None:
    validate(yaml.safe_load((REPO / "crds" / "leadergroup.yaml").read_text()))


def test_the_validator_is_strict() -> None:
    # Guard: if validation silently accepted anything, the tests above would prove nothing.
    deployment = copy.deepcopy(
        next(child for child in get_children(group()) if child["kind"] == "Deployment")
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["imageName"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
