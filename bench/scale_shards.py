"""Scale out by sharding: one operator replica against S shards, the same N groups, on the same cluster.

Each setup runs in turn on one control plane, in K fresh namespaces of its own (``--namespaces``), chosen
so that every shard's hash range holds K/S of them: the API server's ``shardSelector`` hashes the
namespace (64-bit FNV-1a), and similar names balance badly. Every operator process is ``--standalone``
and serves every namespace:

- ``one``: a single process;
- ``sharded``: S processes, process i with ``--shard i/S`` (server-side sharded lists and watches: each
  sees only the groups and children of its namespaces);
- ``blog``: no operator, the baseline a user would write instead: the blog's YAML for N electors
  (bench/baseline.py), dealt over the namespaces the same way; "converged" is each group's first leader.

N LeaderGroups (the minimal sample with a pause container) are created at once, round-robin over the
namespaces, so each shard gets N/S of them; the real controllers and KWOK run the pods, the bench plays
the electors (one RealWorkload per namespace). Measured:

1. convergence: seconds from the first create until every group has its five children and ``Ready``
   True (the last group, and p50 / p90 per group), and until the operator had made every group's children;
2. the operator's writes, reads and watches per group from the audit log, from the first create to
   ``--settle`` seconds after convergence (all its processes together: they send the same User-Agents);
3. per operator process, at convergence + settle: peak RSS (VmHWM) and CPU seconds since its start (in
   the JSON also since the first create);
4. the CPU seconds of every control-plane process, the operators and the bench over the same window, and
   the whole cluster's writes per group (audit log).

Then the operators stop (SIGINT), the namespaces are deleted, and the next setup starts once they are gone.

Run from the repository root:

    .venv/bin/python bench/scale_shards.py --real --groups 5000 --namespaces 20 [--setups one,sharded,blog]
    .venv/bin/python bench/scale_shards.py --kubeconfig KC --audit-log PATH [--kwok] --groups 1000

``--real`` starts the test control plane (tests/controlplane, needs Go) with ``ShardedListAndWatch`` on,
a metadata-level audit log and enough KWOK nodes for the pods. A cluster of yours needs the gate for
``sharded`` (a shard refuses to start without it). Prints a Markdown table and writes
``bench/results/scale-shards-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.*`, `tests.*` when run as a script

from bench.baseline import BlogGroups
from bench.common import (
    REAL_CLUSTER_IMAGE,
    BenchCluster,
    OperatorRun,
    cpu_by_process,
    cpu_seconds,
    cpu_used,
    environment,
    fmt,
    gather_limited,
    memory_mb,
    options_record,
    print_table,
    run_main,
    summary,
)
from bench.realcluster import (
    AuditLog,
    RealWorkload,
    add_rate_limit_arguments,
    enter_bench_cluster,
    kubernetes_version,
    nodes_for,
    tally,
    wait_namespace_gone,
)
from bench.scale import group_body
from bench.shard_takeover import one_namespace_per_shard
from tests.controlplane.nodes import KWOK_TOLERATION

from leadergroup.cli.sharding import FEATURE_GATE
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import LEADERGROUPS, NAMESPACES

BLOG = "blog"
SETUPS = ("one", "sharded", BLOG)


def balanced_namespaces(prefix: str, shards: int, per_shard: int) -> list[str]:
    """``per_shard`` distinct namespaces in each of ``shards`` shards, interleaved in shard order.

    Groups dealt round-robin over the list are then spread evenly over the shards as well.
    """
    return [
        name for batch in range(per_shard) for name in one_namespace_per_shard(f"{prefix}-{batch}", shards)
    ]


class ShardOperator(OperatorRun):
    """The operator over every namespace (``--standalone``), serving one shard when ``shard`` is given."""

    def __init__(self, cluster: BenchCluster, log_path: Path, shard: str | None = None) -> None:
        super().__init__(cluster, log_path, all_namespaces=True)
        self.shard = shard

    @property
    def command(self) -> list[str]:
        """OperatorRun's command line, and ``--shard INDEX/COUNT``."""
        command = super().command
        return [*command, f"--shard={self.shard}"] if self.shard else command


