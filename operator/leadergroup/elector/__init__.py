"""Kubernetes leader election for Python programs and for any program (``leadergroup-elector``).

client-go's ``leaderelection`` semantics over a ``coordination.k8s.io/v1`` Lease, on asyncio, with release
on shutdown, stop, and rejoin after a lost term::

    from leadergroup.elector import ElectionTiming, LeaderElector, LeaseLock, KubeLeaseBackend
    from leadergroup.kube import KubeClient

    async def work(ctx):
        while True:
            ...  # cancelled when leadership ends

    async with KubeClient.auto() as client:
        lock = LeaseLock(KubeLeaseBackend(client), "default", "my-lease", identity="pod-a")
        elector = LeaderElector(lock, ElectionTiming(15, 10, 2), on_started_leading=work)
        await elector.run()  # until elector.stop() or cancellation; then releases the Lease
"""

from __future__ import annotations

from leadergroup.elector.clock import Clock, ManualClock, SystemClock
from leadergroup.elector.context import LeadershipContext
from leadergroup.elector.elector import LeaderElector
from leadergroup.elector.kube_backend import KubeLeaseBackend
from leadergroup.elector.lock import LeaseBackend, LeaseBackendError, LeaseConflict, LeaseLock, LeaseNotFound
from leadergroup.elector.memory import MemoryLeaseStore
from leadergroup.elector.record import LeaderElectionRecord, format_micro_time, parse_micro_time
from leadergroup.elector.timing import ElectionTiming, InvalidTimingError, parse_duration

__all__ = [
    "Clock",
    "ElectionTiming",
    "InvalidTimingError",
    "KubeLeaseBackend",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeadershipContext",
    "LeaseBackend",
    "LeaseBackendError",
    "LeaseConflict",
    "LeaseLock",
    "LeaseNotFound",
    "ManualClock",
    "MemoryLeaseStore",
    "SystemClock",
    "format_micro_time",
    "parse_duration",
    "parse_micro_time",
]
