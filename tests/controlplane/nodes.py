"""Simulated nodes for the test control plane: KWOK's configuration and the Node objects it plays.

KWOK (``sigs.k8s.io/kwok``, built from its module in ``tests/controlplane/kwok``) acts as the kubelet of
nodes that exist only in the API: the real scheduler places pods on them, and KWOK moves those pods through
their lifecycle by its stages. The nodes are tainted, so only pods that tolerate them land there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from tests.controlplane.build import KWOK, go_toolchain

from leadergroup.procutil import free_port

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
# Simulated nodes carry this taint: only pods that ask for them (tests that want running pods) land there.
KWOK_TOLERATION = {"key": KWOK_ANNOTATION, "operator": "Equal", "value": "fake", "effect": "NoSchedule"}
# Pods annotated so are left to a kubelet of the test's own (bench/kubelet_standin.py): KWOK never touches
# their status, so they get Running and Ready when the test's process for them runs, not on KWOK's clock.
KWOK_OWN_STATUS = {"kwok.x-k8s.io/status": "custom"}


def kwok_node(name: str) -> dict[str, Any]:
    """A simulated node KWOK manages: tainted, so only pods that tolerate it are scheduled there."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"},
        },
        "spec": {"taints": [{"key": KWOK_ANNOTATION, "value": "fake", "effect": "NoSchedule"}]},
        "status": {"allocatable": resources, "capacity": resources},
    }


# KWOK's own stage sets, read from its module (nothing of it is copied here): nodes become Ready and keep a
# heartbeat Lease; pods become Running and Ready, and a deleted pod goes when its grace period is over.
KWOK_STAGES = ("node/fast", "node/heartbeat-with-lease", "pod/general")


def kwok_config(path: Path) -> Path:
    """Write KWOK's configuration: the stages of :data:`KWOK_STAGES` from the module the build used."""
    source = subprocess.run(
        [go_toolchain(), "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"],
        cwd=KWOK.module,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    documents = []
    for stage_set in KWOK_STAGES:
        for stage in sorted((Path(source) / "kustomize" / "stage" / stage_set).glob("*.yaml")):
            if stage.name != "kustomization.yaml":
                documents.extend(doc for doc in yaml.safe_load_all(stage.read_text()) if doc)
    path.write_text(yaml.safe_dump_all(documents))
    return path


def kwok_arguments(workdir: Path, kubeconfig: Path) -> list[str]:
    """KWOK's command line: our stages (written into ``workdir``), only the nodes annotated as ours."""
    return [
        f"--config={kwok_config(workdir / 'kwok.yaml')}",
        f"--kubeconfig={kubeconfig}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        # Pods annotated KWOK_OWN_STATUS keep the status their test (a kubelet stand-in) writes.
        "--disregard-status-with-annotation-selector="
        + ",".join(f"{key}={value}" for key, value in KWOK_OWN_STATUS.items()),
        f"--server-address=127.0.0.1:{free_port()}",
        "--node-lease-duration-seconds=40",
    ]


def add_kwok_nodes(
    kubectl: Path | str, kubeconfig: Path, workdir: Path, nodes: int, *, prefix: str = "kwok-node"
) -> list[str]:
    """Create ``nodes`` simulated nodes and wait until KWOK reports them Ready; their names."""
    names = [f"{prefix}-{index}" for index in range(nodes)]
    manifest = workdir / f"{prefix}s.yaml"
    manifest.write_text(yaml.safe_dump_all([kwok_node(name) for name in names]))
    command = [str(kubectl), "--kubeconfig", str(kubeconfig)]
    subprocess.run([*command, "apply", "-f", str(manifest)], check=True, capture_output=True, timeout=120)
    subprocess.run(
        [*command, "wait", "--for=condition=Ready", *(f"node/{name}" for name in names), "--timeout=120s"],
        check=True,
        capture_output=True,
        timeout=150,
    )
    return names
