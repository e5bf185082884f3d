"""Scale and cost of the operator: convergence time, API writes per group, idle cost, status lag, memory.

Three places to measure: the in-process emulator (default: the quick local check), the test control plane
started here (``--real``: Kubernetes built from source, a metadata-level audit log, KWOK nodes for the
pods), or a cluster of yours (``--kubeconfig KC --audit-log PATH``, ``--kwok`` to add simulated nodes).
For each N in ``--groups``: a fresh namespace and a fresh operator process (``--standalone``); N
LeaderGroups created at once; the bench plays the electors (and, on the emulator, the Deployment
controller); then

1. convergence: seconds until every group has its five children and ``Ready`` True; the operator's
   requests by verb per group (on a real cluster from the audit log, with every other actor's too);
2. idle: the operator's writes and CPU seconds over ``--idle-seconds`` with nothing changing but the
   electors renewing their Leases (``--renew-interval``, 2 s on a real cluster), and there the whole
   cluster's writes per second by actor;
3. status lag: Lease holders changed by conditional PUT at ``--lag-rate`` per second; the delay until
   each group's status shows the new holder (a watch on the LeaderGroups), p50 / p99 / max;
4. memory: the operator's peak RSS (VmHWM);
5. on a real cluster, the same N made from the blog's hand-written YAML with no operator
   (bench/baseline.py), for the side-by-side table.

Run from the repository root: ``.venv/bin/python bench/scale.py [--real] [--groups 10 100 1000]``. Prints
Markdown tables and writes ``bench/results/scale-<stamp>.json``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import functools
import importlib.util
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.common` when run as a script

from bench.apimetrics import scrape as scrape_metrics
from bench.apimetrics import served_since
from bench.baseline import run_baseline, steady_rates
from bench.common import (
    REAL_CLUSTER_IMAGE,
    REPO_ROOT,
    RESULTS_DIR,
    BenchCluster,
    OperatorRun,
    Request,
    Workload,
    count_by_label,
    cpu_by_process,
    cpu_seconds,
    cpu_used,
    environment,
    gather_limited,
    memory_mb,
    open_cluster,
    options_record,
    run_main,
    summary,
    take_lease,
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
    tally,
    timeline,
    wait_namespace_gone,
)
from bench.scale_report import FLOOR_WRITES_PER_GROUP, report, targets
from tests.controlplane.nodes import KWOK_TOLERATION

from leadergroup.kube import KubeClient
from leadergroup.kube.resources import LEADERGROUPS

SAMPLE = REPO_ROOT / "manifests" / "samples" / "minimal.yaml"


def group_body(
    name: str, namespace: str, *, real_cluster: bool, disruption_budget: bool = True
) -> dict[str, Any]:
    """The minimal sample under another name (a pause container on a real cluster, so pods get Ready).

    ``disruption_budget=False`` sets ``placement.disruptionBudget: false`` (no PodDisruptionBudget).
    """
    body: dict[str, Any] = copy.deepcopy(yaml.safe_load(SAMPLE.read_text(encoding="utf-8")))
    body["metadata"] = {"name": name, "namespace": namespace}
    if not disruption_budget:
        body["spec"].setdefault("placement", {})["disruptionBudget"] = False
    if real_cluster:
        body["spec"]["template"]["spec"]["containers"] = [{"name": "app", "image": REAL_CLUSTER_IMAGE}]
        # Our simulated nodes are tainted: the pods must ask for them (a cluster of real nodes ignores it).
        body["spec"]["template"]["spec"]["tolerations"] = [KWOK_TOLERATION]
    return body


def writes_of(requests: list[Request] | None) -> int | None:
    """How many of the requests are writes (None when nothing counted them)."""
    return None if requests is None else sum(request.is_write for request in requests)


async def converge(
    cluster: BenchCluster,
    client: KubeClient,
    workload: Workload,
    count: int,
    limit_seconds: float,
    disruption_budget: bool = True,
) -> dict[str, Any]:
    """Create ``count`` groups at once and wait until all are converged (or ``limit_seconds`` pass)."""
    names = [f"g{index:04d}" for index in range(count)]
    real_cluster = cluster.emulator is None
    bodies = [
        group_body(name, cluster.namespace, real_cluster=real_cluster, disruption_budget=disruption_budget)
        for name in names
    ]  # made before the clock starts: parsing the sample is not the operator's time
    started = time.monotonic()
    for name in names:
        workload.track(name).created_at = started
    created = await gather_limited(
        [functools.partial(client.create, LEADERGROUPS, body, cluster.namespace) for body in bodies], limit=64
    )
    create_seconds = time.monotonic() - started
    failures = [str(result) for result in created if isinstance(result, BaseException)]
    deadline = started + limit_seconds
    while time.monotonic() < deadline:
        if all(progress.converged_at is not None for progress in workload.groups.values()):
            break
        await asyncio.sleep(0.05)
    per_group = [
        progress.converged_at - started
        for progress in workload.groups.values()
        if progress.converged_at is not None
    ]
    children = [p.children_at - started for p in workload.groups.values() if p.children_at is not None]
    done = len(per_group) == count
    return {
        "seconds": max(per_group) if done else None,
        # When the operator had made every group's children (the rest is the pods starting and the
        # electors): the operator's own share of the convergence time.
        "children_seconds": max(children) if len(children) == count else None,
        "timed_out": not done,
        "timeout_seconds": limit_seconds,
        "converged": len(per_group),
        "create_seconds": round(create_seconds, 3),
        "per_group_seconds": summary(per_group),
        "errors": (failures + workload.errors)[:20],
    }


async def renew_all(client: KubeClient, workload: Workload, namespace: str) -> int:
    """One renewal round: every holder PUTs its Lease with a new renewTime, as client-go does every RP.

    Returns how many renewals failed (the idle window reports them rather than hide them).
    """

    async def renew(name: str) -> None:
        progress = workload.groups[name]
        if progress.lease is not None and progress.holder:
            progress.lease = await take_lease(client, namespace, progress.lease, progress.holder)

    results = await gather_limited([functools.partial(renew, name) for name in workload.groups], limit=32)
    return sum(isinstance(result, BaseException) for result in results)


async def idle(
    cluster: BenchCluster,
    client: KubeClient,
    workload: Workload,
    operator: OperatorRun,
    seconds: float,
    renew_interval: float,
) -> dict[str, Any]:
    """Count the operator's writes and CPU over a window in which nothing changes (but renewals)."""
    since, cpu_before, started = time.time(), cpu_seconds(operator.pid), time.monotonic()
    rounds = failed = 0
    end = started + seconds
    while (now := time.monotonic()) < end:
        if renew_interval > 0:
            failed += await renew_all(client, workload, cluster.namespace)
            rounds += 1
            await asyncio.sleep(max(0.0, min(end, started + rounds * renew_interval) - time.monotonic()))
        else:
            await asyncio.sleep(end - now)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(operator.pid) - cpu_before
    requests = cluster.operator_requests(since, time.time())
    return {
        "seconds": round(elapsed, 1),
        "renew_interval": renew_interval,
        "renewal_rounds": rounds,
        "renewals_failed": failed,
        "writes": writes_of(requests),
        "requests": None if requests is None else len(requests),
        "by_verb": None if requests is None else count_by_label(requests),
        "cpu_seconds": round(cpu, 3),
        "cpu_percent": round(100 * cpu / elapsed, 2),
    }


