"""Run the real operator (``leadergroup-operator``, i.e. Kopf) as a local process for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from leadergroup.procutil import free_port, operator_command, wait_until_alive

__all__ = ["OperatorProcess", "free_port"]


class OperatorProcess:
    """One operator process; its log goes to a file that failing tests print."""

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str | None,
        log_path: Path,
        *extra_args: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.extra_env = env or {}
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log_path = log_path
        self.extra_args = extra_args
        self.liveness_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The command line it runs."""
        extra = ["--verbose", *self.extra_args]
        return operator_command(
            self.kubeconfig, namespace=self.namespace, liveness_port=self.liveness_port, extra=extra
        )

    def start(self, timeout: float = 30.0) -> OperatorProcess:
        """Start it and wait until Kopf reports itself alive."""
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "LEADERGROUP_STALLED_RETRY_SECONDS": "1",
            **self.extra_env,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until_alive(self.process, self.liveness_port, timeout, self.log)
        return self

    def log(self) -> str:
        """Everything it logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        """SIGKILL."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait()
