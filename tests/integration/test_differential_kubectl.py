"""kubectl against the emulator works as against the real API server: the same commands, the same words.

The real server's own kubectl (v1.37.2 when the session builds the control plane) runs each command
against both backends, each in a fresh namespace; exit code and output are compared after the namespace
is written back as ``{ns}``. Ages and other clock-dependent columns are not compared: only what a command
names in ``compare``. Listed differences live in the same docs/testing.md table as the HTTP cases.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.integration.test_differential import GAPS
from tests.support.cluster import CRD_DIR, RealBackend

from leadergroup.sim import Emulator

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "manifests" / "samples"
TYPO = """\
apiVersion: leadergroup.dev/v1alpha1
kind: LeaderGroup
metadata: {name: typo}
spec:
  replicaz: 3
  template:
    spec:
      containers: [{name: app, image: "example/app:1"}]
"""
EVENT = """\
apiVersion: v1
kind: Event
metadata: {name: stalled}
type: Warning
reason: Stalled
message: spec.replicas must be at least 1
involvedObject: {kind: LeaderGroup, name: typo, namespace: "{ns}", apiVersion: leadergroup.dev/v1alpha1}
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
count: 1
"""

OBJECTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, labels: {diff: case}}
data: {a: "1", b: "2"}
---
apiVersion: v1
kind: Secret
metadata: {name: token, labels: {diff: case}}
type: Opaque
data: {key: dmFsdWU=}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: elector, labels: {diff: case}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: lease, labels: {diff: case}}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: lease, labels: {diff: case}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: lease}
subjects: [{kind: ServiceAccount, name: elector, namespace: "{ns}"}, {kind: User, name: jane}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: lock, labels: {diff: case}}
spec: {holderIdentity: pod-a, leaseDurationSeconds: 15}
---
apiVersion: v1
kind: Service
metadata: {name: leader, labels: {diff: case}}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, labels: {diff: case}}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {diff: case}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}, {name: side, image: "busybox:1"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: lone, labels: {diff: case}}
spec: {containers: [{name: app, image: "example/app:1"}]}
"""
WITH_OBJECTS = ((("apply", "-n", "{ns}", "-f", "-"), OBJECTS),)


@dataclass(frozen=True)
class Command:
    """A kubectl command line (``{ns}`` is the case's namespace) and what of its result is compared."""

    id: str
    args: tuple[str, ...]
    stdin: str | None = None
    setup: tuple[tuple[tuple[str, ...], str | None], ...] = ()
    compare: tuple[str, ...] = ("exit", "stdout", "stderr")


def _get(kind: str, *extra: str, compare: tuple[str, ...] = ("exit", "table")) -> Command:
    # Only the objects of OBJECTS: controllers add others (a default ServiceAccount, kube-root-ca.crt).
    return Command(
        f"kubectl-get-{kind}{'-'.join(('', *extra)).replace('-o-', '-')}",
        ("get", kind, "-n", "{ns}", "-l", "diff=case", *extra),
        setup=WITH_OBJECTS,
        compare=compare,
    )


COMMANDS = [
    # Rows, ages left out: what needs no controller. Headers only where controllers fill in the cells.
    _get("configmaps"),
    _get("secrets"),
    _get("serviceaccounts"),
    _get("roles", compare=("exit", "header")),  # CREATED AT is a timestamp
    _get("rolebindings", "-o", "wide"),
    _get("leases"),
    _get("services", "-o", "wide", compare=("exit", "header")),
    _get("poddisruptionbudgets", compare=("exit", "header")),
    _get("deployments", "-o", "wide", compare=("exit", "header")),
    _get("pods", "-o", "wide"),
    Command("kubectl-explain-election", ("explain", "leadergroup.spec.election"), compare=("exit", "stdout")),
    Command(
        "kubectl-explain-deployment", ("explain", "deployment.spec.strategy"), compare=("exit", "stdout")
    ),
    Command("kubectl-apply-samples", ("apply", "-n", "{ns}", "-f", str(SAMPLES))),
    Command("kubectl-apply-typo", ("apply", "-n", "{ns}", "-f", "-"), TYPO),
    Command("kubectl-apply-typo-warn", ("apply", "--validate=warn", "-n", "{ns}", "-f", "-"), TYPO),
    Command(
        "kubectl-apply-server-side",
        ("apply", "--server-side", "-n", "{ns}", "-f", str(SAMPLES / "minimal.yaml")),
    ),
    Command(
        "kubectl-apply-server-side-again",
        ("apply", "--server-side", "-n", "{ns}", "-f", str(SAMPLES / "minimal.yaml")),
        setup=((("apply", "--server-side", "-n", "{ns}", "-f", str(SAMPLES / "minimal.yaml")), None),),
    ),
    Command("kubectl-create-namespace", ("create", "namespace", "{ns}-made"), compare=("exit", "stdout")),
    Command(
        "kubectl-get-events",
        ("get", "events", "-n", "{ns}"),
        setup=((("create", "-n", "{ns}", "-f", "-"), EVENT),),
        compare=("exit", "header"),
    ),
    Command(
        "kubectl-get-events-wide",
        ("get", "events", "-n", "{ns}", "-o", "wide"),
        setup=((("create", "-n", "{ns}", "-f", "-"), EVENT),),
        compare=("exit", "header"),
    ),
]