async def status_lag(
    cluster: BenchCluster, client: KubeClient, workload: Workload, changes: int, rate: float
) -> dict[str, Any]:
    """Change Lease holders at a steady rate; time until each group's status shows the new holder."""
    names = sorted(workload.groups)
    # group -> (expected holder, monotonic time the elector's PUT returned, or None while in flight)
    pending: dict[str, tuple[str, float | None, float]] = {}
    lags_ms: list[float] = []
    superseded = 0

    def seen(group: dict[str, Any], arrived: float) -> None:
        name = str(group["metadata"]["name"])
        wanted = pending.get(name)
        if wanted is None or (group.get("status") or {}).get("holder") != wanted[0]:
            return
        _, done, sent = wanted
        # Measured from the moment the new holder knows it leads (its PUT returned); an event that beats
        # the PUT's answer home counts from when the PUT was sent.
        lags_ms.append(max(0.0, arrived - (done if done is not None else sent)) * 1000)
        del pending[name]

    workload.on_group_event = seen
    since = time.time()

    async def change(index: int) -> None:
        nonlocal superseded
        name = names[index % len(names)]
        progress = workload.groups[name]
        assert progress.lease is not None
        current = progress.lease["spec"].get("holderIdentity") or ""
        pods = progress.pods
        holder = pods[(pods.index(current) + 1) % len(pods)] if current in pods else pods[0]
        if name in pending:
            superseded += 1  # the status has not caught up with the previous change yet
        sent = time.monotonic()
        pending[name] = (holder, None, sent)
        progress.lease = await take_lease(client, cluster.namespace, progress.lease, holder)
        if name in pending and pending[name][0] == holder:
            pending[name] = (holder, time.monotonic(), sent)

    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()
    for index in range(changes):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(change(index)))
    errors = [str(result) for result in await asyncio.gather(*tasks, return_exceptions=True) if result]
    deadline = time.monotonic() + 10
    while pending and time.monotonic() < deadline:  # noqa: ASYNC110  (the watch callback empties it)
        await asyncio.sleep(0.05)
    workload.on_group_event = None
    requests = cluster.operator_requests(since, time.time())
    writes = writes_of(requests)
    lag = summary(lags_ms)
    return {
        "changes": changes,
        "rate_per_second": rate,
        "observed": len(lags_ms),
        "superseded": superseded,
        "unobserved": len(pending),
        "p50_ms": lag["p50"],
        "p90_ms": lag["p90"],
        "p99_ms": lag["p99"],
        "max_ms": lag["max"],
        "mean_ms": lag["mean"],
        "writes": writes,
        "writes_per_change": None if writes is None else round(writes / changes, 2),
        "by_verb": None if requests is None else count_by_label(requests),
        "errors": errors[:20],
    }


