"""kubectl against the emulator: discovery, tables, apply (client-side), describe, scale, delete."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.cluster import CRD_DIR, require_kubectl

from leadergroup.sim import Emulator

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
    binary = require_kubectl("kubectl against the emulator")
    with Emulator() as emulator:
        emulator.load_crds(*sorted(CRD_DIR.glob("*.yaml")))
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", token="kubectl")

        def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
            command = [
                binary,
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


def test_apply_with_kubectls_default_validation(kubectl: Kubectl) -> None:
    # kubectl finds fieldValidation in the published OpenAPI v3 and lets the server check fields.
    assert "created" in kubectl("apply", "-f", "-", stdin=DEPLOYMENT).stdout
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=DEPLOYMENT).stdout
    changed = DEPLOYMENT.replace("nginx:1.27", "nginx:1.28")
    assert "configured" in kubectl("apply", "-f", "-", stdin=changed).stdout
    deployment = json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert deployment["metadata"]["generation"] == 2


def test_a_typo_is_refused_as_a_strict_decoding_error(kubectl: Kubectl) -> None:
    typo = LEADERGROUP.replace("spec:\n", "spec:\n  replicaz: 3\n", 1)
    refused = kubectl("apply", "-f", "-", stdin=typo, check=False)
    assert refused.returncode != 0
    assert 'strict decoding error: unknown field "spec.replicaz"' in refused.stderr
    warned = kubectl("apply", "--validate=warn", "-f", "-", stdin=typo)
    assert 'unknown field "spec.replicaz"' in warned.stderr and "created" in warned.stdout
    stored = json.loads(kubectl("get", "lg", "elector", "-o", "json").stdout)
    assert "replicaz" not in stored["spec"]


def test_a_typo_in_a_built_in_kind_is_refused_and_dropped_when_allowed(kubectl: Kubectl) -> None:
    typo = DEPLOYMENT.replace("image: ", "imagee: x, image: ")
    refused = kubectl("apply", "-f", "-", stdin=typo, check=False)
    assert 'unknown field "spec.template.spec.containers[0].imagee"' in refused.stderr
    kubectl("apply", "--validate=false", "-f", "-", stdin=typo)
    stored = json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)
    assert "imagee" not in stored["spec"]["template"]["spec"]["containers"][0]


def test_explain_reads_the_published_schemas(kubectl: Kubectl) -> None:
    election = kubectl("explain", "leadergroup.spec.election").stdout
    assert "leaseDurationSeconds" in election and "FIELDS:" in election
    assert "replicas\t<integer>" in kubectl("explain", "deployment.spec").stdout


def test_server_side_apply(kubectl: Kubectl) -> None:
    applied = kubectl("apply", "--server-side", "-f", "-", stdin=LEADERGROUP)
    assert "serverside-applied" in applied.stdout
    scaled = LEADERGROUP.replace("spec:\n", "spec:\n  replicas: 5\n", 1)
    kubectl("apply", "--server-side", "-f", "-", stdin=scaled)
    assert kubectl("get", "lg", "elector", "-o", "jsonpath={.spec.replicas}").stdout == "5"


def test_events_table_as_on_a_cluster(kubectl: Kubectl) -> None:
    event = (
        "apiVersion: v1\nkind: Event\nmetadata: {name: e1}\ntype: Warning\nreason: Stalled\n"
        "message: fix the spec\ninvolvedObject: {kind: LeaderGroup, name: elector}\n"
        "firstTimestamp: '2026-01-01T00:00:00Z'\nlastTimestamp: '2026-01-01T00:00:00Z'\n"
    )
    kubectl("create", "-f", "-", stdin=event)
    table = kubectl("get", "events").stdout.splitlines()
    assert table[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert table[1].split()[1:] == ["Warning", "Stalled", "leadergroup/elector", "fix", "the", "spec"]


def test_describe_scale_and_delete_a_deployment(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
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
    kubectl("create", "-f", "-", stdin=lease)
    table = rows(kubectl("get", "lease").stdout)
    assert table[0] == ["NAME", "HOLDER", "AGE"] and table[1][:2] == ["test", "a"]
    assert "Holder Identity:  a" in kubectl("describe", "lease", "test").stdout
    kubectl("delete", "lease", "test")


def test_leadergroup_printer_columns(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=LEADERGROUP)
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
    kubectl("create", "-f", "-", stdin=namespace)
    assert "scratch" in kubectl("get", "ns", "scratch").stdout
    kubectl("delete", "-f", "-", stdin=namespace)  # kubectl waits until the namespace is gone
    assert "NotFound" in kubectl("get", "ns", "scratch", check=False).stderr


def test_typed_client_commands_send_protobuf_and_are_told_what_works(kubectl: Kubectl) -> None:
    # kubectl's typed-client subcommands (create namespace/deployment, ...) send protobuf bodies since
    # client-go 0.32; the emulator speaks JSON only, and its answer names the command that works.
    refused = kubectl("create", "namespace", "typed", check=False)
    assert refused.returncode != 0 and "JSON only" in refused.stderr
    alternative = "kubectl create namespace x --dry-run=client -o yaml | kubectl apply -f -"
    assert alternative in refused.stderr
    generated = kubectl("create", "namespace", "typed", "--dry-run=client", "-o", "yaml").stdout
    kubectl("apply", "-f", "-", stdin=generated)
    assert "typed" in kubectl("get", "ns", "typed").stdout