async def converge(
    client: KubeClient, workloads: list[RealWorkload], count: int, limit_seconds: float
) -> dict[str, Any]:
    """Create ``count`` groups at once, round-robin over the workloads' namespaces; wait until converged."""
    bodies = [
        group_body(f"g{index:05d}", workloads[index % len(workloads)].cluster.namespace, real_cluster=True)
        for index in range(count)
    ]  # made before the clock starts: parsing the sample is not the operator's time
    started = time.monotonic()
    for index, body in enumerate(bodies):
        workloads[index % len(workloads)].track(body["metadata"]["name"]).created_at = started
    created = await gather_limited(
        [
            functools.partial(client.create, LEADERGROUPS, body, body["metadata"]["namespace"])
            for body in bodies
        ],
        limit=64,
    )
    create_seconds = time.monotonic() - started
    failures = [str(result) for result in created if isinstance(result, BaseException)]
    groups = [progress for workload in workloads for progress in workload.groups.values()]
    deadline = started + limit_seconds
    while time.monotonic() < deadline:
        if all(progress.converged_at is not None for progress in groups):
            break
        await asyncio.sleep(0.05)
    per_group = [p.converged_at - started for p in groups if p.converged_at is not None]
    children = [p.children_at - started for p in groups if p.children_at is not None]
    errors = failures + [error for workload in workloads for error in workload.errors]
    return convergence_record(count, limit_seconds, create_seconds, per_group, children, errors)


def convergence_record(
    count: int,
    limit_seconds: float,
    create_seconds: float,
    per_group: list[float],
    children: list[float] | None,
    errors: list[str],
) -> dict[str, Any]:
    """A setup's convergence: the last group's seconds (None unless all ``count`` made it), per group."""
    done = len(per_group) == count
    return {
        "seconds": max(per_group) if done else None,
        "children_seconds": max(children) if children is not None and len(children) == count else None,
        "timed_out": not done,
        "timeout_seconds": limit_seconds,
        "converged": len(per_group),
        "create_seconds": round(create_seconds, 3),
        "per_group_seconds": summary(per_group),
        "errors": errors[:20],
    }


def process_figures(operator: ShardOperator, cpu_before: float) -> dict[str, Any]:
    """One operator process's memory and CPU now (and how it ended, if it did)."""
    memory, cpu = memory_mb(operator.pid), cpu_seconds(operator.pid)  # before poll() reaps a dead one
    figures: dict[str, Any] = {
        "shard": operator.shard,
        "peak_rss_mb": memory["peak_rss_mb"],
        "rss_mb": memory["rss_mb"],
        "threads": memory["threads"],
        "cpu_seconds": round(cpu, 2),
        "bring_up_cpu_seconds": round(cpu - cpu_before, 2),
    }
    assert operator.process is not None
    if operator.process.poll() is not None:
        figures["exit"] = operator.process.returncode
        figures["log_tail"] = operator.log_tail()
    return figures


