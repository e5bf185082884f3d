"""``leadergroup-elector``: the blog's Go elector as a command, plus ``run -- CMD`` and ``sidecar`` modes.

Modes:
    ``leadergroup-elector [FLAGS]``: elect; while leading, log a work loop (as the blog's program).
    ``leadergroup-elector run [FLAGS] -- CMD ARGS...``: run CMD only while leading (:mod:`.runner`).
    ``leadergroup-elector sidecar [FLAGS]``: elect and serve ``/leader`` and ``/healthz`` (:mod:`.sidecar`).

SIGTERM or SIGINT stops the elector: it stops leading, releases the Lease and exits. A second signal exits
at once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from leadergroup.elector.context import LeadershipContext
from leadergroup.elector.lock import LeaseLock
from leadergroup.elector.options import ElectorOptions, UsageError, parse_args
from leadergroup.elector.runner import run_command
from leadergroup.elector.session import build_elector, install_stop_signals, open_lock
from leadergroup.elector.sidecar import serve_sidecar
from leadergroup.kube import ConfigError

logger = logging.getLogger("leadergroup.elector")
PROG = "leadergroup-elector"
WORK_LOG_INTERVAL = 5.0


async def elect(options: ElectorOptions, lock: LeaseLock) -> int:
    """The blog's program: log the leader; while leading, log a work loop; exit 0 when stopped."""

    async def work_loop(ctx: LeadershipContext) -> None:
        while True:
            logger.info("Controller loop... (%s leads %s)", options.identity, lock.describe())
            await asyncio.sleep(WORK_LOG_INTERVAL)

    elector = build_elector(options, lock, work_loop)
    install_stop_signals(elector)
    await elector.run()
    return 0


async def _serve(options: ElectorOptions) -> int:
    client, lock = await open_lock(options)
    try:
        logger.info(
            "Electing on Lease %s as %s (%s)", lock.describe(), options.identity, options.timing.describe()
        )
        if options.mode == "run":
            return await run_command(options, lock)
        if options.mode == "sidecar":
            return await serve_sidecar(options, lock)
        return await elect(options, lock)
    finally:
        await client.close()


def configure_logging(verbosity: int) -> None:
    """Timestamps on stderr; ``-v 4`` or more shows debug messages."""
    logging.basicConfig(
        level=logging.DEBUG if verbosity >= 4 else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``leadergroup-elector`` console script; returns the exit status."""
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        print(f"Run '{PROG} -h' for usage.", file=sys.stderr)
        return 2
    configure_logging(options.verbosity)
    try:
        return asyncio.run(_serve(options))
    except (ConfigError, UsageError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
