"""Elector processes (``python -m leadergroup.elector``) against the ``cluster``, and their leading logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.cluster import Cluster

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import LEASES

TEST_TIMING = ("-lease-duration=3s", "-renew-deadline=2s", "-retry-period=1s")
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 3.0, 2.0, 1.0


@dataclass
class Interval:
    """One term of leadership of one elector, in wall-clock seconds."""

    identity: str
    start: float
    end: float
    closed_by: str  # "stopped", "killed" or "running"


@dataclass
class ElectorProcess:
    """One elector process and where it writes."""

    identity: str
    process: subprocess.Popen[bytes]
    leading_log: Path
    output: Path
    killed_at: float | None = None
    program: str = "leadergroup-elector"
    # (SIGSTOP time, SIGCONT time or None while frozen): a frozen leader cannot act, and once its renew
    # deadline has passed it must not act any more, so its term counts until the freeze + renew deadline.
    freezes: list[tuple[float, float | None]] = field(default_factory=list)
    renew_deadline: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def events(self) -> list[dict[str, Any]]:
        """The leading log's events so far."""
        if not self.leading_log.exists():
            return []
        return [json.loads(line) for line in self.leading_log.read_text().splitlines() if line.strip()]

    def is_leading(self) -> bool:
        """Whether its last logged event is ``started`` and it is alive."""
        events = self.events()
        return bool(events) and events[-1]["event"] == "started" and self.process.poll() is None

    def started_count(self) -> int:
        """How many terms it has started."""
        return sum(1 for event in self.events() if event["event"] == "started")

    def intervals(self) -> list[Interval]:
        """Its leading intervals; a term cut by SIGKILL ends at the kill, an open one at now.

        A term during which the process was frozen for longer than its renew deadline ends at the freeze
        plus the renew deadline: by then every client-go-compatible elector has given up leading.
        """
        intervals: list[Interval] = []
        start: float | None = None
        for event in self.events():
            if event["event"] == "started":
                assert start is None, f"{self.identity}: started twice without stopping"
                start = event["t"]
            elif event["event"] == "stopped" and start is not None:
                intervals.append(self._cut_by_freezes(Interval(self.identity, start, event["t"], "stopped")))
                start = None
        if start is not None:
            if self.killed_at is not None:
                intervals.append(Interval(self.identity, start, self.killed_at, "killed"))
            else:
                intervals.append(Interval(self.identity, start, time.time(), "running"))
            intervals[-1] = self._cut_by_freezes(intervals[-1])
        return intervals

    def _cut_by_freezes(self, term: Interval) -> Interval:
        for frozen, thawed in self.freezes:
            gave_up = frozen + self.renew_deadline
            if term.start <= frozen < term.end and (thawed is None or thawed > gave_up):
                return Interval(term.identity, term.start, min(term.end, gave_up), "frozen")
        return term

    def log(self) -> str:
        """Its stderr so far."""
        return self.output.read_text(errors="replace") if self.output.exists() else ""


