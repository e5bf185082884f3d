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
    workdir = Path(tempfile.mkdtemp(prefix="leadergroup-demo-"))
    demo = Demo(options, workdir)
    keep_logs = False
    try:
        asyncio.run(_run_until_signalled(demo))
        return 0
    except (KeyboardInterrupt, asyncio.CancelledError):
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


async def _run_until_signalled(demo: Demo) -> None:
    """Run the demo; SIGTERM and SIGHUP cancel it as Ctrl-C does, so it cleans up the same way.

    A CI timeout or a closed terminal must not leave electors polling forever. The handlers cancel the
    task directly rather than raising SIGINT: a shell that starts ``cmd &`` without job control starts it
    with SIGINT ignored, and asyncio then installs no SIGINT handler at all.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(stop_signal, task.cancel)
    await demo.run()
