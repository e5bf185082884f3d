"""The API server's /metrics read into requests, latency and serving time per kind of request."""

from __future__ import annotations

import math

import pytest
from bench.apimetrics import kind_of, parse, quantile, window

LABELS = 'component="apiserver",dry_run="",group="{group}",resource="{resource}",scope="resource",subresource="{sub}",verb="{verb}",version="v1"'  # noqa: E501


def exposition(patches: int, seconds: float, buckets: dict[str, int], watches: int = 0) -> str:
    """A /metrics answer with PATCH leadergroups/status (timed) and WATCH pods (counted only)."""
    status = LABELS.format(group="leadergroup.dev", resource="leadergroups", sub="status", verb="PATCH")
    pods = LABELS.format(group="", resource="pods", sub="", verb="WATCH")
    lines = [
        "# HELP apiserver_request_total Counter of apiserver requests.",
        "# TYPE apiserver_request_total counter",
        f'apiserver_request_total{{code="200",{status}}} {patches - 1}',
        f'apiserver_request_total{{code="409",{status}}} 1',
        f'apiserver_request_total{{code="200",{pods}}} {watches}',
        "# HELP apiserver_request_duration_seconds Response latency.",
        "# TYPE apiserver_request_duration_seconds histogram",
        *(
            f'apiserver_request_duration_seconds_bucket{{{status},le="{le}"}} {n}'
            for le, n in buckets.items()
        ),
        f"apiserver_request_duration_seconds_sum{{{status}}} {seconds}",
        f"apiserver_request_duration_seconds_count{{{status}}} {patches}",
        f'apiserver_request_duration_seconds_bucket{{{pods},le="+Inf"}} {watches}',
        f"apiserver_request_duration_seconds_sum{{{pods}}} {600.0 * watches}",
        f"apiserver_request_duration_seconds_count{{{pods}}} {watches}",
        "# HELP etcd_request_total Unrelated.",
        "# TYPE etcd_request_total counter",
        "etcd_request_total 99",
    ]
    return "\n".join(lines) + "\n"


def test_kind_names_verb_resource_and_subresource() -> None:
    assert kind_of({"verb": "PATCH", "resource": "leadergroups", "subresource": "status"}) == (
        "PATCH leadergroups/status"
    )
    assert kind_of({"verb": "GET", "resource": "pods", "subresource": ""}) == "GET pods"
    assert kind_of({"verb": "GET"}) == "GET -"


def test_parse_sums_codes_and_keeps_only_request_metrics() -> None:
    scrape = parse(exposition(10, 0.5, {"0.005": 4, "0.01": 8, "+Inf": 10}, watches=2))
    assert scrape.requests == {"PATCH leadergroups/status": 10.0, "WATCH pods": 2.0}
    assert scrape.duration_count["PATCH leadergroups/status"] == 10.0
    assert scrape.buckets["PATCH leadergroups/status"] == {0.005: 4.0, 0.01: 8.0, math.inf: 10.0}


def test_quantile_interpolates_within_the_bucket() -> None:
    cumulative = {0.005: 4.0, 0.01: 8.0, math.inf: 10.0}
    assert quantile(0.5, cumulative) == pytest.approx(0.00625)  # 5th of 10: a quarter into (5 ms, 10 ms]
    assert quantile(0.25, cumulative) == pytest.approx(0.003125)  # within the first bucket, from 0
    assert quantile(0.99, cumulative) == 0.01  # beyond the last finite bound: that bound
    assert quantile(0.5, {0.005: 0.0, math.inf: 0.0}) is None
    assert quantile(0.5, {}) is None


def test_window_is_the_difference_between_two_scrapes() -> None:
    before = parse(exposition(10, 0.5, {"0.005": 4, "0.01": 8, "+Inf": 10}, watches=2))
    after = parse(exposition(30, 2.5, {"0.005": 4, "0.01": 28, "+Inf": 30}, watches=3))
    served = window(before, after, seconds=10.0)
    status = served["by_kind"]["PATCH leadergroups/status"]
    assert status["count"] == 20 and status["per_second"] == 2.0
    assert status["total_s"] == 2.0 and status["mean_ms"] == 100.0
    assert 5.0 < status["p50_ms"] < 10.0  # all 20 new ones fell in (5 ms, 10 ms]
    # A watch is counted, not timed: its "duration" is how long it stayed open.
    assert served["by_kind"]["WATCH pods"] == {"count": 1, "per_second": 0.1}
    assert served["requests"] == 21 and served["serving_seconds"] == 2.0
    assert list(served["by_kind"]) == ["PATCH leadergroups/status", "WATCH pods"]


def test_a_kind_with_nothing_new_is_left_out() -> None:
    same = parse(exposition(10, 0.5, {"+Inf": 10}))
    assert window(same, same, seconds=5.0)["by_kind"] == {}
