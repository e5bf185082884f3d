"""Prometheus metrics, computed at scrape time from the controller's state (no global counters to sync).

Per group (labels ``namespace``, ``group``): whether a holder is present, leader changes and
leaderless seconds since this process started, reconcile count and duration, errors by reason, and
fast-failover releases. Per process: the watch streams replaced, by resource and reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from leadergroup.kube.liveness import WATCHES, WatchBook
from leadergroup.reconcile import GroupController

LABELS = ["namespace", "group"]


class GroupCollector(Collector):
    """Reads every known group's state on each scrape."""

    def __init__(self, controller: GroupController) -> None:
        self.controller = controller

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | SummaryMetricFamily]:
        """Yield the metric families."""
        now = time.monotonic()
        present = GaugeMetricFamily(
            "leadergroup_holder_present", "1 while a replica holds the group's Lease", labels=LABELS
        )
        stalled = GaugeMetricFamily("leadergroup_stalled", "1 while the group is Stalled", labels=LABELS)
        changes = CounterMetricFamily(
            "leadergroup_leader_changes", "New holders observed since the operator started", labels=LABELS
        )
        leaderless = CounterMetricFamily(
            "leadergroup_leaderless_seconds", "Seconds the Lease had no holder", labels=LABELS
        )
        releases = CounterMetricFamily(
            "leadergroup_failover_releases",
            "Leases released because the holder's pod was deleted or its elector exited",
            labels=LABELS,
        )
        reconciles = SummaryMetricFamily(
            "leadergroup_reconcile_duration_seconds", "Time spent reconciling the group", labels=LABELS
        )
        errors = CounterMetricFamily(
            "leadergroup_reconcile_errors",
            "Failed or stalled reconciles by reason",
            labels=[*LABELS, "reason"],
        )
        for (namespace, name), state in list(self.controller.groups.items()):
            if not state.known:
                continue
            labels = [namespace, name]
            counters = state.counters
            if state.lease is not None:  # unknown until the Lease has been seen
                present.add_metric(labels, 1.0 if state.lease.holder else 0.0)
            stalled.add_metric(labels, 1.0 if state.stall else 0.0)
            changes.add_metric(labels, counters.leader_changes)
            leaderless.add_metric(labels, counters.leaderless_total(now))
            releases.add_metric(labels, counters.failover_releases)
            reconciles.add_metric(
                labels, count_value=counters.reconciles, sum_value=counters.reconcile_seconds
            )
            for reason, count in sorted(counters.errors.items()):
                errors.add_metric([*labels, reason], count)
        yield from (present, stalled, changes, leaderless, releases, reconciles, errors)


class WatchCollector(Collector):
    """The process's watch streams replaced, by resource and reason (:mod:`leadergroup.kube.liveness`)."""

    def __init__(self, watches: WatchBook) -> None:
        self.watches = watches

    def collect(self) -> Iterator[CounterMetricFamily]:
        """Yield ``leadergroup_watch_restarts_total``."""
        restarts = CounterMetricFamily(
            "leadergroup_watch_restarts",
            "Watch streams replaced, by reason: idle (silent past the idle bound: a dead connection), "
            "error (failed or refused), expired (410: listed again), server-closed (the server's timeout)",
            labels=["resource", "reason"],
        )
        for resource, reason, count in self.watches.restart_counts():
            restarts.add_metric([resource, reason], count)
        yield restarts


def serve(
    controller: GroupController,
    port: int,
    address: str = "0.0.0.0",  # noqa: S104
    watches: WatchBook = WATCHES,
) -> CollectorRegistry:
    """Serve ``/metrics`` on ``address:port`` in a background thread; returns the registry it serves."""
    registry = CollectorRegistry()
    registry.register(GroupCollector(controller))
    registry.register(WatchCollector(watches))
    start_http_server(port, addr=address, registry=registry)
    return registry