async def run_one(
    count: int, options: argparse.Namespace, workdir: Path, audit: AuditLog | None = None
) -> dict[str, Any]:
    """One fresh cluster (or namespace) and operator, ``count`` groups, all measurements."""
    with open_cluster(workdir, kubeconfig=options.kubeconfig, audit_log=options.audit_log) as opened:
        cluster = opened if audit is None else AuditedCluster.wrap(opened, audit)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        profile = RESULTS_DIR / f"profile-scale-{count}-{stamp}.txt" if options.profile else None
        operator = OperatorRun(
            cluster, workdir / f"operator-{count}.log", profile=profile, env=dict(options.operator_env)
        ).start()
        async with cluster.client() as client:
            workload = Workload(cluster, client) if audit is None else RealWorkload(cluster, client)
            cluster_tally: dict[str, Any] | None = None
            cluster_timeline: dict[str, Any] | None = None
            try:
                await workload.start_watches()
                processes = {**options.control_plane_pids, "operator": operator.pid}
                cpu_before = cpu_by_process(processes)
                metrics_before = await scrape_metrics(client)
                since = audit.mark() if audit else time.time()
                convergence = await converge(
                    cluster, client, workload, count, options.timeout, options.disruption_budget
                )
                # Writes that follow Ready (an Event, a late status field) belong to bringing the group up.
                await asyncio.sleep(options.settle)
                until = audit.mark() if audit else time.time()
                bring_up_cpu = cpu_used(cpu_before, cpu_by_process(processes), until - since)
                served_bring_up = await served_since(client, metrics_before, until - since)
                requests = cluster.operator_requests(since, until)
                if audit is not None:
                    bring_up = audit.entries(since, until)
                    cluster_tally, cluster_timeline = tally(bring_up), timeline(bring_up, since)
                memory_converged = memory_mb(operator.pid)
                metrics_before = await scrape_metrics(client)
                idle_since = audit.mark() if audit else time.time()
                idle_result = await idle(
                    cluster, client, workload, operator, options.idle_seconds, options.renew_interval
                )
                idle_until = audit.mark() if audit else time.time()
                served_idle = await served_since(client, metrics_before, idle_until - idle_since)
                if audit is not None:
                    idle_result["cluster"] = steady_rates(audit, idle_since, idle_until)
                lag = await status_lag(cluster, client, workload, options.lag_changes, options.lag_rate)
                memory = memory_mb(operator.pid)
                total_cpu = cpu_seconds(operator.pid)
            finally:
                await workload.close()
                operator.stop()
        writes = writes_of(requests)
        result = {
            "groups": count,
            "backend": cluster.backend,
            "profiled": profile is not None,
            "profile": str(profile.relative_to(REPO_ROOT)) if profile else None,
            "convergence": convergence,
            "requests": {
                "total": None if requests is None else len(requests),
                "writes": writes,
                "writes_per_group": None if writes is None else round(writes / count, 2),
                "floor_writes_per_group": FLOOR_WRITES_PER_GROUP,
                "reads_per_group": None
                if requests is None
                else round(sum(r.verb in READ_VERBS for r in requests) / count, 2),
                "by_verb": None if requests is None else count_by_label(requests),
            },
            "cluster_bring_up": cluster_tally,
            "cluster_bring_up_timeline": cluster_timeline,
            # The API server's /metrics: what it served to every client, and how long that took.
            "apiserver_bring_up": served_bring_up,
            "apiserver_idle": served_idle,
            "bring_up_cpu": bring_up_cpu,
            "idle": idle_result,
            "lag": lag,
            "memory": {
                "rss_after_convergence_mb": memory_converged["rss_mb"],
                "rss_end_mb": memory["rss_mb"],
                "peak_rss_mb": memory["peak_rss_mb"],
                "threads": memory["threads"],
            },
            "operator_cpu_seconds": round(total_cpu, 2),
        }
        if operator.process is not None and operator.process.returncode not in (0, None, -2):
            result["operator_exit"] = operator.process.returncode
            result["operator_log_tail"] = operator.log_tail()
        result["namespace"] = cluster.namespace
        return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--groups", type=int, nargs="+", default=[10, 100], help="group counts (default 10 100)"
    )
    parser.add_argument("--idle-seconds", type=float, default=300.0, help="idle window (default %(default)s)")
    parser.add_argument(
        "--renew-interval",
        type=float,
        default=None,
        help="during the idle window, every holder renews its Lease this often (client-go: RP, 2 s); "
        "0: off (default: 2 on a real cluster, 0 on the emulator)",
    )
    parser.add_argument("--lag-changes", type=int, default=200, help="holder changes (default %(default)s)")
    parser.add_argument("--lag-rate", type=float, default=20.0, help="holder changes per second")
    parser.add_argument("--timeout", type=float, default=300.0, help="convergence timeout in seconds")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after convergence still counted")
    parser.add_argument(
        "--quick", action="store_true", help="shorter settle and timeout (smoke tests; figures are rougher)"
    )
    parser.add_argument("--profile", action="store_true", help="run the operator under pyinstrument")
    parser.add_argument(
        "--kubeconfig", type=Path, help="a real cluster (CRDs installed) instead of the emulator"
    )
    parser.add_argument(
        "--audit-log", type=Path, help="the real API server's JSON audit log, for request counts"
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="start the test control plane (tests/controlplane, needs Go) with an audit log and enough "
        "KWOK nodes, and measure there",
    )
    parser.add_argument(
        "--kwok",
        action="store_true",
        help="with --kubeconfig: start KWOK with enough simulated nodes for the pods (a cluster with none)",
    )
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="on a real cluster, skip the blog's hand-written setup measured next to the operator",
    )
    parser.add_argument(
        "--sharding-gate",
        action="store_true",
        help="with --real: start the API server with --feature-gates=ShardedListAndWatch=true",
    )
    parser.add_argument(
        "--no-disruption-budget",
        dest="disruption_budget",
        action="store_false",
        help="groups with placement.disruptionBudget false: no PodDisruptionBudget, whose cost to the "
        "controller manager grows with the budgets in the pods' namespace",
    )
    add_rate_limit_arguments(parser)
    parser.add_argument(
        "--shared-machine",
        action="store_true",
        help="record that other work shared the machine's CPUs during the run",
    )
    parser.add_argument(
        "--operator-env",
        type=lambda text: tuple(text.split("=", 1)),
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment of the operator process (e.g. MALLOC_ARENA_MAX=2), repeatable",
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep kubeconfigs and operator logs here (default: temporary)"
    )
    parser.add_argument("--output", type=Path, help="JSON output (default bench/results/scale-<stamp>.json)")
    options = parser.parse_args(argv)
    if options.real and options.kubeconfig:
        parser.error("--real starts its own control plane: leave out --kubeconfig")
    if options.profile and importlib.util.find_spec("pyinstrument") is None:
        parser.error("--profile runs the operator under pyinstrument: .venv/bin/pip install -e '.[bench]'")
    if options.kwok and not options.kubeconfig:
        parser.error("--kwok adds nodes to the cluster of --kubeconfig")
    if options.renew_interval is None:
        # A real cluster's steady write rate is the point of the idle window there: electors renew as
        # client-go's do (RP 2 s). On the emulator the window stays quiet unless asked.
        options.renew_interval = 2.0 if (options.real or options.kubeconfig) else 0.0
    if options.quick:
        options.settle = min(options.settle, 1.0)
        options.timeout = min(options.timeout, 60.0)
    if options.lag_rate <= 0 or options.lag_changes < 0:
        parser.error("--lag-rate must be positive and --lag-changes not negative")
    return options


