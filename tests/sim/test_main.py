"""``python -m leadergroup.sim serve``: serves until SIGTERM and writes a kubeconfig that works."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml
from tests.support import eventually
from tests.support.cluster import CRD_DIR

from leadergroup.packaged import crd_files as packaged_crd_files


def test_packaged_crds_are_the_project_crds() -> None:
    assert sorted(path.name for path in packaged_crd_files()) == sorted(
        path.name for path in CRD_DIR.glob("*.yaml")
    )


async def test_serve_until_sigterm(tmp_path: Path) -> None:
    kubeconfig_path = tmp_path / "kubeconfig"
    crd_dir = tmp_path / "crds"
    crd_dir.mkdir()
    (crd_dir / "widgets.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com"},
                "spec": {
                    "group": "example.com",
                    "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"},
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    ],
                },
            }
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leadergroup.sim",
            "serve",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig_path),
            "--crds",
            str(crd_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await eventually(kubeconfig_path.exists, timeout=15, message="the kubeconfig is written")
        kubeconfig = yaml.safe_load(kubeconfig_path.read_text())
        server = kubeconfig["clusters"][0]["cluster"]["server"]
        assert server.startswith("http://127.0.0.1:") and kubeconfig["users"][0]["user"]["token"] == "admin"
        with urllib.request.urlopen(f"{server}/apis/example.com/v1/namespaces/default/widgets") as response:
            assert json.load(response)["kind"] == "WidgetList"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "Serving the Kubernetes API emulator" in output and "with 1 CRDs" in output
