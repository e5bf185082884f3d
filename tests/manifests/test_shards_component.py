"""manifests/components/two-shards offline: two sharded Deployments that differ only in their shard.

Rendered as a user would: a kustomization of their own with the install as its resource and the
component on top (kustomize forbids an overlay inside the directory of its base).
"""

from __future__ import annotations

import copy
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.support.cluster import require_kubectl

from leadergroup.cli import operator as cli
from leadergroup.cli.sharding import Shard

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "manifests"
COMPONENT = MANIFESTS / "components" / "two-shards"
KUBERNETES_VERSION = "1.33.0"
SHARD_LABEL = "leadergroup.dev/shard"


@cache
def rendered(workdir: str) -> tuple[dict[str, Any], ...]:
    kubectl = require_kubectl("cannot render the component with its built-in kustomize")
    root = Path(workdir)
    # Paths relative to the user's kustomization: kustomize refuses absolute ones.
    kustomization = {
        "resources": [os.path.relpath(MANIFESTS, root)],
        "components": [os.path.relpath(COMPONENT, root)],
    }
    (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    result = subprocess.run(
        [kubectl, "kustomize", str(root)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], ...]:
    return rendered(str(tmp_path_factory.mktemp("user-kustomization")))


def of_kind(documents: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def without_shard(deployment: dict[str, Any]) -> dict[str, Any]:
    """The Deployment with everything that names its shard taken out."""
    bare = copy.deepcopy(deployment)
    bare["metadata"].pop("name")
    for labels in (
        bare["metadata"]["labels"],
        bare["spec"]["selector"]["matchLabels"],
        bare["spec"]["template"]["metadata"]["labels"],
    ):
        labels.pop(SHARD_LABEL)
    for container in bare["spec"]["template"]["spec"]["containers"]:
        container["args"] = [a for a in container["args"] if not a.startswith("--shard=")]
    return bare


def shard_args(deployment: dict[str, Any]) -> list[str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return [a.removeprefix("--shard=") for a in container["args"] if a.startswith("--shard=")]


def test_every_object_is_valid(documents: tuple[dict[str, Any], ...]) -> None:
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_two_deployments_differ_only_in_their_shard(documents: tuple[dict[str, Any], ...]) -> None:
    deployments = of_kind(documents, "Deployment")
    assert sorted(deployments) == ["leadergroup-operator-shard-0", "leadergroup-operator-shard-1"]
    zero, one = (deployments[f"leadergroup-operator-shard-{index}"] for index in range(2))
    assert without_shard(zero) == without_shard(one), "shard 1's copy drifted from the base Deployment"
    assert [shard_args(zero), shard_args(one)] == [["0/2"], ["1/2"]]
    for index, deployment in enumerate((zero, one)):
        assert deployment["spec"]["selector"]["matchLabels"][SHARD_LABEL] == str(index)
        assert deployment["spec"]["replicas"] == 2, "an active replica and a standby per shard"


def test_each_shard_has_its_own_budget(documents: tuple[dict[str, Any], ...]) -> None:
    budgets = of_kind(documents, "PodDisruptionBudget")
    assert sorted(budgets) == ["leadergroup-operator-shard-0", "leadergroup-operator-shard-1"]
    for index in range(2):
        budget = budgets[f"leadergroup-operator-shard-{index}"]
        assert budget["spec"]["minAvailable"] == 1
        assert budget["spec"]["selector"]["matchLabels"][SHARD_LABEL] == str(index)


def test_the_peering_grant_names_exactly_the_shards_peering_objects(
    documents: tuple[dict[str, Any], ...],
) -> None:
    deployments = of_kind(documents, "Deployment").values()
    names = set()
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        options = cli.build_parser().parse_args(container["args"])
        assert isinstance(options.shard, Shard)
        names.add(cli.peering_name(options))
    (role,) = of_kind(documents, "ClusterRole").values()
    by_name = [rule for rule in role["rules"] if rule.get("resourceNames")]
    assert by_name == [
        {
            "apiGroups": ["kopf.dev"],
            "resources": ["clusterkopfpeerings"],
            "resourceNames": sorted(names),
            "verbs": ["get", "patch"],
        }
    ], "the single install's peering object is used by no shard: no grant may name it"
    base = yaml.safe_load((MANIFESTS / "clusterrole.yaml").read_text())
    unnamed = [rule for rule in base["rules"] if not rule.get("resourceNames")]
    assert [rule for rule in role["rules"] if not rule.get("resourceNames")] == unnamed
