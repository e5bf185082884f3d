"""The install path as a user takes it, on the real API server.

``kubectl apply -k manifests/`` (CRDs, namespace, RBAC, the operator's Deployment), then the operator run
as a local process with the token of the ServiceAccount that install created and the arguments its
Deployment passes (peering included), a sample LeaderGroup applied with kubectl, an elector acting as the
group's ServiceAccount, and the holder shown by ``kubectl get lg``. A missing RBAC rule, a CRD the server
refuses or a broken kustomization fails here.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.elector.fleet import Fleet
from tests.support.cluster import Cluster
from tests.support.eventually import eventually
from tests.support.identities import service_account_kubeconfig
from tests.support.operator_process import OperatorProcess, free_port
from tests.support.tables import table_rows

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import LEASES, ROLE_BINDINGS

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
INSTALL_NAMESPACE = "leadergroup-system"
OPERATOR_ACCOUNT = "leadergroup-operator"

pytestmark = pytest.mark.real_cluster_only("installs into the real API server and runs under its RBAC")


def shipped_operator_args(rendered: list[dict[str, Any]]) -> list[str]:
    """The operator container's arguments in the rendered install, less what binds in-pod ports."""
    deployment = next(o for o in rendered if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return [
        arg
        for arg in container["args"]
        if not arg.startswith(("--liveness", "--metrics-port")) and arg != "--all-namespaces"
    ]


def uninstall(cluster: Cluster, rendered: list[dict[str, Any]]) -> None:
    """Everything an install made but the CRDs (the session shares them); waits for the namespace to go,
    so that the next install in this session does not meet it terminating."""
    for obj in rendered:
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            cluster.kubectl("delete", obj["kind"].lower(), obj["metadata"]["name"], "--ignore-not-found")
    cluster.kubectl("delete", "clusterkopfpeering", OPERATOR_ACCOUNT, "--ignore-not-found", check=False)
    cluster.kubectl(
        "delete", "namespace", INSTALL_NAMESPACE, "--ignore-not-found", "--timeout=120s", timeout=150
    )


@pytest.fixture
def installed(cluster: Cluster) -> Iterator[list[dict[str, Any]]]:
    """``kubectl apply -k manifests/``; afterwards everything but the CRDs goes."""
    applied = cluster.kubectl("apply", "-k", str(MANIFESTS), check=False, timeout=120)
    assert applied.returncode == 0, f"kubectl apply -k manifests/ failed:\n{applied.stderr}"
    rendered = list(yaml.safe_load_all(cluster.kubectl("kustomize", str(MANIFESTS)).stdout))
    yield rendered
    uninstall(cluster, rendered)


def test_the_two_shards_component_installs_with_kubectl_apply_k(cluster: Cluster, tmp_path: Path) -> None:
    """A user's kustomization of the install plus manifests/components/two-shards, applied for real."""
    kustomization = {
        "resources": [os.path.relpath(MANIFESTS, tmp_path)],
        "components": [os.path.relpath(MANIFESTS / "components" / "two-shards", tmp_path)],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    rendered = list(yaml.safe_load_all(cluster.kubectl("kustomize", str(tmp_path)).stdout))
    try:
        applied = cluster.kubectl("apply", "-k", str(tmp_path), check=False, timeout=120)
        assert applied.returncode == 0, (
            f"kubectl apply -k of the two-shards component failed:\n{applied.stderr}"
        )
        listed = json.loads(
            cluster.kubectl("get", "deployments", "-n", INSTALL_NAMESPACE, "-o", "json").stdout
        )
        shards = {
            item["metadata"]["name"]: [
                arg
                for arg in item["spec"]["template"]["spec"]["containers"][0]["args"]
                if arg.startswith("--shard")
            ]
            for item in listed["items"]
        }
        assert shards == {
            "leadergroup-operator-shard-0": ["--shard=0/2"],
            "leadergroup-operator-shard-1": ["--shard=1/2"],
        }
        account = f"system:serviceaccount:{INSTALL_NAMESPACE}:{OPERATOR_ACCOUNT}"
        for peering, answer in (
            ("leadergroup-operator-shard-0-of-2", "yes"),
            ("leadergroup-operator-shard-1-of-2", "yes"),
            ("someone-elses-peering", "no"),
            ("leadergroup-operator", "no"),  # the single install's: no shard uses it
        ):
            can = cluster.kubectl(
                "auth",
                "can-i",
                "patch",
                f"clusterkopfpeerings.kopf.dev/{peering}",
                "--as",
                account,
                check=False,
            )
            assert can.stdout.strip() == answer, (peering, can.stdout, can.stderr)
    finally:
        uninstall(cluster, rendered)


async def test_install_with_kubectl_apply_k_then_run_as_the_shipped_service_account(
    cluster: Cluster, installed: list[dict[str, Any]], client: KubeClient, tmp_path: Path
) -> None:
    kinds = sorted({obj["kind"] for obj in installed})
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "Namespace",
        "PodDisruptionBudget",
        "ServiceAccount",
    ]
    # The operator, as its Deployment runs it, but with the ServiceAccount's token from this machine.
    install_view = copy.copy(cluster)
    install_view.namespace = INSTALL_NAMESPACE
    operator_kubeconfig = await service_account_kubeconfig(install_view, client, OPERATOR_ACCOUNT, tmp_path)
    args = shipped_operator_args(installed)
    assert "--peering=leadergroup-operator" in args
    operator = OperatorProcess(
        operator_kubeconfig,
        None,
        tmp_path / "operator.log",
        *args,
        f"--metrics-port={free_port()}",
        env={"POD_ID": "leadergroup-operator-install-test"},
    )
    operator.start(timeout=60)
    fleet: Fleet | None = None
    try:
        namespace = cluster.namespace
        sample = MANIFESTS / "samples" / "minimal.yaml"
        cluster.kubectl("apply", "-n", namespace, "-f", str(sample))
        await eventually(lambda: client.get_or_none(LEASES, "minimal", namespace), timeout=30)
        await eventually(lambda: client.get_or_none(ROLE_BINDINGS, "minimal-lease", namespace), timeout=30)
        elector_kubeconfig = await service_account_kubeconfig(cluster, client, "minimal", tmp_path)
        fleet = Fleet(cluster, tmp_path, lease_name="minimal", kubeconfig=elector_kubeconfig)
        fleet.start("minimal-pod-0")

        def holder_column() -> str | None:
            (row,) = table_rows(cluster.kubectl("get", "lg", "minimal", "-n", namespace).stdout)
            return row["HOLDER"] if row["HOLDER"] == "minimal-pod-0" else None

        await eventually(holder_column, timeout=30, message="kubectl get lg shows the holder")
        log = operator.log()
        assert "Forbidden" not in log and " 403" not in log, log[-5000:]
    finally:
        if fleet is not None:
            fleet.close()
        operator.terminate()
    assert "Traceback" not in operator.log(), operator.log()[-5000:]
