"""The tables and targets of bench/scale.py: Markdown for docs/benchmarks.md, from the runs' JSON."""

from __future__ import annotations

from typing import Any

from bench.common import fmt, print_table
from bench.realcluster import PIPELINE

# The targets. Convergence and memory are stated for 1,000 groups; smaller runs are shown against
# them for reference (they should meet them with a wide margin).
TARGET_CONVERGENCE_SECONDS = 60.0
# Issue 13: at most 14 operator writes per new group with every feature on, each listed in docs/benchmarks.md.
TARGET_WRITES_PER_GROUP = 14.0
TARGET_IDLE_WRITES = 0
TARGET_LAG_P99_MS = 250.0
TARGET_PEAK_RSS_MB = 150.0
# The least a new group can cost: ServiceAccount, Role, RoleBinding, Lease, Deployment, and one status write.
FLOOR_WRITES_PER_GROUP = 6


def targets(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets next to this run's figures."""

    def check(name: str, value: Any, target: str, met: bool | None, note: str = "") -> dict[str, Any]:
        return {"metric": name, "value": value, "target": target, "met": met, "note": note}

    at_scale = "" if run["groups"] >= 1000 else "stated for 1,000 groups"
    seconds = run["convergence"]["seconds"]
    writes = run["requests"]["writes_per_group"]
    idle_writes = run["idle"]["writes"]
    p99 = run["lag"]["p99_ms"]
    rss = run["memory"]["peak_rss_mb"]
    lag_met = None if p99 is None else p99 <= TARGET_LAG_P99_MS
    idle_met = None if idle_writes is None else idle_writes == TARGET_IDLE_WRITES
    writes_met = None if writes is None else writes <= TARGET_WRITES_PER_GROUP
    converged_met = seconds is not None and seconds <= TARGET_CONVERGENCE_SECONDS
    rss_note = ("profiled run: inflated; " if run["profiled"] else "") + at_scale
    writes_target = f"<= {TARGET_WRITES_PER_GROUP:.0f} (floor {FLOOR_WRITES_PER_GROUP})"
    return [
        check("convergence s", seconds, f"<= {TARGET_CONVERGENCE_SECONDS:.0f}", converged_met, at_scale),
        check("writes per new group", writes, writes_target, writes_met),
        check("idle writes", idle_writes, f"== {TARGET_IDLE_WRITES}", idle_met),
        check("status lag p99 ms", p99, f"<= {TARGET_LAG_P99_MS:.0f}", lag_met),
        check("peak RSS MB", rss, f"<= {TARGET_PEAK_RSS_MB:.0f}", rss <= TARGET_PEAK_RSS_MB, rss_note),
    ]


def per_group(value: int | None, groups: int) -> float | None:
    """A count divided by the number of groups, rounded for the tables."""
    return None if value is None else round(value / groups, 2)


def verbs(run: dict[str, Any]) -> dict[str, int]:
    """The run's requests by verb while converging (empty when not counted)."""
    return dict(run["requests"]["by_verb"] or {})


def report(runs: list[dict[str, Any]]) -> None:
    """Print the summary, targets and per-verb tables."""
    print_table(
        "Scale: convergence, writes, idle cost, status lag, memory",
        [
            "groups",
            "converge s",
            "group p50 s",
            "writes/group",
            "reqs/group",
            "idle writes",
            "idle CPU s",
            "idle s",
            "lag p50 ms",
            "lag p99 ms",
            "lag max ms",
            "writes/change",
            "peak RSS MB",
        ],
        [
            [
                run["groups"],
                run["convergence"]["seconds"],
                run["convergence"]["per_group_seconds"]["p50"],
                run["requests"]["writes_per_group"],
                per_group(run["requests"]["total"], run["groups"]),
                run["idle"]["writes"],
                run["idle"]["cpu_seconds"],
                run["idle"]["seconds"],
                run["lag"]["p50_ms"],
                run["lag"]["p99_ms"],
                run["lag"]["max_ms"],
                run["lag"]["writes_per_change"],
                run["memory"]["peak_rss_mb"],
            ]
            for run in runs
        ],
    )
    print_table(
        "Targets",
        ["groups", "metric", "value", "target", "met", "note"],
        [
            [
                run["groups"],
                t["metric"],
                fmt(t["value"]),
                t["target"],
                "n/a" if t["met"] is None else ("yes" if t["met"] else "NO"),
                t["note"],
            ]
            for run in runs
            for t in run["targets"]
        ],
    )
    if any(run.get("cluster_bring_up") for run in runs):
        report_real(runs)
    labels = sorted({label for run in runs for label in (run["requests"]["by_verb"] or {})})
    if labels:
        print_table(
            "Operator requests per new group while converging (by verb)",
            ["request", *(f"N={run['groups']}" for run in runs)],
            [
                [
                    label,
                    *(per_group(verbs(run).get(label, 0), run["groups"]) for run in runs),
                ]
                for label in labels
            ],
        )
    else:
        print("Per-verb counts: n/a (real cluster without --audit-log)\n")


def report_real(runs: list[dict[str, Any]]) -> None:
    """The real cluster's view: the operator next to the blog's YAML, every actor's writes counted."""
    rows = []
    for run in runs:
        count = run["groups"]
        bring_up, steady = run["cluster_bring_up"], run["idle"].get("cluster") or {}
        rows.append(
            [
                count,
                "operator",
                run["convergence"]["seconds"],
                run["convergence"].get("children_seconds"),
                per_group(bring_up["writes"], count),
                per_group(bring_up["reads"], count),
                run["requests"]["writes_per_group"],
                run["requests"]["reads_per_group"],
                steady.get("writes_per_second"),
                (steady.get("by_actor_writes_per_second") or {}).get("operator", 0.0),
                run["idle"]["writes"],
                run["lag"]["p99_ms"],
                run["memory"]["peak_rss_mb"],
                run["operator_cpu_seconds"],
            ]
        )
        base = run.get("baseline")
        if base:
            rows.append(
                [
                    count,
                    "blog YAML",
                    base["convergence"]["seconds"],
                    None,
                    base["writes_per_group"],
                    base["reads_per_group"],
                    None,
                    None,
                    base["steady"]["writes_per_second"],
                    None,
                    None,
                    None,
                    None,
                    None,
                ]
            )
    print_table(
        "Real API server: the operator next to the blog's hand-written YAML (every actor counted)",
        [
            "groups",
            "setup",
            "converge s",
            "children s",
            "writes/group",
            "reads/group",
            "op writes/group",
            "op reads/group",
            "steady writes/s",
            "op writes/s",
            "op idle writes",
            "lag p99 ms",
            "peak RSS MB",
            "op CPU s",
        ],
        rows,
    )
    idle_rates = [actor_rates(run["idle"].get("cluster") or {}) for run in runs]
    base_rates = [actor_rates((run.get("baseline") or {}).get("steady") or {}) for run in runs]
    actors = sorted({actor for rates in idle_rates + base_rates for actor in rates})
    print_table(
        "Steady writes per second by actor, electors renewing (operator / blog YAML)",
        ["actor", *(f"N={run['groups']}" for run in runs)],
        [
            [
                actor,
                *(
                    f"{fmt(ours.get(actor, 0.0))} / {fmt(theirs.get(actor, 0.0))}"
                    for ours, theirs in zip(idle_rates, base_rates, strict=True)
                ),
            ]
            for actor in actors
        ],
    )
    report_pipeline(runs)
    report_cpu(runs)
    report_apiserver(runs)


def report_pipeline(runs: list[dict[str, Any]]) -> None:
    """When each step of the pods' way to Ready ended, operator and blog side by side."""
    rows = []
    for actor, step in PIPELINE:
        key = f"{actor} {step}"
        cells: list[Any] = [key]
        for run in runs:
            for steps in (
                run.get("cluster_bring_up_timeline") or {},
                (run.get("baseline") or {}).get("bring_up_timeline") or {},
            ):
                row = steps.get(key)
                cells.append(f"{fmt(row['last_s'], 1)} ({row['busiest_second']}/s)" if row else "—")
        rows.append(cells)
    if any(run.get("cluster_bring_up_timeline") for run in runs):
        print_table(
            "Bring-up: the last write of each step, s after the first group (the busiest second's writes)",
            ["step", *(f"N={run['groups']} {setup}" for run in runs for setup in ("operator", "blog"))],
            rows,
        )


def report_cpu(runs: list[dict[str, Any]]) -> None:
    """Who used the machine's CPUs while the groups came up, operator and blog side by side."""
    samples = [
        sample
        for run in runs
        for sample in (run.get("bring_up_cpu"), (run.get("baseline") or {}).get("bring_up_cpu"))
    ]
    names = sorted(
        {name for sample in samples if sample for name in sample["by_process"]},
        key=lambda name: -max((sample or {}).get("by_process", {}).get(name, 0.0) for sample in samples),
    )
    if not names:
        return

    def cell(sample: dict[str, Any] | None, name: str) -> str:
        return fmt(sample["by_process"].get(name), 1) if sample else "—"

    rows = [[name, *(cell(sample, name) for sample in samples)] for name in names]
    rows.append(["cores busy", *(fmt(sample["cores_busy"]) if sample else "—" for sample in samples)])
    print_table(
        "Bring-up: CPU seconds by process (cores busy = all of them over the wall-clock seconds)",
        ["process", *(f"N={run['groups']} {setup}" for run in runs for setup in ("operator", "blog"))],
        rows,
    )


API_SERVER_KINDS_SHOWN = 12


def report_apiserver(runs: list[dict[str, Any]]) -> None:
    """What the API server spent its time serving during the bring-up (its /metrics), operator and blog."""
    for run in runs:
        windows = [run.get("apiserver_bring_up"), (run.get("baseline") or {}).get("apiserver_bring_up")]
        if windows[0] is None:
            continue
        kinds = list(windows[0]["by_kind"])[:API_SERVER_KINDS_SHOWN]
        blog = windows[1] or {"by_kind": {}}
        kinds += [kind for kind in list(blog["by_kind"])[:API_SERVER_KINDS_SHOWN] if kind not in kinds]

        def cells(window: dict[str, Any] | None, kind: str) -> list[str]:
            row = (window or {}).get("by_kind", {}).get(kind) if window else None
            if not row:
                return ["—"] * 3
            return [str(row["count"]), fmt(row.get("p99_ms"), 1), fmt(row.get("total_s"), 1)]

        rows = [[kind, *cells(windows[0], kind), *cells(windows[1], kind)] for kind in kinds]
        totals = [
            [
                f"{window['requests']} ({window['requests_per_second']:.0f}/s)",
                "",
                fmt(window["serving_seconds"], 1),
            ]
            if window
            else ["—"] * 3
            for window in windows
        ]
        rows.append(["all requests", *totals[0], *totals[1]])
        print_table(
            f"API server's /metrics during bring-up, N={run['groups']}: requests, p99 latency, time serving",
            ["request", "operator n", "p99 ms", "serving s", "blog n", "p99 ms", "serving s"],
            rows,
        )


def actor_rates(window: dict[str, Any]) -> dict[str, float]:
    """A window's writes per second by actor (empty when not measured)."""
    return dict(window.get("by_actor_writes_per_second") or {})
