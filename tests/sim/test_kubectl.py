"""kubectl against the emulator: discovery, tables, apply (client-side), describe, scale, delete."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.cluster import CRD_DIR

from leadergroup.sim import Emulator

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
"""
LEADERGROUP = """\
apiVersion: leadergroup.dev/v1alpha1
kind: LeaderGroup
metadata: {name: elector}
spec:
  template:
    spec:
      containers: [{name: app, image: "example/app:1"}]
"""


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    with Emulator() as emulator:
        emulator.load_crds(*sorted(CRD_DIR.glob("*.yaml")))
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", token="kubectl")

        def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
            command = [
                "kubectl",
                "--kubeconfig",
                str(kubeconfig),
                "--cache-dir",
                str(tmp_path / "cache"),
                *args,
            ]
            result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=30)
            if check:
                assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
            return result

        yield run


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


def test_get_namespaces_table(kubectl: Kubectl) -> None:
    table = rows(kubectl("get", "namespaces").stdout)
    assert table[0] == ["NAME", "STATUS", "AGE"]
    assert table[1][:2] == ["default", "Active"]


def test_apply_requires_validate_false_without_openapi(kubectl: Kubectl) -> None:
    refused = kubectl("apply", "-f", "-", stdin=DEPLOYMENT, check=False)
    assert refused.returncode != 0 and "--validate=false" in refused.stderr
    assert "created" in kubectl("apply", "--validate=false", "-f", "-", stdin=DEPLOYMENT).stdout
    assert "unchanged" in kubectl("apply", "--validate=false", "-f", "-", stdin=DEPLOYMENT).stdout
    changed = DEPLOYMENT.replace("nginx:1.27", "nginx:1.28")
    assert "configured" in kubectl("apply", "--validate=false", "-f", "-", stdin=changed).stdout
    deployment = json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert deployment["metadata"]["generation"] == 2


def test_describe_scale_and_delete_a_deployment(kubectl: Kubectl) -> None:
    kubectl("apply", "--validate=false", "-f", "-", stdin=DEPLOYMENT)
    described = kubectl("describe", "deployment", "web").stdout
    assert "Selector:" in described and "app=web" in described
    kubectl("scale", "deployment", "web", "--replicas=3")
    assert kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    kubectl("delete", "deployment", "web")
    assert "NotFound" in kubectl("get", "deployment", "web", check=False).stderr


def test_leases(kubectl: Kubectl) -> None:
    lease = (
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: test}\nspec: {holderIdentity: a}"
    )
    kubectl("create", "--validate=false", "-f", "-", stdin=lease)
    table = rows(kubectl("get", "lease").stdout)
    assert table[0] == ["NAME", "HOLDER", "AGE"] and table[1][:2] == ["test", "a"]
    assert "Holder Identity:  a" in kubectl("describe", "lease", "test").stdout
    kubectl("delete", "lease", "test")


def test_leadergroup_printer_columns(kubectl: Kubectl) -> None:
    kubectl("apply", "--validate=false", "-f", "-", stdin=LEADERGROUP)
    kubectl(
        "patch",
        "lg",
        "elector",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"holder": "elector-abc", "ready": "2/3", "state": "Reconciling", '
        '"leaseTransitions": 4}}',
    )
    table = rows(kubectl("get", "leadergroups").stdout)
    assert table[0] == ["NAME", "HOLDER", "READY", "STATUS", "TRANSITIONS", "AGE"]
    assert table[1][:5] == ["elector", "elector-abc", "2/3", "Reconciling", "4"]
    assert table[1][5].endswith("s")
    assert "Holder:" in kubectl("describe", "lg", "elector").stdout
    kubectl("delete", "lg", "elector")
    assert "No resources found" in kubectl("get", "lg").stderr


def test_namespace_lifecycle_with_manifests(kubectl: Kubectl) -> None:
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: scratch}\n"
    kubectl("create", "--validate=false", "-f", "-", stdin=namespace)
    assert "scratch" in kubectl("get", "ns", "scratch").stdout
    kubectl("delete", "-f", "-", stdin=namespace)  # kubectl waits until the namespace is gone
    assert "NotFound" in kubectl("get", "ns", "scratch", check=False).stderr


def test_typed_client_commands_send_protobuf_and_are_refused(kubectl: Kubectl) -> None:
    # kubectl's typed-client subcommands (create namespace/deployment, ...) send protobuf bodies since
    # client-go 0.32; the emulator speaks JSON only. Use `kubectl create -f` / `apply -f` instead.
    refused = kubectl("create", "namespace", "typed", check=False)
    assert refused.returncode != 0 and "JSON only" in refused.stderr