async def baseline_one(count: int, options: argparse.Namespace, workdir: Path, audit: AuditLog) -> Any:
    """The blog's setup for ``count`` electors in a fresh namespace of the same cluster (no operator)."""
    with open_cluster(workdir, kubeconfig=options.kubeconfig) as cluster:
        result = await run_baseline(
            cluster,
            audit,
            count,
            image=REAL_CLUSTER_IMAGE,
            tolerations=[KWOK_TOLERATION],
            limit_seconds=options.timeout,
            idle_seconds=options.idle_seconds,
            renew_interval=options.renew_interval,
            settle=options.settle,
            processes=options.control_plane_pids,
        )
    result["namespace_deleted_seconds"] = await wait_namespace_gone(cluster, cluster.namespace)
    return result


async def main_async(options: argparse.Namespace) -> dict[str, Any]:
    runs = []
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="lgbench-") as tmp, contextlib.ExitStack() as stack:
        workdir = options.workdir or Path(tmp)
        gates = ["--feature-gates=ShardedListAndWatch=true"] if options.sharding_gate else []
        enter_bench_cluster(stack, options, workdir, nodes_for(max(options.groups)), gates)
        audit = AuditLog(options.audit_log) if options.kubeconfig and options.audit_log else None
        version = await kubernetes_version(options.kubeconfig) if options.kubeconfig else None
        for count in options.groups:
            print(
                f"--- {count} groups (operator log: {workdir}/operator-{count}.log)",
                file=sys.stderr,
                flush=True,
            )
            run = await run_one(count, options, workdir, audit)
            run["targets"] = targets(run)
            if options.kubeconfig is not None:
                probe = BenchCluster("real", options.kubeconfig, options.kubeconfig, run["namespace"])
                run["namespace_deleted_seconds"] = await wait_namespace_gone(probe, run["namespace"])
            if audit is not None and options.baseline:
                print(f"--- {count} groups, the blog's YAML (no operator)", file=sys.stderr, flush=True)
                run["baseline"] = await baseline_one(count, options, workdir, audit)
            runs.append(run)
    return {
        "bench": "scale",
        "schema": 2,
        "started_at": started,
        "environment": {
            **environment(),
            "machine_shared": options.shared_machine,
            "kubernetes": version,
        },
        "options": options_record(options),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    return run_main("scale", parse_args(argv), main_async, report)


if __name__ == "__main__":
    sys.exit(main())