def operator_counts(
    audit: AuditLog | None, since: float, until: float, namespaces: list[str], groups: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The operator's requests in its namespaces and cluster-wide, per group; and every actor's tally."""
    if audit is None:
        return None, None
    entries = audit.entries(since, until)
    scope = {"", *namespaces}  # other namespaces: other operators on a shared server
    ours = tally([entry for entry in entries if entry.actor == "operator" and entry.namespace in scope])
    row = ours["by_actor"].get("operator") or {"writes": 0, "reads": 0, "watches": 0, "write_by_verb": {}}
    counts = {
        **row,
        "writes_per_group": round(row["writes"] / groups, 2),
        "reads_per_group": round(row["reads"] / groups, 2),
    }
    return counts, tally(entries)


async def converge_blog(blogs: list[BlogGroups], count: int, limit_seconds: float) -> dict[str, Any]:
    """The blog's YAML for ``count`` electors at once, round-robin over the namespaces; wait until led."""
    started = time.monotonic()
    calls = [
        call
        for index in range(count)
        for call in blogs[index % len(blogs)].creates([f"b{index:05d}"], started)
    ]
    created = await gather_limited(calls, limit=64)
    create_seconds = time.monotonic() - started
    failures = [str(result) for result in created if isinstance(result, BaseException)]
    deadline = started + limit_seconds
    while time.monotonic() < deadline and not all(blog.all_led for blog in blogs):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    per_group = [seconds for blog in blogs for seconds in blog.led_seconds(started)]
    errors = failures + [error for blog in blogs for error in blog.errors]
    return convergence_record(count, limit_seconds, create_seconds, per_group, None, errors)


async def bring_up(
    setup: str,
    stack: contextlib.AsyncExitStack,
    client: KubeClient,
    clusters: list[BenchCluster],
    options: argparse.Namespace,
) -> dict[str, Any]:
    """Follow every namespace, then make ``--groups`` groups (or the blog's objects) and wait for them.

    ``client`` creates the groups; the watches and the blog's creates use a client per namespace.
    """
    # A client per namespace: each holds several watches, and a client has at most 64 connections.
    clients = [await stack.enter_async_context(cluster.client()) for cluster in clusters]
    if setup == BLOG:
        blogs = [
            BlogGroups(c, k, REAL_CLUSTER_IMAGE, [KWOK_TOLERATION])
            for c, k in zip(clusters, clients, strict=True)
        ]
        for blog in blogs:
            stack.push_async_callback(blog.close)
            await blog.start_watch()
        return await converge_blog(blogs, options.groups, options.timeout)
    workloads = [RealWorkload(c, k) for c, k in zip(clusters, clients, strict=True)]
    for workload in workloads:
        stack.push_async_callback(workload.close)
        await workload.start_watches()
    return await converge(client, workloads, options.groups, options.timeout)


async def run_setup(
    setup: str, number: int, options: argparse.Namespace, workdir: Path, audit: AuditLog | None
) -> dict[str, Any]:
    """One setup: fresh namespaces and operator processes, ``--groups`` groups, then everything deleted."""
    kubeconfig: Path = options.kubeconfig
    per_shard = options.namespaces // options.shards
    namespaces = balanced_namespaces(f"lgs{number}-{secrets.token_hex(3)}", options.shards, per_shard)
    clusters = [BenchCluster("real", kubeconfig, kubeconfig, n, None, options.audit_log) for n in namespaces]
    shards: list[str | None] = {
        "one": [None],
        "sharded": [f"{i}/{options.shards}" for i in range(options.shards)],
    }.get(setup, [])
    operators: list[ShardOperator] = []
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(clusters[0].client())
        try:
            for namespace in namespaces:
                body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
                await client.create(NAMESPACES, body)
            for index, shard in enumerate(shards):
                log = workdir / f"operator-{setup}-{index}.log"
                operators.append(ShardOperator(clusters[0], log, shard))
                operators[-1].start()  # listed first: stopped below even if it fails to start
            async with contextlib.AsyncExitStack() as followers:
                pids = {
                    **options.control_plane_pids,
                    **{f"operator-{i}": op.pid for i, op in enumerate(operators)},
                }
                since = audit.mark() if audit else time.time()
                cpu_before = cpu_by_process(pids)
                operator_cpu_before = [cpu_seconds(operator.pid) for operator in operators]
                convergence = await bring_up(setup, followers, client, clusters, options)
                await asyncio.sleep(options.settle)  # what follows Ready belongs to the bring-up too
                until = audit.mark() if audit else time.time()
                bring_up_cpu = cpu_used(cpu_before, cpu_by_process(pids), until - since)
                processes = [
                    process_figures(op, cpu) for op, cpu in zip(operators, operator_cpu_before, strict=True)
                ]
        finally:
            for operator in operators:
                operator.stop()
            for namespace in namespaces:
                with contextlib.suppress(ApiError):
                    await client.delete(NAMESPACES, namespace)
    gone = await asyncio.gather(*(wait_namespace_gone(cluster, cluster.namespace) for cluster in clusters))
    requests, cluster_tally = operator_counts(audit, since, until, namespaces, options.groups)
    return {
        "setup": setup,
        "replicas": len(operators),
        "groups": options.groups,
        "namespaces": namespaces,
        "convergence": convergence,
        "operator_requests": requests if operators else None,
        "cluster_bring_up": cluster_tally,
        "cluster_writes_per_group": round(cluster_tally["writes"] / options.groups, 2)
        if cluster_tally
        else None,
        "bring_up_cpu": bring_up_cpu,
        "processes": processes,
        "namespaces_deleted_seconds": None if None in gone else max(s for s in gone if s is not None),
    }


def table_row(run: dict[str, Any]) -> list[Any]:
    """One setup's row of the table."""
    convergence, requests = run["convergence"], run["operator_requests"] or {}
    rss = [process["peak_rss_mb"] for process in run["processes"]]
    cpu = [process["cpu_seconds"] for process in run["processes"]]
    machine = run.get("bring_up_cpu") or {}
    return [
        run["setup"],
        run["replicas"],
        run["groups"],
        f"{convergence['converged']}/{run['groups']}",
        convergence["seconds"],
        convergence["per_group_seconds"]["p50"],
        convergence["children_seconds"],
        requests.get("writes_per_group"),
        requests.get("reads_per_group"),
        run.get("cluster_writes_per_group"),
        machine.get("total"),
        machine.get("cores_busy"),
        " / ".join(fmt(value, 1) for value in rss) or None,
        " / ".join(fmt(value) for value in cpu) or None,
    ]


def cpu_table(runs: list[dict[str, Any]]) -> str:
    """CPU seconds of every process during each setup's bring-up, one column per setup."""
    samples = [run.get("bring_up_cpu") or {"by_process": {}} for run in runs]
    names = list(dict.fromkeys(name for sample in samples for name in sample["by_process"]))
    return print_table(
        "CPU seconds during the bring-up, by process",
        ["process", *(run["setup"] for run in runs)],
        [[name, *(sample["by_process"].get(name) for sample in samples)] for name in names],
    )


def report(runs: list[dict[str, Any]]) -> str:
    """The Markdown tables: one row per setup, then the CPU by process."""
    setups_table = print_table(
        "One operator replica vs. shards vs. the blog's YAML (same groups, same cluster)",
        [
            "setup",
            "replicas",
            "groups",
            "converged",
            "converge s",
            "group p50 s",
            "children s",
            "op writes/group",
            "op reads/group",
            "cluster writes/group",
            "CPU s, all processes",
            "cores busy",
            "op peak RSS MB each",
            "op CPU s each",
        ],
        [table_row(run) for run in runs],
    )
    return setups_table + "\n" + cpu_table(runs)


def setups(text: str) -> list[str]:
    """``one,sharded`` as a list, checked, in the order given."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names or set(names) - set(SETUPS):
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated choice of {','.join(SETUPS)}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1000, help="LeaderGroups (default %(default)s)")
    parser.add_argument(
        "--namespaces", type=int, default=20, help="namespaces, a multiple of --shards (default %(default)s)"
    )
    parser.add_argument("--shards", type=int, default=2, help="shards of 'sharded' (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=900.0, help="convergence timeout in seconds")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after convergence still counted")
    add_rate_limit_arguments(parser)
    parser.add_argument(
        "--setups",
        type=setups,
        default=["one", "sharded"],
        help="comma-separated, run in this order (one,sharded,blog; default one,sharded)",
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="start the test control plane (tests/controlplane, needs Go) with ShardedListAndWatch, an "
        "audit log and enough KWOK nodes, and measure there",
    )
    parser.add_argument("--kubeconfig", type=Path, help="a real cluster (CRDs installed, the gate on)")
    parser.add_argument("--audit-log", type=Path, help="its JSON audit log, for request counts")
    parser.add_argument(
        "--kwok", action="store_true", help="with --kubeconfig: start KWOK with enough simulated nodes"
    )
    parser.add_argument("--workdir", type=Path, help="keep kubeconfigs and operator logs here")
    parser.add_argument("--output", type=Path, help="JSON (default bench/results/scale-shards-<stamp>.json)")
    options = parser.parse_args(argv)
    if options.real == (options.kubeconfig is not None):
        parser.error("say where: --real (start the test control plane) or --kubeconfig KC, not both")
    if options.kwok and not options.kubeconfig:
        parser.error("--kwok adds nodes to the cluster of --kubeconfig")
    if options.shards < 1 or options.namespaces < options.shards or options.namespaces % options.shards:
        parser.error("--namespaces must be a positive multiple of --shards (at least 1)")
    if options.groups < 1 or options.timeout <= 0 or options.settle < 0:
        parser.error("--groups and --timeout must be positive, --settle not negative")
    return options


async def main_async(options: argparse.Namespace) -> dict[str, Any]:
    runs = []
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="lgbench-") as tmp, contextlib.ExitStack() as stack:
        workdir = options.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        gates = [f"--feature-gates={FEATURE_GATE}=true"]
        enter_bench_cluster(stack, options, workdir, nodes_for(options.groups), gates)  # 3 pods per group
        audit = AuditLog(options.audit_log) if options.audit_log else None
        version = await kubernetes_version(options.kubeconfig)
        for number, setup in enumerate(options.setups, 1):
            print(f"--- {setup}: {options.groups} groups (logs: {workdir})", file=sys.stderr, flush=True)
            runs.append(await run_setup(setup, number, options, workdir, audit))
    return {
        "bench": "scale-shards",
        "schema": 1,
        "started_at": started,
        "environment": {**environment(), "kubernetes": version},
        "options": options_record(options),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    return run_main("scale-shards", parse_args(argv), main_async, report)


if __name__ == "__main__":
    sys.exit(main())
