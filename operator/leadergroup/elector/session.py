"""What every mode of ``leadergroup-elector`` shares: Lease lock, elector, signals, leading log."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from leadergroup.elector.context import LeadershipContext
from leadergroup.elector.elector import LeaderElector, StartedCallback
from leadergroup.elector.kube_backend import KubeLeaseBackend
from leadergroup.elector.lock import LeaseLock
from leadergroup.elector.options import ElectorOptions
from leadergroup.kube import KubeClient

logger = logging.getLogger("leadergroup.elector")


class LeadingLog:
    """Appends ``{"event": "started"|"stopped", "id": ..., "t": time.time()}`` lines, one write per line.

    A safety checker reads every elector's file and checks that leading intervals never overlap.
    """

    def __init__(self, path: Path | None, identity: str) -> None:
        self.path = path
        self.identity = identity

    def write(self, event: str) -> None:
        """Append one event (no-op without a path)."""
        if self.path is None:
            return
        line = json.dumps({"event": event, "id": self.identity, "t": time.time()}) + "\n"
        # One O_APPEND write per line: lines of several processes sharing a file never interleave.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)


def build_elector(
    options: ElectorOptions,
    lock: LeaseLock,
    work: StartedCallback | None,
    *,
    on_stopped: Callable[[], None] | None = None,
) -> LeaderElector:
    """An elector with the CLI's logging and leading log around ``work``."""
    leading_log = LeadingLog(options.leading_log, options.identity)

    async def started(ctx: LeadershipContext) -> None:
        leading_log.write("started")
        logger.info("Started leading %s as %s", lock.describe(), options.identity)
        if work is not None:
            result = work(ctx)
            if asyncio.iscoroutine(result):
                await result
        else:
            await ctx.wait_ended()

    def stopped() -> None:
        leading_log.write("stopped")
        logger.info("Leader lost: %s", options.identity)
        if on_stopped is not None:
            on_stopped()

    def new_leader(identity: str) -> None:
        if identity == options.identity:
            return
        if identity:
            logger.info("New leader elected: %s", identity)
        else:
            logger.info("Lease %s has no holder", lock.describe())

    return LeaderElector(
        lock,
        options.timing,
        on_started_leading=started,
        on_stopped_leading=stopped,
        on_new_leader=new_leader,
        release_on_cancel=True,
        rejoin=options.rejoin,
    )


def install_stop_signals(elector: LeaderElector, before_exit: Callable[[], None] | None = None) -> None:
    """SIGTERM/SIGINT: stop the elector (release, exit); a second signal exits at once.

    ``before_exit`` runs just before that immediate exit: whatever must not outlive the elector (the
    command of ``run`` mode) is killed there, since ``os._exit`` skips every clean-up.
    """
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def handle(signum: int) -> None:
        received.append(signum)
        if len(received) > 1:
            logger.warning("Second signal %s: exiting now", signal.Signals(signum).name)
            if before_exit is not None:
                before_exit()
            os._exit(128 + signum)
        logger.info("Received %s: stopping", signal.Signals(signum).name)
        elector.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, handle, signum)


async def open_lock(options: ElectorOptions) -> tuple[KubeClient, LeaseLock]:
    """The API client and the Lease lock the options name."""
    client = KubeClient.auto(
        options.kubeconfig, request_timeout=max(options.timing.renew_deadline, options.timing.retry_period)
    )
    namespace = options.lease_namespace or client.namespace
    lock = LeaseLock(KubeLeaseBackend(client), namespace, options.lease_name, options.identity)
    return client, lock