def test_command_ids_are_unique() -> None:
    ids = [command.id for command in COMMANDS]
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def emulator_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with Emulator() as emu:
        emu.load_crds(*sorted(CRD_DIR.glob("*.yaml")))
        yield emu.write_kubeconfig(tmp_path_factory.mktemp("emulator") / "kubeconfig", token="admin")
        assert not emu.api.internal_errors, emu.api.internal_errors


def _run(
    binary: str, kubeconfig: Path, cache: Path, args: tuple[str, ...], stdin: str | None, ns: str
) -> subprocess.CompletedProcess[str]:
    command = [
        binary,
        "--kubeconfig",
        str(kubeconfig),
        "--cache-dir",
        str(cache),
        *(a.replace("{ns}", ns) for a in args),
    ]
    text = stdin.replace("{ns}", ns) if stdin is not None else None
    return subprocess.run(command, input=text, capture_output=True, text=True, timeout=60)


def _outcome(command: Command, done: subprocess.CompletedProcess[str], ns: str) -> dict[str, object]:
    def clean(text: str) -> str:
        return text.replace(ns, "{ns}")

    found: dict[str, object] = {}
    for key in command.compare:
        if key == "exit":
            found[key] = done.returncode
        elif key == "stdout":
            found[key] = clean(done.stdout)
        elif key == "stderr":
            found[key] = clean(done.stderr)
        elif key == "header":
            found[key] = done.stdout.splitlines()[:1]
        elif key == "table":
            found[key] = _without_ages(clean(done.stdout))
    return found


def _without_ages(table: str) -> list[list[str]]:
    """The table's cells, split where kubectl pads, without its AGE column (clock-dependent)."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in table.splitlines() if line.strip()]
    if not rows or "AGE" not in rows[0]:
        return rows
    age = rows[0].index("AGE")
    return [row[:age] + row[age + 1 :] for row in rows]


def _outcome_on(binary: str, kubeconfig: Path, tmp_path: Path, command: Command) -> dict[str, object]:
    ns = f"diff-{secrets.token_hex(3)}"
    cache = tmp_path / f"cache-{ns}"
    made = _run(
        binary, kubeconfig, cache, ("create", "namespace", ns, "--dry-run=client", "-o", "yaml"), None, ns
    )
    _run(binary, kubeconfig, cache, ("apply", "-f", "-"), made.stdout, ns).check_returncode()
    try:
        for args, stdin in command.setup:
            _run(binary, kubeconfig, cache, args, stdin, ns).check_returncode()
        return _outcome(command, _run(binary, kubeconfig, cache, command.args, command.stdin, ns), ns)
    finally:
        _run(
            binary,
            kubeconfig,
            cache,
            ("delete", "namespace", ns, f"{ns}-made", "--wait=false", "--ignore-not-found"),
            None,
            ns,
        )


@pytest.mark.parametrize("command", COMMANDS, ids=[command.id for command in COMMANDS])
def test_kubectl_answers_alike(
    command: Command, real_backend: RealBackend, emulator_kubeconfig: Path, tmp_path: Path
) -> None:
    binary = real_backend.kubectl_binary
    real = _outcome_on(binary, real_backend.kubeconfig, tmp_path, command)
    emulated = _outcome_on(binary, emulator_kubeconfig, tmp_path, command)
    listed = GAPS.get(command.id)
    if listed is not None:
        if emulated == real:
            pytest.fail(
                f"{command.id} is listed in docs/testing.md as a difference but both agree: unlist it"
            )
        pytest.xfail(f"listed difference: {listed}")
    assert emulated == real, f"kubectl {' '.join(command.args)} differs on the emulator"