class Fleet:
    """Starts electors on one Lease of the cluster and keeps track of them."""

    def __init__(
        self, cluster: Cluster, workdir: Path, lease_name: str = "fleet", kubeconfig: Path | None = None
    ) -> None:
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.cluster = cluster
        self.workdir = workdir
        self.lease_name = lease_name
        self.electors: dict[str, ElectorProcess] = {}

    def start(
        self,
        identity: str,
        *,
        mode: str | None = None,
        flags: tuple[str, ...] = (),
        command: list[str] | None = None,
        kubeconfig: Path | None = None,
    ) -> ElectorProcess:
        """Start ``python -m leadergroup.elector [mode] ...`` as ``identity`` (``kubeconfig``: its own)."""
        leading_log = self.workdir / f"leading-{identity}.jsonl"
        output = self.workdir / f"elector-{identity}.log"
        argv = [sys.executable, "-m", "leadergroup.elector"]
        if mode:
            argv.append(mode)
        argv += [
            f"-id={identity}",
            f"-lease-lock-name={self.lease_name}",
            f"-lease-lock-namespace={self.cluster.namespace}",
            f"-kubeconfig={kubeconfig or self.kubeconfig}",
            f"-leading-log={leading_log}",
            *TEST_TIMING,
            *flags,
        ]
        if command is not None:
            argv += ["--", *command]
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("POD_", "LEASE_", "RENEW_", "RETRY_"))
        }
        with output.open("wb") as stream:
            process = subprocess.Popen(argv, stdout=stream, stderr=subprocess.STDOUT, env=env)
        elector = ElectorProcess(identity, process, leading_log, output)
        self.electors[identity] = elector
        return elector

    def start_clientgo(
        self,
        identity: str,
        binary: Path,
        timing: tuple[str, ...] = TEST_TIMING,
        kubeconfig: Path | None = None,
    ) -> ElectorProcess:
        """Start the blog's client-go program (tests/elector/clientgo) as ``identity``."""
        leading_log = self.workdir / f"leading-{identity}.jsonl"
        output = self.workdir / f"elector-{identity}.log"
        argv = [
            str(binary),
            f"-id={identity}",
            f"-lease-lock-name={self.lease_name}",
            f"-lease-lock-namespace={self.cluster.namespace}",
            f"-kubeconfig={kubeconfig or self.kubeconfig}",
            f"-leading-log={leading_log}",
            *timing,
        ]
        if self.cluster.emulator is not None:
            argv.append("-content-type=application/json")  # the emulator speaks JSON only
        with output.open("wb") as stream:
            process = subprocess.Popen(argv, stdout=stream, stderr=subprocess.STDOUT)
        elector = ElectorProcess(identity, process, leading_log, output, program="clientgo-elector")
        self.electors[identity] = elector
        return elector

    def freeze(self, identity: str, renew_deadline: float) -> None:
        """SIGSTOP: the process keeps its state but runs no code until thawed."""
        elector = self.electors[identity]
        elector.process.send_signal(signal.SIGSTOP)
        elector.freezes.append((time.time(), None))
        elector.renew_deadline = renew_deadline

    def thaw(self, identity: str) -> None:
        """SIGCONT a frozen elector."""
        elector = self.electors[identity]
        elector.process.send_signal(signal.SIGCONT)
        frozen, _ = elector.freezes[-1]
        elector.freezes[-1] = (frozen, time.time())

    def kill(self, identity: str) -> None:
        """SIGKILL; the moment is recorded as the end of any open term."""
        elector = self.electors[identity]
        elector.process.send_signal(signal.SIGKILL)
        elector.killed_at = time.time()
        elector.process.wait(timeout=10)

    def terminate(self, identity: str, timeout: float = 15) -> int:
        """SIGTERM and wait; returns the exit status."""
        elector = self.electors[identity]
        elector.process.send_signal(signal.SIGTERM)
        return elector.process.wait(timeout=timeout)

    def alive(self) -> list[ElectorProcess]:
        """Electors whose process runs."""
        return [e for e in self.electors.values() if e.process.poll() is None]

    def leaders(self) -> list[ElectorProcess]:
        """Electors currently in a term (per their leading logs)."""
        return [e for e in self.electors.values() if e.is_leading()]

    def intervals(self) -> list[Interval]:
        """Every term of every elector, by start."""
        return sorted((i for e in self.electors.values() for i in e.intervals()), key=lambda i: i.start)

    def close(self) -> None:
        """Stop what still runs (SIGTERM, then SIGKILL)."""
        for elector in self.alive():
            elector.process.send_signal(signal.SIGCONT)
            elector.process.send_signal(signal.SIGTERM)
        for elector in self.electors.values():
            try:
                elector.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                elector.process.kill()
                elector.process.wait(timeout=10)

    def logs(self) -> str:
        """All outputs, for failure messages."""
        return "\n".join(f"---- {e.identity} ----\n{e.log()[-4000:]}" for e in self.electors.values())


def overlaps(intervals: list[Interval]) -> list[tuple[Interval, Interval]]:
    """Pairs of terms of different electors that overlap in time."""
    found: list[tuple[Interval, Interval]] = []
    ordered = sorted(intervals, key=lambda i: i.start)
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            if second.start >= first.end:
                break
            if second.identity != first.identity:
                found.append((first, second))
    return found


async def read_lease(client: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The Lease, or None."""
    return await client.get_or_none(LEASES, name, namespace)


async def holder(client: KubeClient, namespace: str, name: str) -> str:
    """The Lease's holderIdentity ("" when none or no Lease)."""
    lease = await read_lease(client, namespace, name)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def process_gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaps counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")
