"""Failover on a real Kubernetes control plane: client-go alone, client-go under a LeaderGroup, ours.

For each failure of the leader and each way of running the election, ``--rounds`` rounds run concurrently,
each with two candidate processes (the leader and one standby) on a Lease of their own:

- kinds: ``client-go`` (the blog's program, tests/elector/clientgo, with no operator: the Lease it makes
  itself), ``client-go+lg`` (the same program as a LeaderGroup's pods, the operator running) and ``ours+lg``
  (``leadergroup-elector`` as the group's pods);
- failures: ``graceful`` (SIGTERM: the leader releases), ``crash`` (SIGKILL, then the kubelet's report that
  the container terminated, written to the pod's status as a kubelet would; nothing to report without a
  LeaderGroup) and ``pod-deleted`` (SIGKILL, then the pod deleted from the API).

Measured per round, from the fault: the leaderless time until the standby's own log says it leads, and the
number of leader changes that followed (1 is right). The candidates are local processes with the pods'
names; the operator is the real one, standalone, with the admin's kubeconfig.

    python bench/failover_real.py                   # starts the test control plane itself (needs Go)
    python bench/failover_real.py --kubeconfig KC   # a cluster of yours, with the CRDs installed
    python bench/failover_real.py --timings 3/2/1 --rounds 3 --quick
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
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

from bench import holder_deleted
from leadergroup.elector import ElectionTiming
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, PODS
from leadergroup.sim.standins import pods_of

KINDS = ("client-go", "client-go+lg", "ours+lg")
FAILURES = ("graceful", "crash", "pod-deleted")


@dataclass
class Candidate:
    """One candidate process and its log of terms."""

    identity: str
    process: subprocess.Popen[bytes]
    leading_log: Path

    def starts(self) -> list[float]:
        """Wall-clock times at which it started leading."""
        if not self.leading_log.exists():
            return []
        events = [json.loads(line) for line in self.leading_log.read_text().splitlines() if line.strip()]
        return [event["t"] for event in events if event["event"] == "started"]


@dataclass
class Round:
    """One round: a Lease (and, under a LeaderGroup, its group and pods) and its two candidates."""

    name: str
    pods: list[str]
    candidates: list[Candidate] = field(default_factory=list)


def timing_flags(timing: tuple[int, int, int]) -> list[str]:
    lease, renew, retry = timing
    return [f"-lease-duration={lease}s", f"-renew-deadline={renew}s", f"-retry-period={retry}s"]


def start_candidate(
    kind: str,
    identity: str,
    lease: str,
    namespace: str,
    kubeconfig: Path,
    timing: tuple[int, int, int],
    workdir: Path,
) -> Candidate:
    from tests.controlplane.build import CLIENTGO_ELECTOR

    leading_log = workdir / f"leading-{identity}.jsonl"
    common = [
        f"-id={identity}",
        f"-lease-lock-name={lease}",
        f"-lease-lock-namespace={namespace}",
        f"-kubeconfig={kubeconfig}",
        f"-leading-log={leading_log}",
        *timing_flags(timing),
    ]
    if kind.startswith("client-go"):
        argv = [str(CLIENTGO_ELECTOR.bin_dir() / "clientgo-elector"), *common]
    else:
        argv = [sys.executable, "-m", "leadergroup.elector", *common]
    with (workdir / f"elector-{identity}.log").open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    return Candidate(identity, process, leading_log)


async def until(predicate: Any, within: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {within:.0f}s")
        await asyncio.sleep(interval)


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
    prefix = f"{kind.replace('+', '-').replace('client-go', 'cg')}-{failure}"
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
    await asyncio.sleep(timing[2] * 2.5)  # every standby has polled and seen the leader
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
    return {
        "kind": kind,
        "failure": failure,
        "rounds": len(results),
        "leaderless_p50": percentile(leaderless, 0.5),
        "leaderless_max": max(leaderless),
        "changes_max": max(r["changes"] for r in results),
        "samples": [round(value, 3) for value in leaderless],
    }


@contextlib.contextmanager
def real_cluster(kubeconfig: Path | None, workdir: Path) -> Iterator[Path]:
    """The user's cluster, or the test control plane started here (with the CRDs installed)."""
    if kubeconfig is not None:
        yield kubeconfig
        return
    from tests.controlplane.build import CLIENTGO_ELECTOR, ensure_built
    from tests.controlplane.cluster import control_plane
    from tests.support.cluster import RealBackend

    ensure_built(CLIENTGO_ELECTOR)
    with control_plane(workdir / "controlplane") as plane:
        RealBackend(plane.kubeconfig, str(plane.kubectl), plane).install_crds()  # kubectl apply -k crds/
        yield plane.kubeconfig


async def run(options: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    summaries = []
    with (
        real_cluster(options.kubeconfig, workdir) as kubeconfig,
        open_cluster(workdir, kubeconfig=kubeconfig) as cluster,
    ):
        operator = OperatorRun(cluster, workdir / "operator.log").start()
        try:
            async with cluster.client() as client:
                for failure in options.failures:
                    for kind in options.kinds:
                        results = await one_batch(
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
    parser.add_argument("--output", type=Path, help="where to write the JSON (default bench/results/)")
    options = parser.parse_args(argv)
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
            "results": summaries,
        },
        options.output,
    )
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
