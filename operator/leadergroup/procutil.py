"""Process helpers: children that die with their parent, and the operator run as a local process.

The first serve the elector's ``run`` mode and the demo; the second the tests, the benchmarks and the
demo. Standard library only, and nothing of the operator's layers: the elector, which must stand apart
from the operator, uses it too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Resolved once, at import, before any fork: the child must not load libraries between fork and exec.
_PRCTL = _load_prctl()


def parent_death_signal(parent_pid: int, signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` that asks the kernel to send ``signum`` to the child when its parent dies (Linux).

    The signal fires when the *thread* that forked the child exits, not the process: spawn from a thread
    that lives as long as the parent (the main thread does). If the parent died between fork and prctl,
    the child exits at once instead of running as an orphan. It covers the child only, not the children
    the child starts in turn. Elsewhere than Linux it only does the orphan check.
    """

    def set_parent_death_signal() -> None:
        if _PRCTL is not None and _PRCTL(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent_pid:
            os._exit(126)

    return set_parent_death_signal


def signal_group(process_group: int, signum: int) -> None:
    """Send ``signum`` to a process group; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signum)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def operator_command(
    kubeconfig: str | os.PathLike[str],
    *,
    namespace: str | None,
    liveness_port: int,
    extra: Sequence[str] = (),
    python_options: Sequence[str] = (),
) -> list[str]:
    """The command line of a local operator process (tests, benchmarks and the demo run it this way).

    ``namespace`` None serves every namespace; ``python_options`` go before ``-m`` (a profiler, say).
    """
    scope = ["--namespace", namespace] if namespace else ["--all-namespaces"]
    return [
        sys.executable,
        *python_options,
        "-m",
        "leadergroup.cli.operator",
        "--kubeconfig",
        str(kubeconfig),
        *scope,
        "--liveness",
        f"http://127.0.0.1:{liveness_port}/healthz",
        *extra,
    ]


def wait_until_alive(
    process: subprocess.Popen[bytes], liveness_port: int, timeout: float, log: Callable[[], str]
) -> None:
    """Wait until the operator answers its liveness probe (Kopf answers once its startup handlers ran).

    Raises:
        RuntimeError: it exited or did not answer in time; the message ends with ``log()``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"operator exited with {process.returncode}:\n{log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{liveness_port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"operator not alive after {timeout}s:\n{log()}")
