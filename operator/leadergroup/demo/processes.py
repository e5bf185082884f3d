"""The demo's child processes: the real operator and one real elector per pod.

Children stay in the demo's process group, so a Ctrl-C in the terminal reaches them too (an elector then
releases the Lease, the operator stops), and whoever runs the demo can end the whole group at once.
:meth:`Children.stop_all` is called from ``finally`` blocks and is idempotent: nothing is left behind.
If the demo is killed outright (SIGKILL, no ``finally``), the kernel kills its children (parent-death
signal); they would otherwise poll an API server that died with the demo, forever.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from leadergroup.demo.options import Timings
from leadergroup.procutil import free_port, operator_command, parent_death_signal

# Env the operator injects into pods; a developer's shell may carry it, and the electors would read it.
_POD_ENV_PREFIXES = ("POD_", "LEASE_", "RENEW_DEADLINE", "RETRY_PERIOD")


class ChildFailed(Exception):
    """A child process exited or did not come up; the message carries the end of its log."""


@dataclass
class Child:
    """One child process and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    leading_log: Path | None = None
    killed: bool = False

    @property
    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.process.pid

    def leading(self) -> bool:
        """Whether its leading log says it is in a term (and it runs)."""
        if self.leading_log is None or not self.leading_log.exists() or not self.alive:
            return False
        last = ""
        for line in self.leading_log.read_text(encoding="utf-8").splitlines():
            try:
                last = str(json.loads(line).get("event", "")) if line.strip() else last
            except json.JSONDecodeError:
                continue  # a line being written right now
        return last == "started"

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of its output."""
        if not self.log.exists():
            return "(no output)"
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(no output)"


def _child_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(_POD_ENV_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Children:
    """Starts, kills and stops the demo's processes; their logs go to ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.operator: Child | None = None
        self.electors: dict[str, Child] = {}
        self._liveness_port = 0
        self._starts: dict[str, int] = {}

    def _spawn(self, name: str, argv: list[str], leading_log: Path | None = None) -> Child:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as stream:
            # Spawned from the main thread: the parent-death signal fires when the forking thread exits.
            process = subprocess.Popen(
                argv,
                stdout=stream,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_child_env(),
                preexec_fn=parent_death_signal(os.getpid()),
            )
        return Child(name, process, log, leading_log)

    def start_operator(self, kubeconfig: Path, namespace: str) -> Child:
        """``leadergroup-operator --standalone`` serving only the demo's namespace."""
        self._liveness_port = free_port()
        argv = operator_command(
            kubeconfig, namespace=namespace, liveness_port=self._liveness_port, extra=["--standalone"]
        )
        self.operator = self._spawn("operator", argv)
        return self.operator

    def check_operator(self) -> None:
        """Raise if the operator process has exited (a process poll only: no I/O, cheap on the event loop).

        Raises:
            ChildFailed: the operator exited.
        """
        if self.operator is not None and not self.operator.alive:
            raise ChildFailed(
                f"the operator exited with status {self.operator.process.returncode}:\n"
                f"{self.operator.log_tail()}"
            )

    def operator_alive(self) -> bool:
        """Whether the operator answers its liveness probe (Kopf is up and watching); blocks up to 1 s.

        Raises:
            ChildFailed: the operator exited.
        """
        if self.operator is None:
            return False
        self.check_operator()
        try:
            url = f"http://127.0.0.1:{self._liveness_port}/healthz"
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            return False

    def start_elector(
        self, identity: str, lease: str, namespace: str, kubeconfig: Path, timings: Timings
    ) -> Child:
        """The blog's elector program as ``identity`` (a pod's name), logging its terms as JSON lines."""
        # A file per process: a restarted elector must not inherit the "started" of the one that crashed.
        self._starts[identity] = self._starts.get(identity, 0) + 1
        run = self._starts[identity]
        leading_log = self.workdir / f"leading-{identity}-{run}.jsonl"
        argv = [
            sys.executable,
            "-m",
            "leadergroup.elector",
            "-id",
            identity,
            "-lease-lock-name",
            lease,
            "-lease-lock-namespace",
            namespace,
            "-kubeconfig",
            str(kubeconfig),
            "-lease-duration",
            f"{timings.lease_duration}s",
            "-renew-deadline",
            f"{timings.renew_deadline}s",
            "-retry-period",
            f"{timings.retry_period}s",
            "-leading-log",
            str(leading_log),
        ]
        child = self._spawn(f"elector-{identity}-{run}", argv, leading_log)
        self.electors[identity] = child
        return child

    def kill(self, identity: str) -> float:
        """SIGKILL one elector (a crash: it cannot release the Lease); returns the monotonic kill time."""
        child = self.electors[identity]
        child.process.send_signal(signal.SIGKILL)
        moment = time.monotonic()
        child.killed = True
        child.process.wait(timeout=10)
        return moment

    def terminate(self, identity: str, grace: float) -> None:
        """Stop one elector as a kubelet stops a container: SIGTERM, SIGKILL after ``grace`` seconds."""
        _terminate([self.electors[identity]], grace)

    def stop_all(self, timeout: float = 10.0, report: Callable[[str], None] | None = None) -> None:
        """SIGTERM every elector (they release the Lease), then the operator; SIGKILL what lingers."""
        electors = [child for child in self.electors.values() if child.alive]
        if electors and report:
            report(f"Stopping {len(electors)} elector(s) with SIGTERM (a leader releases the Lease)")
        _terminate(electors, timeout)
        if self.operator is not None and self.operator.alive:
            if report:
                report("Stopping the operator")
            _terminate([self.operator], timeout)

    async def stop_all_async(self, report: Callable[[str], None] | None = None) -> None:
        """:meth:`stop_all` off the event loop, so other tasks keep running meanwhile."""
        await asyncio.to_thread(self.stop_all, 10.0, report)


def _terminate(children: list[Child], timeout: float) -> None:
    for child in children:
        if child.alive:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
