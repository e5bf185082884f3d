"""Process helpers shared by the elector's ``run`` mode and the demo: children that die with their parent.

Standard library only: both the elector (which must stand apart from the operator) and the demo use it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable

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
