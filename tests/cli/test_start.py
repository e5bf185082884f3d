"""`leadergroup start` (what `make run` runs): the operator when a cluster answers, else the demo."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from tests.support.operator_process import free_port

from leadergroup.sim import Emulator


def wait_for(process: subprocess.Popen[str], log: Path, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        assert process.poll() is None, f"exited with {process.returncode}:\n{content[-3000:]}"
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not seen in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


def start(kubeconfig: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as stream:
        return subprocess.Popen(
            [sys.executable, "-m", "leadergroup.cli.main", "start", "--kubeconfig", str(kubeconfig)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            text=True,
        )


def test_against_a_cluster_it_installs_the_crds_and_runs_the_operator(tmp_path: Path) -> None:
    with Emulator() as emulator:  # a cluster without our CRDs
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        log = tmp_path / "start.log"
        process = start(kubeconfig, log)
        try:
            wait_for(process, log, "Running the operator against")
            output = wait_for(process, log, "LeaderGroup operator started")
            assert "Installing CRD leadergroups.leadergroup.dev" in output
            installed = {
                crd["metadata"]["name"]
                for crd in emulator.objects("apiextensions.k8s.io", "customresourcedefinitions")
            }
            assert "leadergroups.leadergroup.dev" in installed
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0


def test_without_a_cluster_it_runs_the_demo(tmp_path: Path) -> None:
    nobody = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(nobody))
    log = tmp_path / "start.log"
    process = start(kubeconfig, log)
    try:
        output = wait_for(process, log, "Running the built-in demo instead")
        assert "No cluster to run against" in output
        # The demo is under way: its own API server answers on loopback.
        wait_for(process, log, "Started an emulated Kubernetes API server at http://127.0.0.1:", timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        # Ctrl-C ends the demo cleanly: no traceback, the conventional 130.
        assert process.wait(timeout=60) == 130
    assert "Traceback" not in log.read_text()
