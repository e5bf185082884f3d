"""An operator restart with N converged groups: how long the new process takes, and what it asks of the API.

Every upgrade of the operator (a new image rolled out by Argo CD or Flux) is a restart: the new process
knows nothing and resumes every group. On a real API server (the test control plane started here, or
``--kubeconfig KC --audit-log PATH``): a fresh namespace, N groups brought up by a first operator (the
bench plays the electors, as in bench/scale.py, and keeps renewing every holder's Lease every
``--renew-interval`` seconds from then on); that operator stops (SIGINT), a second one starts, and the
bench measures, from the second one's start until it has reconciled every group (Kopf's "Handler
'reconcile_group' succeeded." in its log) and ``--settle`` seconds more:

1. seconds until it answers its liveness probe, and until the last group is resumed;
2. its requests by verb, from the audit log: writes (a restart that changes nothing should write nothing),
   reads per group, and the lists it read in one response (no ``limit``);
3. CPU seconds of every control-plane process and of the new operator, and its peak RSS.

Run from the repository root:

    .venv/bin/python bench/restart.py --real --groups 1000 --controller-qps 300 --scheduler-qps 300

Prints a Markdown table and writes ``bench/results/restart-<stamp>.json``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.*`, `tests.*` when run as a script

from bench.common import (
    BenchCluster,
    OperatorRun,
    count_by_label,
    cpu_by_process,
    cpu_used,
    environment,
    fmt,
    memory_mb,
    open_cluster,
    options_record,
    print_table,
    run_main,
)
from bench.realcluster import (
    READ_VERBS,
    AuditedCluster,
    AuditLog,
    RealWorkload,
    add_rate_limit_arguments,
    enter_bench_cluster,
    kubernetes_version,
    nodes_for,
    wait_namespace_gone,
)
from bench.scale import converge, renew_all

from leadergroup.kube import KubeClient

# Kopf's line for each group's reconcile. A new process remembers no handled spec (it is kept in memory,
# leadergroup.bookkeeping), so Kopf runs the creation handler for every group, which reconciles it as an
# existing group: it reads each child before judging it (handlers.is_new_group).
RESUMED = "Handler 'reconcile_group' succeeded."


def resumed_in(log: Path) -> int:
    """How many groups the operator of ``log`` has reconciled (one line per group after a restart)."""
    return log.read_text(errors="replace").count(RESUMED) if log.exists() else 0


async def until_resumed(log: Path, count: int, started: float, limit_seconds: float) -> float | None:
    """Seconds from ``started`` until ``count`` groups are resumed, or None past ``limit_seconds``."""
    while time.monotonic() < started + limit_seconds:
        if resumed_in(log) >= count:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    return None


async def keep_renewing(client: KubeClient, workload: RealWorkload, namespace: str, interval: float) -> None:
    """Every holder renews its Lease every ``interval`` seconds, as client-go's do, until cancelled."""
    while True:
        started = time.monotonic()
        await renew_all(client, workload, namespace)
        await asyncio.sleep(max(0.0, started + interval - time.monotonic()))


async def run_one(count: int, options: argparse.Namespace, workdir: Path, audit: AuditLog) -> dict[str, Any]:
    """N groups up with one operator, then the restart measured."""
    with open_cluster(workdir, kubeconfig=options.kubeconfig, audit_log=options.audit_log) as opened:
        cluster = AuditedCluster.wrap(opened, audit)
        first = OperatorRun(cluster, workdir / f"operator-{count}-first.log").start()
        second = OperatorRun(cluster, workdir / f"operator-{count}-restarted.log")
        async with cluster.client() as client:
            workload = RealWorkload(cluster, client)
            renewing: asyncio.Task[None] | None = None
            try:
                await workload.start_watches()
                convergence = await converge(cluster, client, workload, count, options.timeout)
                if convergence["timed_out"]:
                    raise RuntimeError(f"{count} groups did not converge: {convergence}")
                renewing = asyncio.create_task(
                    keep_renewing(client, workload, cluster.namespace, options.renew_interval)
                )
                await asyncio.sleep(options.settle)  # the first operator's last writes, before it stops
                first.stop()
                processes = dict(options.control_plane_pids)
                cpu_before = {**cpu_by_process(processes), "operator": 0.0}  # a process not started yet
                since, started = audit.mark(), time.monotonic()
                second.start(timeout=options.timeout)
                alive_seconds = time.monotonic() - started
                resumed_seconds = await until_resumed(second.log_path, count, started, options.timeout)
                await asyncio.sleep(options.settle)  # writes that follow a group's resume belong to it
                until = audit.mark()
                cpu = cpu_used(
                    cpu_before, cpu_by_process({**processes, "operator": second.pid}), until - since
                )
                memory = memory_mb(second.pid)
            finally:
                if renewing is not None:
                    renewing.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewing
                await workload.close()
                first.stop()
                second.stop()
        entries = cluster.operator_entries(since, until)
        requests = [entry.request() for entry in entries]
        # An initial list in one response holds every object of the kind at once (15,000 pods at 5,000
        # groups); client-go's reflector, and the operator since, read it in pages (``limit``).
        unpaged = [
            f"list {entry.resource}"
            for entry in entries
            if entry.verb == "list" and "limit=" not in entry.uri
        ]
        writes = [request for request in requests if request.is_write]
        reads = [request for request in requests if request.verb in READ_VERBS]
        return {
            "groups": count,
            "namespace": cluster.namespace,
            "convergence_seconds": convergence["seconds"],
            "alive_seconds": round(alive_seconds, 2),
            "resumed_seconds": None if resumed_seconds is None else round(resumed_seconds, 2),
            "resumed": resumed_in(second.log_path),
            "requests": len(requests),
            "writes": len(writes),
            "write_by_verb": count_by_label(writes),
            "reads_per_group": round(len(reads) / count, 2),
            "read_by_verb": count_by_label(reads),
            "unpaged_lists": sorted(unpaged),
            "cpu": cpu,
            "operator_peak_rss_mb": memory["peak_rss_mb"],
        }


