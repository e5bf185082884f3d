"""manifests/ offline: what `kubectl apply -k manifests/` sends, validated against one Kubernetes version.

Rendering needs kubectl (kustomize is built in); validation uses kubernetes-validate's strict schemas, so
unknown or misspelled fields fail here instead of on a cluster.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.support.cluster import require_kubectl

from leadergroup.cli.peering import DEFAULT_LIFETIME, DEFAULT_PEERING_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "manifests"
# One version, so a schema change upstream is a deliberate bump here.
KUBERNETES_VERSION = "1.33.0"
NAMESPACE = "leadergroup-system"
IMAGE = "ghcr.io/leadergroup/leadergroup-operator:0.1.0"


@cache
def rendered() -> tuple[dict[str, Any], ...]:
    kubectl = require_kubectl("cannot render manifests/ with its built-in kustomize")
    result = subprocess.run(
        [kubectl, "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in rendered() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} found"
    return found[0]


def test_every_rendered_object_is_valid_for_the_pinned_kubernetes_version() -> None:
    for document in rendered():
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{document['kind']} {document['metadata']['name']}: {error.message} at {error.path}")


def test_one_apply_installs_everything() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in rendered())
    assert kinds == [
        ("ClusterRole", "leadergroup-operator"),
        ("ClusterRoleBinding", "leadergroup-operator"),
        ("CustomResourceDefinition", "clusterkopfpeerings.kopf.dev"),
        ("CustomResourceDefinition", "kopfpeerings.kopf.dev"),
        ("CustomResourceDefinition", "leadergroups.leadergroup.dev"),
        ("Deployment", "leadergroup-operator"),
        ("Namespace", NAMESPACE),
        ("PodDisruptionBudget", "leadergroup-operator"),
        ("ServiceAccount", "leadergroup-operator"),
    ]
    # No custom resource next to its own CRD: kubectl would fail with "no matches for kind".
    served = {f"{d['spec']['group']}/" for d in rendered() if d["kind"] == "CustomResourceDefinition"}
    assert not [d for d in rendered() if any(d["apiVersion"].startswith(group) for group in served)]
    for document in rendered():
        if document["kind"] in ("ServiceAccount", "Deployment", "PodDisruptionBudget"):
            assert document["metadata"]["namespace"] == NAMESPACE, document["kind"]


def test_namespace_enforces_pod_security_restricted() -> None:
    labels = one("Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_peering_crds_match_kopf() -> None:
    for plural, kind, scope in (
        ("clusterkopfpeerings", "ClusterKopfPeering", "Cluster"),
        ("kopfpeerings", "KopfPeering", "Namespaced"),
    ):
        crd = one("CustomResourceDefinition", f"{plural}.kopf.dev")
        assert crd["spec"]["scope"] == scope
        assert crd["spec"]["names"]["kind"] == kind
        (version,) = crd["spec"]["versions"]
        assert version["name"] == "v1" and version["served"] and version["storage"]
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        # Kopf patches keep-alives into the main resource: a status subresource would drop them.
        assert "subresources" not in version


def _pod_spec() -> dict[str, Any]:
    return dict(one("Deployment")["spec"]["template"]["spec"])


def test_operator_pods_meet_pod_security_restricted() -> None:
    pod = _pod_spec()
    pod_context = pod.get("securityContext", {})
    assert pod_context.get("seccompProfile", {}).get("type") in ("RuntimeDefault", "Localhost")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(field), field
    for volume in pod.get("volumes", []):
        assert set(volume) - {"name"} <= {
            "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
            "secret",
        }, volume  # fmt: skip
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container.get("securityContext", {})
        assert context.get("allowPrivilegeEscalation") is False, container["name"]
        assert context.get("capabilities", {}).get("drop") == ["ALL"], container["name"]
        assert not context.get("capabilities", {}).get("add"), container["name"]
        assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, container["name"]
        assert context.get("runAsUser", pod_context.get("runAsUser", 1)) != 0, container["name"]
        assert not context.get("privileged"), container["name"]
        assert context.get("readOnlyRootFilesystem") is True, container["name"]
        assert not [p for p in container.get("ports", []) if p.get("hostPort")], container["name"]


def test_operator_deployment_runs_two_peered_replicas() -> None:
    deployment = one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = _pod_spec()
    assert pod["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    args = container["args"]
    assert "--all-namespaces" in args and "--standalone" not in args
    assert f"--peering={DEFAULT_PEERING_NAME}" in args
    assert f"--peering-lifetime={DEFAULT_LIFETIME}" in args
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    (liveness,) = [a for a in args if a.startswith("--liveness=")]
    port = int(re.fullmatch(r"--liveness=http://0\.0\.0\.0:(\d+)/healthz", liveness).group(1))  # type: ignore[union-attr]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert ports["health"] == port
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


def test_cluster_role_has_no_wildcards_and_every_rule_says_why() -> None:
    role = one("ClusterRole")
    for rule in role["rules"]:
        for key in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(key, []), rule
            assert not any("*" in value for value in rule.get(key, [])), rule
    lines = (MANIFESTS / "clusterrole.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            above = lines[index - 1].strip()
            # A rule is either commented itself or continues the explanation of the rule above it.
            assert above.startswith("#") or above.startswith("verbs:"), (
                f"rule at line {index + 1} says no why"
            )
    binding = one("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "leadergroup-operator", "namespace": NAMESPACE}
    ]


def test_cluster_role_lets_the_operator_grant_what_its_roles_grant() -> None:
    """RBAC refuses to create a Role granting verbs its creator does not hold (escalation prevention)."""
    from leadergroup.builders.rbac import LEASE_VERBS

    held = {
        verb
        for rule in one("ClusterRole")["rules"]
        if "coordination.k8s.io" in rule["apiGroups"] and "leases" in rule["resources"]
        and not rule.get("resourceNames")
        for verb in rule["verbs"]
    }  # fmt: skip
    assert set(LEASE_VERBS) <= held
