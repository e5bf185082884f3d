"""The real control plane fixture does what the suite relies on, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.elector.fleet import process_gone
from tests.support.cluster import Cluster, RealBackend
from tests.support.eventually import eventually
from tests.support.identities import service_account_kubeconfig

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, PODS, SERVICE_ACCOUNTS, Resource

REPLICA_SETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.real_cluster_only("checks the real control plane's controllers")


def deployment(name: str) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
            },
        },
    }


async def test_controllers_make_pods_and_collect_garbage(cluster: Cluster, client: KubeClient) -> None:
    namespace = cluster.namespace
    await client.create(DEPLOYMENTS, deployment("web"), namespace)

    async def two_pods() -> list[dict[str, object]] | None:
        pods = (await client.list(PODS, namespace, label_selector="app=web"))["items"]
        return pods if len(pods) == 2 else None

    pods = await eventually(two_pods, timeout=30, message="the Deployment's pods")
    assert all(pod["status"]["phase"] == "Pending" for pod in pods), "no kubelet: pods stay Pending"
    await client.delete(DEPLOYMENTS, "web", namespace, propagation_policy="Background")

    async def collected() -> bool:
        replica_sets = (await client.list(REPLICA_SETS, namespace, label_selector="app=web"))["items"]
        left = (await client.list(PODS, namespace, label_selector="app=web"))["items"]
        return not replica_sets and not left

    await eventually(collected, timeout=30, message="the garbage collector removes ReplicaSet and pods")


async def test_service_account_tokens_authenticate(
    cluster: Cluster, client: KubeClient, tmp_path: Path
) -> None:
    namespace = cluster.namespace
    await client.create(SERVICE_ACCOUNTS, {"metadata": {"name": "probe"}}, namespace)
    kubeconfig = await service_account_kubeconfig(cluster, client, "probe", tmp_path)
    assert cluster.real is not None
    if cluster.real.plane is not None:  # our own control plane: the admin is our client certificate
        who = cluster.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
        assert who.stdout == "leadergroup-admin"
    as_probe = subprocess.run(
        [
            cluster.real.kubectl_binary,
            "--kubeconfig",
            str(kubeconfig),
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert as_probe.stdout == f"system:serviceaccount:{namespace}:probe"
    denied = subprocess.run(
        [cluster.real.kubectl_binary, "--kubeconfig", str(kubeconfig), "get", "secrets"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert denied.returncode != 0 and "forbidden" in denied.stderr, "RBAC denies what nobody granted"


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


@pytest.mark.timeout(120)
def test_a_killed_session_takes_the_control_plane_with_it(real_backend: RealBackend, tmp_path: Path) -> None:
    if real_backend.plane is None:
        pytest.skip("the real backend is a cluster of the user's own")
    output = tmp_path / "up.log"
    with output.open("wb") as stream:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.controlplane",
                "up",
                "--no-crds",
                "--workdir",
                str(tmp_path / "cp"),
            ],
            cwd=REPO,
            stdout=stream,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 90
        while "is up" not in output.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, output.read_text()
            time.sleep(0.2)
        children = _children_of(process.pid)
        assert len(children) == 4, f"etcd, apiserver, controller manager, scheduler: {children}"
        process.send_signal(signal.SIGKILL)  # no cleanup code runs: only the kernel can stop them now
        process.wait(10)
        deadline = time.monotonic() + 10
        while left := [pid for pid in children if not process_gone(pid)]:
            assert time.monotonic() < deadline, f"outlived the killed session: {left}"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.kill()