async def main_async(options: argparse.Namespace) -> dict[str, Any]:
    runs = []
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="lgrestart-") as tmp, contextlib.ExitStack() as stack:
        workdir = options.workdir or Path(tmp)
        enter_bench_cluster(stack, options, workdir, nodes_for(max(options.groups)))
        audit = AuditLog(options.audit_log)
        version = await kubernetes_version(options.kubeconfig)
        for count in options.groups:
            print(f"--- {count} groups (operator logs in {workdir})", file=sys.stderr, flush=True)
            run = await run_one(count, options, workdir, audit)
            # The next count starts once this one's objects are gone, not while the GC deletes them.
            probe = BenchCluster("real", options.kubeconfig, options.kubeconfig, run["namespace"])
            run["namespace_deleted_seconds"] = await wait_namespace_gone(probe, run["namespace"])
            runs.append(run)
    return {
        "bench": "restart",
        "started_at": started,
        "environment": {**environment(), "kubernetes": version},
        "options": options_record(options),
        "runs": runs,
    }


def report(runs: list[dict[str, Any]]) -> None:
    print_table(
        "Operator restart with every group converged",
        [
            "groups",
            "alive s",
            "all resumed s",
            "writes",
            "reads/group",
            "GETs",
            "LISTs",
            "op CPU s",
            "API server CPU s",
            "op peak RSS MB",
            "lists in one response",
        ],
        [
            [
                run["groups"],
                fmt(run["alive_seconds"], 1),
                fmt(run["resumed_seconds"], 1),
                run["writes"],
                fmt(run["reads_per_group"]),
                sum(n for verb, n in run["read_by_verb"].items() if verb.startswith("get ")),
                sum(n for verb, n in run["read_by_verb"].items() if verb.startswith("list ")),
                fmt(run["cpu"]["by_process"].get("operator"), 1),
                fmt(run["cpu"]["by_process"].get("kube-apiserver"), 1),
                fmt(run["operator_peak_rss_mb"], 1),
                ", ".join(sorted(set(run.get("unpaged_lists", [])))) or "none",
            ]
            for run in runs
        ],
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[100], help="group counts (default 100)")
    parser.add_argument("--real", action="store_true", help="start the test control plane (needs Go)")
    parser.add_argument("--kubeconfig", type=Path, help="a cluster of yours (CRDs installed)")
    parser.add_argument("--audit-log", type=Path, help="with --kubeconfig: its API server's JSON audit log")
    parser.add_argument(
        "--kwok", action="store_true", help="with --kubeconfig: start KWOK nodes for the pods"
    )
    parser.add_argument("--renew-interval", type=float, default=2.0, help="holders renew this often (2 s)")
    parser.add_argument("--timeout", type=float, default=600.0, help="for convergence, and for the resume")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after each phase still counted")
    add_rate_limit_arguments(parser)
    parser.add_argument("--workdir", type=Path, help="keep the operators' logs here (default: temporary)")
    parser.add_argument(
        "--output", type=Path, help="JSON output (default bench/results/restart-<stamp>.json)"
    )
    options = parser.parse_args(argv)
    if options.real == bool(options.kubeconfig):
        parser.error("either --real (the test control plane) or --kubeconfig with --audit-log")
    if options.kubeconfig and not options.audit_log:
        parser.error("--kubeconfig needs --audit-log: the restart's requests are counted from it")
    if options.kwok and not options.kubeconfig:
        parser.error("--kwok adds nodes to the cluster of --kubeconfig")
    return options


def main(argv: list[str] | None = None) -> int:
    return run_main("restart", parse_args(argv), main_async, report)


if __name__ == "__main__":
    sys.exit(main())
