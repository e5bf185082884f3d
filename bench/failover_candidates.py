"""The candidate processes of the real-server failover bench, and what their logs of terms tell.

Every candidate (the blog's client-go program, or ``leadergroup-elector``) runs as a local process with a
pod's name as identity and appends ``{"event": "started"|"stopped", "id", "t"}`` lines to its own leading
log. A term that has no "stopped" line ended when its process was killed or frozen (no code of its own ran
after that), which the caller tells :func:`leaderless_seconds` through ``cut``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("client-go", "client-go+lg", "ours+lg")


@dataclass
class Candidate:
    """One candidate process and its log of terms."""

    identity: str
    process: subprocess.Popen[bytes]
    leading_log: Path
    output: Path | None = None  # what it logs (stdout and stderr)

    def started_running(self) -> bool:
        """Whether the process runs its own code yet: it has logged something (both log at start)."""
        return self.output is not None and self.output.exists() and self.output.stat().st_size > 0

    def has_seen(self, leader: str) -> bool:
        """Whether it has logged ``leader`` as the leader: it runs, and its view of the Lease is current.

        Both programs log "new leader elected: <id>" (client-go's OnNewLeader, ours' on_new_leader).
        Under a loaded CPU a process can take seconds to start; a fault before that would time its start.
        """
        if self.output is None or not self.output.exists():
            return False
        return f"new leader elected: {leader}" in self.output.read_text(errors="replace").lower()

    def events(self) -> list[tuple[str, float]]:
        """Its term boundaries so far: ("started" | "stopped", wall-clock time)."""
        if not self.leading_log.exists():
            return []
        lines = self.leading_log.read_text().splitlines()
        return [(event["event"], event["t"]) for event in map(json.loads, filter(str.strip, lines))]

    def starts(self) -> list[float]:
        """Wall-clock times at which it started leading."""
        return [t for event, t in self.events() if event == "started"]

    def leads(self) -> bool:
        """Whether its log says it leads now (a term started and not stopped)."""
        events = self.events()
        return bool(events) and events[-1][0] == "started"

    def terms(self, cut: float | None = None) -> list[tuple[float, float]]:
        """Its terms as (start, end); an open term ends at ``cut`` (killed or frozen), else never."""
        terms, started = [], None
        for event, t in self.events():
            if event == "started":
                started = t
            elif started is not None:
                terms.append((started, t))
                started = None
        if started is not None:
            terms.append((started, cut if cut is not None and cut >= started else float("inf")))
        return terms

    def kill(self) -> None:
        """SIGKILL it (frozen or not) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def batch_name(kind: str, failure: str) -> str:
    """The name stem of one batch's objects (``ours-lg-crash``, ``cg-eviction``): DNS-safe, short."""
    return f"{kind.replace('+', '-').replace('client-go', 'cg')}-{failure}"


def timing_flags(timing: tuple[int, int, int]) -> list[str]:
    lease, renew, retry = timing
    return [f"-lease-duration={lease}s", f"-renew-deadline={renew}s", f"-retry-period={retry}s"]


def start_candidate(
    kind: str,
    identity: str,
    lease: str,
    namespace: str,
    kubeconfig: Path,
    timing: tuple[int, int, int],
    workdir: Path,
    *,
    mode: Sequence[str] = (),
    command: Sequence[str] = (),
) -> Candidate:
    """Start one candidate of ``kind`` with ``identity`` on the Lease ``namespace/lease``.

    Ours takes a ``mode`` (``["sidecar", "-http-address=..."]``, ``["run"]``) and, for ``run``, the
    ``command`` it runs while leading.
    """
    from tests.controlplane.build import CLIENTGO_ELECTOR

    leading_log = workdir / f"leading-{identity}.jsonl"
    common = [
        f"-id={identity}",
        f"-lease-lock-name={lease}",
        f"-lease-lock-namespace={namespace}",
        f"-kubeconfig={kubeconfig}",
        f"-leading-log={leading_log}",
        *timing_flags(timing),
    ]
    if kind.startswith("client-go"):
        argv = [str(CLIENTGO_ELECTOR.bin_dir() / "clientgo-elector"), *common]
    else:
        argv = [
            sys.executable,
            "-m",
            "leadergroup.elector",
            *mode,
            *common,
            *(["--", *command] if command else []),
        ]
    output = workdir / f"elector-{identity}.log"
    with output.open("wb") as stream:
        process = subprocess.Popen(argv, stdout=stream, stderr=subprocess.STDOUT)
    return Candidate(identity, process, leading_log, output)


def leaderless_seconds(
    candidates: Iterable[Candidate], since: float, until: float, cut: Mapping[str, float] | None = None
) -> float:
    """How long within [since, until] no candidate led, by their logs (``cut``: when each was killed)."""
    cut = cut or {}
    spans = sorted(
        (max(start, since), min(end, until))
        for candidate in candidates
        for start, end in candidate.terms(cut.get(candidate.identity))
        if end > since and start < until
    )
    covered, reach = 0.0, since
    for start, end in spans:
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return max(0.0, (until - since) - covered)


def starts_after(candidates: Iterable[Candidate], since: float) -> list[float]:
    """Every term start after ``since``, in order: the leader changes that followed a fault."""
    return sorted(t for candidate in candidates for t in candidate.starts() if t >= since)


async def until(predicate: Any, within: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``predicate`` (plain or async) until it gives a true value; TimeoutError after ``within``."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {within:.0f}s")
        await asyncio.sleep(interval)
