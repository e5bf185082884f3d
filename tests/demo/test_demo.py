"""``leadergroup demo`` end to end: the emulator, the real operator and real electors, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.elector.fleet import process_gone
from tests.support.cluster import RealBackend

from leadergroup.demo import main
from leadergroup.demo.observe import (
    ElectorState,
    EventLine,
    GroupStatus,
    LeaseState,
    Snapshot,
    has_expected_children,
    latest_events,
)
from leadergroup.demo.options import Timings, parse_timings
from leadergroup.demo.view import panel

LD, RD, RP = 3, 2, 1
CHILDREN = ("ServiceAccount/elector", "Role/elector-lease", "RoleBinding/elector-lease", "Lease/test")


class DemoRun:
    """The demo as a subprocess in a session of its own, its output in a file."""

    def __init__(self, tmp_path: Path, *args: str, sigint_ignored: bool = False) -> None:
        self.output = tmp_path / "demo.out"
        # Its work folder goes under the test's own: a SIGKILLed demo cannot remove it.
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        with self.output.open("wb") as stream:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "leadergroup.cli.main", "demo", *args],
                stdout=stream,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its children join this group: the test can tell if any is left
                env={**os.environ, "TMPDIR": str(self.tmpdir)},
                # As a shell without job control starts `cmd &`: SIGINT ignored, inherited through exec.
                # Otherwise the default, whatever the suite itself was started with (`make test &` too).
                preexec_fn=lambda: signal.signal(
                    signal.SIGINT, signal.SIG_IGN if sigint_ignored else signal.SIG_DFL
                ),
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for_line(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            assert self.process.poll() is None, f"demo exited early:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {needle!r} within {timeout}s:\n{self.text()}"
            time.sleep(0.1)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"demo still running after {timeout}s:\n{self.text()}")

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def assert_nothing_left(self) -> None:
        deadline = time.monotonic() + 5
        while self.group_alive():
            assert time.monotonic() < deadline, "a child process of the demo outlived it"
            time.sleep(0.1)

    def members(self) -> list[int]:
        """Pids of the live processes in its group other than the demo itself (zombies excluded)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.process.pid:
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == self.process.pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
        return found

    def kill_group(self) -> None:
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def run_demo(tmp_path: Path) -> Iterator[type[DemoRun]]:
    started: list[DemoRun] = []

    class Tracked(DemoRun):
        def __init__(self, *args: str, sigint_ignored: bool = False) -> None:
            super().__init__(tmp_path, *args, sigint_ignored=sigint_ignored)
            started.append(self)

    yield Tracked
    for run in started:
        run.kill_group()


def summary_field(output: str, label: str) -> str:
    match = re.search(rf"^  {label}: (\S+)", output, re.MULTILINE)
    assert match, f"no {label!r} line in the summary:\n{output}"
    return match.group(1)


