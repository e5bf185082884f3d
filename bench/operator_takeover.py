"""Operator HA: time from SIGKILL of the active operator replica to the first reconcile by the standby.

Two replicas of the real operator (subprocesses, Kopf peering through one peering object) run; each round
SIGKILLs the active one (the highest live priority in the peering object), creates a LeaderGroup right
after, and times until its Deployment exists. The killed replica is then restarted (it rejoins as the
standby) for the next round. Expected: about the peering lifetime minus the time since the dead replica's
last keep-alive (keep-alives come every max(1, lifetime - 5..10) s), plus a re-list.

    python bench/operator_takeover.py                   # 10 rounds, the shipped lifetime (10 s): ~2.5 min
    python bench/operator_takeover.py --rounds 20 --lifetime 5
    python bench/operator_takeover.py --kubeconfig ~/.kube/config   # a real cluster (Kopf's CRDs installed)

Results: a table on stdout and bench/results/operator_takeover.json (``--output`` to change).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.common` when run as a script

from bench.common import (
    BenchCluster,
    environment,
    open_cluster,
    print_table,
    summary,
    write_results,
)

from leadergroup.cli.peering import DEFAULT_LIFETIME, NAMESPACED_PEERINGS, parse_peers
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS
from leadergroup.procutil import free_port, operator_command, wait_until_alive

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = REPO_ROOT / "manifests" / "samples" / "minimal.yaml"
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "operator_takeover.json"


class Replica:
    """One operator replica: a subprocess with its own identity (POD_ID) and, on the emulator, token."""

    def __init__(
        self,
        name: str,
        kubeconfig: Path,
        namespace: str | None,
        peering: str,
        lifetime: int,
        log: Path,
        extra: tuple[str, ...] = (),
    ):
        self.name = name
        self.kubeconfig = kubeconfig
        self.namespace = namespace  # None: every namespace
        self.peering = peering
        self.lifetime = lifetime
        self.log = log
        self.extra = extra  # more operator arguments (--shard=...)
        self.generation = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def identity(self) -> str:
        return f"{self.name}-{self.generation}"

    def start(self, timeout: float = 60.0) -> None:
        self.generation += 1
        port = free_port()
        extra = ["--peering", self.peering, "--peering-lifetime", str(self.lifetime), *self.extra]
        command = operator_command(self.kubeconfig, namespace=self.namespace, liveness_port=port, extra=extra)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "POD_ID": self.identity}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until_alive(self.process, port, timeout, lambda: self.log.read_text(errors="replace")[-3000:])

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


async def live_priorities(client: KubeClient, namespace: str, peering: str) -> dict[str, int]:
    body = await client.get_or_none(NAMESPACED_PEERINGS, peering, namespace)
    if body is None:
        return {}
    now = datetime.now(UTC)
    return {peer.identity: peer.priority for peer in parse_peers(body) if peer.alive(now)}


async def wait_for(predicate: Any, seconds: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what} not within {seconds}s")


async def one_round(
    client: KubeClient, cluster: BenchCluster, replicas: list[Replica], peering: str, index: int
) -> dict[str, Any]:
    namespace = cluster.namespace
    identities = {r.identity for r in replicas}

    async def both_live() -> dict[str, int] | None:
        live = await live_priorities(client, namespace, peering)
        return live if identities <= set(live) else None

    live = await wait_for(both_live, 60, "both replicas' keep-alives")
    active_identity = max(identities, key=lambda identity: live[identity])
    active = next(r for r in replicas if r.identity == active_identity)
    # Let the active replica settle into its keep-alive rhythm: a crash lands anywhere in its cycle.
    await asyncio.sleep(1 + secrets.randbelow(1000) / 1000)

    active.kill()
    killed = time.monotonic()
    name = f"takeover-{index}"
    body = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    await client.create(LEADERGROUPS, body, namespace)

    async def reconciled() -> bool:
        return await client.get_or_none(DEPLOYMENTS, name, namespace) is not None

    await wait_for(reconciled, 120, f"the Deployment of {name}")
    took = time.monotonic() - killed
    active.start()  # back as the standby for the next round
    await client.delete(LEADERGROUPS, name, namespace)
    return {"round": index, "killed": active_identity, "seconds": took}


async def run(cluster: BenchCluster, rounds: int, lifetime: int, workdir: Path) -> list[dict[str, Any]]:
    peering = f"lgbench-{secrets.token_hex(3)}"
    replicas = []
    for name in ("operator-a", "operator-b"):
        kubeconfig = cluster.admin_kubeconfig
        if cluster.emulator is not None:
            kubeconfig = cluster.emulator.write_kubeconfig(
                workdir / f"kubeconfig-{name}", token=name, namespace=cluster.namespace
            )
        replicas.append(
            Replica(name, kubeconfig, cluster.namespace, peering, lifetime, workdir / f"{name}.log")
        )
    results = []
    try:
        for replica in replicas:
            replica.start()
        async with cluster.client() as client:
            for index in range(rounds):
                result = await one_round(client, cluster, replicas, peering, index)
                print(f"round {index}: {result['seconds']:.2f}s (killed {result['killed']})", flush=True)
                results.append(result)
    finally:
        for replica in replicas:
            replica.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds (default: %(default)s)")
    parser.add_argument(
        "--lifetime", type=int, default=DEFAULT_LIFETIME, help="peering lifetime, s (default: %(default)s)"
    )
    parser.add_argument("--kubeconfig", type=Path, help="a real cluster instead of the emulator")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    options = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="lg-takeover-") as tmp,
        open_cluster(Path(tmp), kubeconfig=options.kubeconfig) as cluster,
    ):
        results = asyncio.run(run(cluster, options.rounds, options.lifetime, Path(tmp)))
    stats = summary([r["seconds"] for r in results])
    print_table(
        f"Operator takeover after SIGKILL ({cluster.backend}, peering lifetime {options.lifetime}s)",
        ["rounds", "p50 (s)", "p90 (s)", "max (s)", "mean (s)"],
        [[stats["count"], stats["p50"], stats["p90"], stats["max"], stats["mean"]]],
    )
    path = write_results(
        "operator_takeover",
        {
            "benchmark": "operator_takeover",
            "backend": cluster.backend,
            "lifetime_seconds": options.lifetime,
            "summary": stats,
            "rounds": results,
            "environment": environment(),
        },
        options.output,
    )
    print(f"Results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
