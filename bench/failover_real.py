"""Failover on a real Kubernetes control plane: client-go alone, client-go under a LeaderGroup, ours.

For each failure of the leader and each way of running the election, ``--rounds`` rounds run concurrently,
each on a Lease of its own:

- kinds: ``client-go`` (the blog's program, tests/elector/clientgo, with no operator: the Lease it makes
  itself), ``client-go+lg`` (the same program as a LeaderGroup's pods, the operator running) and ``ours+lg``
  (``leadergroup-elector`` as the group's pods);
- failures of a leader and one standby process, with the pods Pending (no node needed): ``graceful``
  (SIGTERM: the leader releases), ``crash`` (SIGKILL, then the kubelet's report that the container
  terminated, written to the pod's status as a kubelet would; nothing to report without a LeaderGroup) and
  ``pod-deleted`` (SIGKILL, then the pod deleted from the API; without a LeaderGroup there is no pod);
- failures of pods on KWOK's nodes, whose processes a kubelet stand-in runs (:mod:`bench.failover_pods`):
  ``eviction`` (through the operator's PodDisruptionBudget; the blog's Deployment has none),
  ``rolling-update`` (a new template on three replicas) and ``node-lost`` (the leader's node stops
  reporting and its processes freeze). Every kind runs every failure: where the operator has nothing to
  add (no report to act on, no budget), that is what the figure shows.

Measured per round: the leaderless time (for the first three from the fault until the standby's own log
says it leads; for the pod failures the time within the fault's window during which no log shows a term)
and the number of leader changes that followed (1 is right). The candidates are local processes with the
pods' names; the operator is the real one, standalone, with the admin's kubeconfig.

    python bench/failover_real.py                   # starts the test control plane itself (needs Go)
    python bench/failover_real.py --kubeconfig KC   # a cluster of yours, CRDs installed (pod failures: KWOK)
    python bench/failover_real.py --quick --kinds ours+lg --failures rolling-update   # one round at 3/2/1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.*`, `tests.*` when run as a script

from bench.common import (
    BenchCluster,
    OperatorRun,
    environment,
    open_cluster,
    percentile,
    print_table,
    write_results,
)
from bench.failover_candidates import KINDS, Candidate, batch_name, start_candidate, until
from bench.failover_pods import CONTAINER_START_SECONDS, POD_FAILURES, one_pod_batch

from bench import holder_deleted
from leadergroup.elector import ElectionTiming
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, PODS
from leadergroup.sim.standins import pods_of

FAILURES = ("graceful", "crash", "pod-deleted", *POD_FAILURES)


@dataclass
class Round:
    """One round: a Lease (and, under a LeaderGroup, its group and pods) and its two candidates."""

    name: str
    pods: list[str]
    candidates: list[Candidate] = field(default_factory=list)


async def prepare(
    kind: str, client: KubeClient, cluster: BenchCluster, name: str, timing: tuple[int, int, int]
) -> Round:
    if kind == "client-go":
        return Round(name, [f"{name}-a", f"{name}-b"])
    namespace = cluster.namespace
    body = holder_deleted.group(namespace, name, ElectionTiming(*timing), failover=True)
    await client.create(LEADERGROUPS, body, namespace)
    deployment = await until(lambda: client.get_or_none(DEPLOYMENTS, name, namespace), 30, "Deployment")

    async def two_pods() -> list[str] | None:
        pods = [p["metadata"]["name"] for p in await pods_of(client, deployment)]
        return pods if len(pods) >= 2 else None

    return Round(name, (await until(two_pods, 60, "pods", interval=0.2))[:2])


async def kubelet_reports_terminated(client: KubeClient, namespace: str, pod: str) -> None:
    stamp = "2026-07-24T12:00:00Z"
    terminated = {"exitCode": 137, "reason": "Error", "startedAt": stamp, "finishedAt": stamp}
    status = {
        "name": "app",
        "image": "leader-election-example:latest",
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "state": {"terminated": terminated},
    }
    await client.patch(
        PODS, pod, {"status": {"containerStatuses": [status]}}, namespace, subresource="status"
    )


async def one_batch(
    kind: str,
    failure: str,
    cluster: BenchCluster,
    client: KubeClient,
    rounds: int,
    timing: tuple[int, int, int],
    workdir: Path,
) -> list[dict[str, Any]]:
    """``rounds`` concurrent rounds of one kind and one failure; one result per round."""
    namespace = cluster.namespace
    prefix = batch_name(kind, failure)
    batch = [await prepare(kind, client, cluster, f"{prefix}-{i}", timing) for i in range(rounds)]
    for round_ in batch:
        round_.candidates.append(
            start_candidate(
                kind, round_.pods[0], round_.name, namespace, cluster.admin_kubeconfig, timing, workdir
            )
        )
    await until(lambda: all(r.candidates[0].starts() for r in batch), 60, "first leaders")
    for round_ in batch:
        round_.candidates.append(
            start_candidate(
                kind, round_.pods[1], round_.name, namespace, cluster.admin_kubeconfig, timing, workdir
            )
        )
    await until(
        lambda: all(r.candidates[1].has_seen(r.candidates[0].identity) for r in batch),
        120,
        "standbys that see their leader",
        interval=0.2,
    )
    await asyncio.sleep(timing[2] * 2.5)  # every standby has polled a few times since
    faults: dict[str, float] = {}
    for round_ in batch:
        leader = round_.candidates[0]
        faults[round_.name] = time.time()
        leader.process.send_signal(signal.SIGTERM if failure == "graceful" else signal.SIGKILL)
        if failure == "crash" and kind != "client-go":
            await kubelet_reports_terminated(client, namespace, leader.identity)
        elif failure == "pod-deleted" and kind != "client-go":
            await client.delete(PODS, leader.identity, namespace)
    lease, _, retry = timing
    await until(lambda: all(r.candidates[1].starts() for r in batch), lease + 5 * retry + 15, "new leaders")
    await asyncio.sleep(retry * 2.5)  # room for any further (wrong) change of leader
    results = []
    for round_ in batch:
        starts = [t for c in round_.candidates for t in c.starts() if t >= faults[round_.name]]
        results.append({"leaderless": min(starts) - faults[round_.name], "changes": len(starts)})
        for candidate in round_.candidates:
            if candidate.process.poll() is None:
                candidate.process.send_signal(signal.SIGKILL)
            candidate.process.wait()
    return results


def summarize(kind: str, failure: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    leaderless = [r["leaderless"] for r in results]
    changes = [r["changes"] for r in results]
    summary = {
        "kind": kind,
        "failure": failure,
        "rounds": len(results),
        "leaderless_p50": percentile(leaderless, 0.5),
        "leaderless_max": max(leaderless),
        "changes_max": max(changes),
        "changes": changes,
        "samples": [round(value, 3) for value in leaderless],
    }
    if failure in POD_FAILURES:  # the time to the first new term, which the leaderless time can differ from
        summary["from_fault"] = [
            None if r["from_fault"] is None else round(r["from_fault"], 3) for r in results
        ]
    if failure == "node-lost":
        summary["heartbeat_stopped"] = all(r["heartbeat_stopped"] for r in results)
        summary["node_ready_in_api"] = sorted({str(r["node_ready_in_api"]) for r in results})
    return summary


@contextlib.contextmanager
def real_cluster(kubeconfig: Path | None, workdir: Path, nodes: int) -> Iterator[Path]:
    """The user's cluster, or the test control plane started here (CRDs installed, ``nodes`` KWOK nodes)."""
    if kubeconfig is not None:
        yield kubeconfig
        return
    from tests.controlplane.build import CLIENTGO_ELECTOR, ensure_built
    from tests.controlplane.cluster import control_plane
    from tests.support.cluster import RealBackend

    ensure_built(CLIENTGO_ELECTOR)
    with control_plane(workdir / "controlplane", nodes=nodes) as plane:
        RealBackend(plane.kubeconfig, str(plane.kubectl), plane).install_crds()  # kubectl apply -k crds/
        yield plane.kubeconfig