def test_demo_crash_failover_end_to_end(run_demo: type[DemoRun], tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    run = run_demo("--plain", "--timings", f"{LD}/{RD}/{RP}", "--json-summary", str(summary_path))
    status = run.wait(60)
    output = run.text()
    assert status == 0, output
    assert "\x1b" not in output and "Traceback" not in output, output

    failover = float(summary_field(output, "Failover"))
    old, new = summary_field(output, "Old leader"), summary_field(output, "New leader")
    assert old != new
    # A crash: nobody takes over before the lease could expire (the last renewal was at most ~RP before the
    # kill), and somebody does by LD + 4.4·RP (see Timings.crash_bound) plus polling slack.
    assert LD - RP - 0.5 <= failover <= Timings(LD, RD, RP).crash_bound + 0.5, output
    children_line = next(line for line in output.splitlines() if line.startswith("  Children: "))
    for child in (*CHILDREN, "Deployment/elector"):
        assert child in children_line

    summary = json.loads(summary_path.read_text())
    assert summary["oldLeader"] == old and summary["newLeader"] == new
    assert {old, new} <= set(summary["pods"]) and len(summary["pods"]) == 3
    assert summary["failoverSeconds"] == pytest.approx(failover, abs=0.01)
    assert summary["boundSeconds"] == pytest.approx(LD + 4.4 * RP)
    assert summary["withinBound"] is True
    # Then the new leader's pod is deleted: its elector is stopped as a kubelet would, a standby takes
    # over, and a replacement pod campaigns.
    deletion = summary["podDeletion"]
    assert deletion["oldLeader"] == new and deletion["newLeader"] not in (new, "")
    assert f"Pod {new} is gone: stopping its elector" in output
    replacement = re.search(r"Pod (\S+) appeared: starting its elector", output)
    assert replacement and replacement.group(1) not in summary["pods"], output
    assert summary["statusHolder"] == deletion["newLeader"]  # the operator's status followed the Lease
    assert summary["leaseTransitions"] == 3
    assert f"LeaderChanged: Leader changed from {old} to {new}" in output
    run.assert_nothing_left()


def test_interrupt_stops_every_child_and_exits_130(run_demo: type[DemoRun]) -> None:
    run = run_demo("--plain", "--timings", f"{LD}/{RD}/{RP}")
    run.wait_for_line("== Crashing the leader", timeout=40)
    run.process.send_signal(signal.SIGINT)  # the demo alone: it must stop the operator and electors itself
    status = run.wait(30)
    output = run.text()
    assert status == 130, output
    assert "Traceback" not in output, output
    assert "Interrupted" in output
    run.assert_nothing_left()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_clean_up_even_when_sigint_is_ignored(
    run_demo: type[DemoRun], stop_signal: signal.Signals
) -> None:
    run = run_demo("--plain", "--keep-running", "--timings", f"{LD}/{RD}/{RP}", sigint_ignored=True)
    run.wait_for_line("leads: it renews the Lease", timeout=40)
    run.process.send_signal(stop_signal)
    status = run.wait(30)
    output = run.text()
    assert status in (0, 130), output
    assert "Interrupted" in output and "Traceback" not in output, output
    run.assert_nothing_left()
    assert list(run.tmpdir.iterdir()) == [], "the demo removes its work folder"


def test_a_killed_demo_takes_its_children_with_it(run_demo: type[DemoRun]) -> None:
    run = run_demo("--plain", "--keep-running", "--timings", f"{LD}/{RD}/{RP}")
    run.wait_for_line("leads: it renews the Lease", timeout=40)  # every elector has started by then
    children = run.members()
    assert len(children) >= 4, f"the operator and three electors: {children}\n{run.text()}"
    run.process.kill()  # no finally, no signal handler: only the kernel can stop the children now
    run.process.wait(10)
    deadline = time.monotonic() + 5
    while left := [pid for pid in children if not process_gone(pid)]:
        assert time.monotonic() < deadline, f"children outlived the SIGKILLed demo: {left}"
        time.sleep(0.1)


@pytest.mark.real_cluster_only("runs the demo in a fresh namespace of the real cluster")
def test_demo_against_a_real_cluster(run_demo: type[DemoRun], real_backend: RealBackend) -> None:
    kubeconfig = str(real_backend.kubeconfig)
    run = run_demo("--plain", "--timings", f"{LD}/{RD}/{RP}", "--replicas", "2", "--kubeconfig", kubeconfig)
    status = run.wait(120)
    assert status == 0, run.text()
    assert "Deleting the namespace leadergroup-demo-" in run.text()
    run.assert_nothing_left()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--timings", "3/3/1"], "lease duration must be greater than renew deadline"),
        (["--timings", "3/2/2"], "renew deadline must be greater than 1.2 x retry period"),
        (["--timings", "0/0/0"], "at least 1s"),
        (["--timings", "15s/10s/2s"], "whole seconds"),
        (["--replicas", "1"], "a failover needs a second candidate"),
    ],
)
def test_bad_options_exit_2_with_the_reason(
    args: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert reason in capsys.readouterr().err


def test_timings_bounds() -> None:
    timings = parse_timings("15/10/2")
    assert timings.expiry_bound == pytest.approx(19.4)
    assert timings.crash_bound == pytest.approx(23.8)


def test_panel_fits_the_terminal() -> None:
    name = "elector-5644c5f84f-frs5n"
    snapshot = Snapshot(
        taken=0.0,
        children=(*CHILDREN, "Deployment/elector", "PodDisruptionBudget/elector"),
        lease=LeaseState(name, 3, "2026-07-24T12:00:00.000000Z", 15),
        group=GroupStatus(name, "3/3", 3, (("Ready", "True", "LeaseHeld"), ("Stalled", "False", ""))),
        events=(EventLine("12:00:00", "LeaderChanged", f"Leader changed from (none) to {name}"),),
        electors=(ElectorState(name, 4242, "leading", "leader"),),
    )
    lines = panel(snapshot, "LeaderGroup demo/elector", 60)
    assert all(len(text) <= 60 for _, text in lines)
    assert any(style == "leader" and name in text for style, text in lines)
    assert any("Deployment/elector" in text for _, text in lines)


def event(version: str, stamp: str, reason: str) -> dict[str, object]:
    return {
        "metadata": {"name": reason, "resourceVersion": version},
        "lastTimestamp": stamp,
        "reason": reason,
    }


def test_latest_events_order_numeric_resource_versions_as_numbers() -> None:
    same_second = "2026-07-24T12:00:00Z"
    items = [
        event("10", same_second, "tenth"),
        event("9", same_second, "ninth"),
        event("11", same_second, "last"),
    ]
    assert [e["reason"] for e in latest_events(items, 2)] == ["tenth", "last"]


def test_latest_events_fall_back_to_timestamps_for_opaque_versions() -> None:
    items = [
        event("b", "2026-07-24T12:00:09.5Z", "late"),
        event("a", "2026-07-24T12:00:10+00:00", "latest"),
        event("c", "2026-07-24T12:00:01.000000Z", "early"),
    ]
    assert [e["reason"] for e in latest_events(items, 5)] == ["early", "late", "latest"]


def test_children_are_complete_only_with_every_expected_kind() -> None:
    assert has_expected_children([*CHILDREN, "Deployment/elector"])
    # Five entries, but no Deployment yet: still being created.
    assert not has_expected_children([*CHILDREN, "PodDisruptionBudget/elector"])
