"""``leadergroup demo``: see a LeaderGroup work in under a minute, without a cluster.

An emulated API server (or your cluster with ``--kubeconfig``), the real operator as a local process, the
blog's setup applied as one LeaderGroup, one real elector process per pod; then the leader crashes and the
demo measures how long the others take to replace it. See docs/demo.md.

Exit status: 0 done, 1 a step failed (the reason and the end of the logs are printed), 2 bad options,
130 interrupted (Ctrl-C; with ``--keep-running`` Ctrl-C after the summary is the normal end: 0).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from leadergroup.demo.backends import DemoError
from leadergroup.demo.options import parse_args
from leadergroup.demo.scenario import Demo
from leadergroup.kube import ApiError

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run the demo with ``argv`` (the arguments after ``demo``) and return the exit status."""
    try:
        options = parse_args(argv)
    except SystemExit as stop:  # argparse: --help (0) or a bad option (2, already explained)
        return stop.code if isinstance(stop.code, int) else 2
    # Our own HTTP client and the emulator log connection hiccups at WARNING; the view says what matters.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    # A CI timeout or a closed terminal must clean up as Ctrl-C does, not leave electors polling forever.
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _as_interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="leadergroup-demo-"))
    demo = Demo(options, workdir)
    keep_logs = False
    try:
        asyncio.run(demo.run())
        return 0
    except KeyboardInterrupt:
        demo.abandon()  # the first Ctrl-C already cleaned up inside the loop; a second one lands here
        print("\nInterrupted: every process the demo started has been stopped.", flush=True)
        return 0 if options.keep_running and demo.summary is not None else 130
    except (DemoError, ApiError) as error:  # an API refusal the steps did not expect: no traceback
        keep_logs = True
        demo.abandon()
        print(f"\nThe demo failed: {error}", file=sys.stderr)
        print(f"Logs of the operator and the electors: {workdir}", file=sys.stderr)
        return 1
    finally:
        demo.view.close()
        if not keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    signal.raise_signal(signal.SIGINT)  # asyncio.run turns SIGINT into cancelling the demo's task
