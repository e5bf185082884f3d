"""The API server's own account of a window: its requests and their latency, from its ``/metrics``.

The audit log says who sent what; the API server's metrics say what serving it took. Two scrapes of
``apiserver_request_total`` and ``apiserver_request_duration_seconds``, before and after a window, give for
each kind of request (``VERB resource[/subresource]``) how many were served, at what rate, their latency
(mean, and p50/p99 interpolated within the histogram's buckets as PromQL's ``histogram_quantile`` does),
and the seconds spent serving them altogether: where the server's time went, for every client at once.
Durations are wall-clock in the server's handler; on a saturated machine they include waiting for a CPU.
WATCH and CONNECT are long-running and have no meaningful latency: they are counted, not timed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from leadergroup.kube import ApiError, KubeClient

REQUESTS = "apiserver_request"  # prometheus_client names a counter's family without ``_total``
DURATION = "apiserver_request_duration_seconds"
LONG_RUNNING = frozenset({"WATCH", "CONNECT"})

Kind = str  # "PATCH leadergroups/status"


@dataclass
class Scrape:
    """The request counters and the latency histogram of one ``/metrics`` answer, summed per kind."""

    requests: dict[Kind, float] = field(default_factory=dict)
    duration_sum: dict[Kind, float] = field(default_factory=dict)
    duration_count: dict[Kind, float] = field(default_factory=dict)
    # Cumulative counts per upper bound, as Prometheus exposes them (the last bound is +Inf).
    buckets: dict[Kind, dict[float, float]] = field(default_factory=dict)


def kind_of(labels: Mapping[str, str]) -> Kind:
    """``VERB resource[/subresource]`` of a sample's labels."""
    resource = labels.get("resource") or "-"
    subresource = labels.get("subresource")
    return (
        f"{labels.get('verb', '?')} {resource}/{subresource}"
        if subresource
        else f"{labels.get('verb', '?')} {resource}"
    )


def parse(text: str) -> Scrape:
    """Read a ``/metrics`` answer (Prometheus text format); every other metric is ignored."""
    scrape = Scrape()
    for family in text_string_to_metric_families(text):
        if family.name not in (REQUESTS, DURATION):
            continue
        for sample in family.samples:
            kind = kind_of(sample.labels)
            if sample.name == f"{REQUESTS}_total":
                scrape.requests[kind] = scrape.requests.get(kind, 0.0) + sample.value
            elif sample.name == f"{DURATION}_sum":
                scrape.duration_sum[kind] = scrape.duration_sum.get(kind, 0.0) + sample.value
            elif sample.name == f"{DURATION}_count":
                scrape.duration_count[kind] = scrape.duration_count.get(kind, 0.0) + sample.value
            elif sample.name == f"{DURATION}_bucket":
                bound = float(sample.labels["le"])
                counts = scrape.buckets.setdefault(kind, {})
                counts[bound] = counts.get(bound, 0.0) + sample.value
    return scrape


async def scrape(client: KubeClient) -> Scrape | None:
    """The API server's metrics now; None where it has none or they are not ours to read."""
    try:
        answer = await client.request("GET", "/metrics")
    except ApiError:  # ApiUnavailable included
        return None
    text = answer.get("raw")
    return parse(text) if isinstance(text, str) else None


def quantile(q: float, cumulative: Mapping[float, float]) -> float | None:
    """The q-quantile of a histogram's cumulative bucket counts, linear within the bucket it falls in.

    None without observations. A quantile in the +Inf bucket is reported as the highest finite bound.
    """
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] <= 0:
        return None
    rank = q * cumulative[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def window(before: Scrape, after: Scrape, seconds: float) -> dict[str, Any]:
    """What the API server served between two scrapes: totals, and per kind, busiest kinds first.

    Per kind: ``count``, ``per_second``; for kinds that are not long-running also ``total_s`` (seconds
    spent serving them), ``mean_ms``, ``p50_ms`` and ``p99_ms``.
    """
    seconds = max(seconds, 1e-9)
    kinds: dict[Kind, dict[str, Any]] = {}
    for kind, total in after.requests.items():
        count = total - before.requests.get(kind, 0.0)
        if count <= 0:
            continue
        row: dict[str, Any] = {"count": int(count), "per_second": round(count / seconds, 2)}
        verb = kind.split(" ", 1)[0]
        timed = after.duration_count.get(kind, 0.0) - before.duration_count.get(kind, 0.0)
        if verb not in LONG_RUNNING and timed > 0:
            spent = after.duration_sum.get(kind, 0.0) - before.duration_sum.get(kind, 0.0)
            previous = before.buckets.get(kind, {})
            delta = {bound: n - previous.get(bound, 0.0) for bound, n in after.buckets.get(kind, {}).items()}
            p50, p99 = quantile(0.5, delta), quantile(0.99, delta)
            row.update(
                {
                    "total_s": round(spent, 2),
                    "mean_ms": round(1000 * spent / timed, 2),
                    "p50_ms": None if p50 is None else round(1000 * p50, 2),
                    "p99_ms": None if p99 is None else round(1000 * p99, 2),
                }
            )
        kinds[kind] = row
    ordered = dict(sorted(kinds.items(), key=lambda item: (-item[1].get("total_s", 0.0), -item[1]["count"])))
    served = sum(row["count"] for row in kinds.values())
    return {
        "seconds": round(seconds, 1),
        "requests": served,
        "requests_per_second": round(served / seconds, 2),
        "serving_seconds": round(sum(row.get("total_s", 0.0) for row in kinds.values()), 2),
        "by_kind": ordered,
    }


async def served_since(client: KubeClient, before: Scrape | None, seconds: float) -> dict[str, Any] | None:
    """:func:`window` from the ``before`` scrape to now; None when either scrape had nothing to read."""
    after = await scrape(client) if before is not None else None
    return None if before is None or after is None else window(before, after, seconds)