async def run(options: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    summaries = []
    with (
        real_cluster(
            options.kubeconfig, workdir, 3 if set(options.failures) & set(POD_FAILURES) else 0
        ) as kubeconfig,
        open_cluster(workdir, kubeconfig=kubeconfig) as cluster,
    ):
        operator = OperatorRun(cluster, workdir / "operator.log").start()
        try:
            async with cluster.client() as client:
                for failure in options.failures:
                    for kind in options.kinds:
                        batch = one_pod_batch if failure in POD_FAILURES else one_batch
                        results = await batch(
                            kind, failure, cluster, client, options.rounds, options.timing, workdir
                        )
                        summaries.append(summarize(kind, failure, results))
                        print(
                            f"{failure:12} {kind:14} p50 {summaries[-1]['leaderless_p50']:.3f} s", flush=True
                        )
        finally:
            operator.stop()
    return summaries


def parse_timing(text: str) -> tuple[int, int, int]:
    lease, renew, retry = (int(part) for part in text.split("/"))
    return lease, renew, retry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kubeconfig", type=Path, help="a cluster of yours (default: start the test control plane)"
    )
    parser.add_argument(
        "--timings", dest="timing", type=parse_timing, default=(15, 10, 2), metavar="LD/RD/RP"
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--failures", nargs="+", choices=FAILURES, default=list(FAILURES))
    parser.add_argument("--quick", action="store_true", help="one round at 3/2/1 s (a smoke run)")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default bench/results/)")
    parser.add_argument("--workdir", type=Path, help="keep the processes' logs there (default: a temp dir)")
    options = parser.parse_args(argv)
    if options.quick:
        options.timing, options.rounds = (3, 2, 1), 1
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        summaries = asyncio.run(run(options, options.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="lg-failover-real-") as directory:
            summaries = asyncio.run(run(options, Path(directory)))
    rows = [
        (s["failure"], s["kind"], s["rounds"], s["leaderless_p50"], s["leaderless_max"], s["changes_max"])
        for s in summaries
    ]
    lease, renew, retry = options.timing
    print_table(
        f"Failover on a real API server at {lease}/{renew}/{retry} s (leaderless seconds from the fault)",
        ["failure", "kind", "rounds", "p50", "max", "leader changes (max)"],
        rows,
    )
    path = write_results(
        "failover-real",
        {
            "timing": {"leaseDuration": lease, "renewDeadline": renew, "retryPeriod": retry},
            "environment": environment(),
            "kubelet_standin": {"container_start_seconds": CONTAINER_START_SECONDS},
            "results": summaries,
        },
        options.output,
    )
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
