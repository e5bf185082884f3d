"""``leadergroup-elector run -- CMD ARGS...``: run a command only while leading.

* Leadership starts: CMD starts (in its own process group, with the parent-death signal set).
  Whatever CMD starts stays in that group unless it leaves it on purpose; the group is what gets signalled.
* Leadership lost: CMD gets SIGTERM, then SIGKILL once the grace period has passed. The grace period
  counts from the renew deadline (or from the moment another holder was seen, if earlier), and defaults
  to ``lease duration - renew deadline``: no other candidate can take the Lease before ``lease duration``
  after our last successful renewal was sent, and our renew deadline is ``renew deadline`` after it, so the
  old CMD is dead before a new one can start. The elector then rejoins and restarts CMD when it leads again.
* CMD exits by itself: the elector releases the Lease and exits with CMD's status.
* SIGTERM/SIGINT to the elector: CMD gets SIGTERM (SIGKILL after the grace period) while the elector keeps
  renewing the Lease; once CMD has exited the Lease is released and the elector exits with CMD's status (0
  if CMD was not running). A second signal SIGKILLs CMD's process group and exits at once.
* The elector dies, even by SIGKILL: the kernel kills CMD itself (``PR_SET_PDEATHSIG``). Nothing kills
  CMD's own children then: wrapper scripts should ``exec`` the real program (see docs/elector.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from leadergroup.elector.context import LeadershipContext
from leadergroup.elector.elector import LeaderElector
from leadergroup.elector.lock import LeaseLock
from leadergroup.elector.options import ElectorOptions
from leadergroup.elector.session import build_elector, install_stop_signals
from leadergroup.procutil import parent_death_signal, signal_group

logger = logging.getLogger("leadergroup.elector")


def exit_status(returncode: int) -> int:
    """A shell-style exit status: ``128 + N`` for a child killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


class CommandRunner:
    """Starts and stops CMD as leadership comes and goes; remembers the status the elector exits with."""

    def __init__(self, command: list[str], grace_period: float) -> None:
        self.command = command
        self.grace_period = grace_period
        self.exit_code = 0
        self.elector: LeaderElector | None = None
        self.process: asyncio.subprocess.Process | None = None
        # CMD's process group outlives CMD while any of its children do: remember it for the last resort.
        self.process_group: int | None = None

    async def lead(self, ctx: LeadershipContext) -> None:
        """``on_started_leading``: run CMD until it exits or leadership ends."""
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command,
                preexec_fn=parent_death_signal(os.getpid()),
                process_group=0,
            )
        except OSError as error:
            logger.error("Cannot start %s: %s", self.command[0], error)
            self.exit_code = 127 if isinstance(error, FileNotFoundError) else 126
            ctx.elector.stop()
            return
        self.process = process
        self.process_group = process.pid
        logger.info("Started %s (pid %d), term %d", " ".join(self.command), process.pid, ctx.term)
        try:
            returncode = await process.wait()
        except asyncio.CancelledError:
            await self._stop(process, ctx.elector)
            raise
        finally:
            self.process = None
        # What CMD left behind in its group must not run on after the Lease is released.
        signal_group(process.pid, signal.SIGKILL)
        self.process_group = None
        self.exit_code = exit_status(returncode)
        logger.info("Command exited with status %d while leading: releasing and exiting", self.exit_code)
        ctx.elector.stop()

    async def _stop(self, process: asyncio.subprocess.Process, elector: LeaderElector) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        # The safety margin counts from the renew deadline, not from when we noticed a loss. On a stop the
        # deadline lies ahead (the elector keeps renewing until CMD is gone), so the grace period counts
        # from now, which is never later than any deadline a failing renewal could leave us with.
        deadline = elector.renew_deadline_at
        base = now if deadline is None else min(now, deadline - elector.clock.monotonic() + now)
        kill_at = base + self.grace_period
        signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout=max(0.0, kill_at - loop.time()))
        except TimeoutError:
            logger.warning("Command pid %d did not exit in its grace period: SIGKILL", process.pid)
            signal_group(process.pid, signal.SIGKILL)
            await process.wait()
        # Members of CMD's process group outliving it would escape the Lease: kill the rest of the group.
        signal_group(process.pid, signal.SIGKILL)
        self.process_group = None
        self.exit_code = exit_status(process.returncode if process.returncode is not None else 0)
        logger.info("Command stopped with status %d", self.exit_code)

    def kill_now(self) -> None:
        """SIGKILL CMD's process group at once (the elector is about to exit without waiting)."""
        if self.process_group is not None:
            signal_group(self.process_group, signal.SIGKILL)


async def run_command(options: ElectorOptions, lock: LeaseLock) -> int:
    """Elect; run ``options.command`` while leading; return the status to exit with."""
    runner = CommandRunner(options.command, options.effective_grace_period)

    def forget_status_of_stopped_term() -> None:
        # A command stopped because leadership was lost does not decide the exit status: only the one
        # running when the elector ends (or that exits by itself) does.
        if runner.elector is not None and not runner.elector.stopping:
            runner.exit_code = 0

    elector = build_elector(options, lock, runner.lead, on_stopped=forget_status_of_stopped_term)
    runner.elector = elector
    install_stop_signals(elector, before_exit=runner.kill_now)
    await elector.run()
    return runner.exit_code
