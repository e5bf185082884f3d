"""The programs never load the ``kubernetes`` package (its generated models) unless a kubeconfig needs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
{imports}
loaded = sorted(name for name in sys.modules if name == "kubernetes" or name.startswith("kubernetes."))
print(json.dumps({{"kubernetes": loaded, "kopf": "kopf" in sys.modules}}))
"""


def probe(imports: str) -> dict[str, object]:
    finished = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(finished.stdout))


@pytest.mark.parametrize(
    "program",
    [
        # The operator's entrypoint, then everything it runs (the handlers import Kopf too).
        "import leadergroup.cli.operator, leadergroup.handlers",
        "import leadergroup.elector.cli, leadergroup.elector.sidecar",
    ],
)
def test_the_programs_do_not_load_the_kubernetes_package(program: str) -> None:
    assert probe(program)["kubernetes"] == []


def test_kopf_still_sees_the_package_when_imported_on_its_own() -> None:
    # The control: without our entrypoint Kopf imports it, so the test above measures our guard.
    assert probe("import kopf")["kubernetes"] != []


def test_the_package_stays_importable_after_kopf() -> None:
    # The auth-provider fallback of the kubeconfig loader imports it later, on demand.
    found = probe("import leadergroup.cli.operator\nimport kubernetes.config")
    assert "kubernetes.config" in found["kubernetes"]  # type: ignore[operator]
