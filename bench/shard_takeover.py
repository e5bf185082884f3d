"""Scale-out takeover: with two shards of two replicas each, how long a dead replica's share waits.

Four operator processes serve every namespace: shard 0 and shard 1 (``--shard i/2``, server-side sharded
watches), each an active replica and a standby coordinated by a ClusterKopfPeering of its own. Each round
SIGKILLs shard 0's active replica, then at once creates a LeaderGroup in a namespace of each shard, and
times until each group's Deployment exists: shard 0's is its standby taking over (about the peering
lifetime, as in bench/operator_takeover.py), shard 1's shows that the other shard did not notice. The
killed replica is restarted (it rejoins as shard 0's standby) before the next round.

Needs an API server with ``ShardedListAndWatch`` (the emulator ignores shard selectors; the operator then
refuses to start):

    python bench/shard_takeover.py                 # starts the test control plane with the gate (needs Go)
    python bench/shard_takeover.py --kubeconfig KC --rounds 5 --lifetime 10

Results: a table on stdout and bench/results/shard_takeover.json (``--output`` to change).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.*`, `tests.*` when run as a script

from bench.common import environment, print_table, summary, write_results
from bench.operator_takeover import Replica

from leadergroup.cli.peering import CLUSTER_PEERINGS, DEFAULT_LIFETIME, parse_peers
from leadergroup.cli.sharding import shard_of
from leadergroup.kube import KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, NAMESPACES

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "shard_takeover.json"
SHARDS = 2


def replica(name: str, shard: int, peering: str, kubeconfig: Path, lifetime: int, log: Path) -> Replica:
    """One operator replica of one shard, serving every namespace that hashes into it."""
    return Replica(name, kubeconfig, None, peering, lifetime, log, extra=(f"--shard={shard}/{SHARDS}",))


def shard_of_replica(replica: Replica) -> int:
    """Which shard a replica serves (from its ``--shard`` argument)."""
    (argument,) = (a for a in replica.extra if a.startswith("--shard="))
    return int(argument.removeprefix("--shard=").split("/")[0])


def one_namespace_per_shard(prefix: str, count: int) -> list[str]:
    """Namespaces ``<prefix>-<n>``, the first found for each of ``count`` shards, in shard order."""
    found: dict[int, str] = {}
    candidate = 0
    while len(found) < count:
        name = f"{prefix}-{candidate}"
        found.setdefault(shard_of(name, count), name)
        candidate += 1
    return [found[index] for index in range(count)]


def group(name: str, namespace: str) -> dict[str, Any]:
    """A one-replica group (its pods need not run: the Deployment's creation is what is timed)."""
    return {
        "apiVersion": "leadergroup.dev/v1alpha1",
        "kind": "LeaderGroup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
    }


async def live_priorities(client: KubeClient, peering: str) -> dict[str, int]:
    """The live replicas of one shard's peering object, with their priorities."""
    body = await client.get_or_none(CLUSTER_PEERINGS, peering)
    if body is None:
        return {}
    now = datetime.now(UTC)
    return {peer.identity: peer.priority for peer in parse_peers(body) if peer.alive(now)}


async def until(predicate: Any, seconds: float, what: str) -> Any:
    """Poll ``predicate`` (async) until it is truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{what} not within {seconds}s")


async def one_round(
    client: KubeClient, replicas: list[Replica], namespaces: list[str], index: int
) -> dict[str, Any]:
    """Kill shard 0's active replica; time a new group's Deployment in each shard."""
    shard0 = [r for r in replicas if shard_of_replica(r) == 0]
    peering = shard0[0].peering

    async def both_live() -> dict[str, int] | None:
        live = await live_priorities(client, peering)
        return live if {r.identity for r in shard0} <= set(live) else None

    live = await until(both_live, 60, "both of shard 0's keep-alives")
    active = max(shard0, key=lambda replica: live[replica.identity])
    await asyncio.sleep(1 + secrets.randbelow(1000) / 1000)  # a crash lands anywhere in the keep-alive cycle
    active.kill()
    killed = time.monotonic()
    name = f"takeover-{index}"
    for namespace in namespaces:
        await client.create(LEADERGROUPS, group(name, namespace), namespace)

    async def made(namespace: str) -> float:
        async def exists() -> bool:
            return await client.get_or_none(DEPLOYMENTS, name, namespace) is not None

        await until(exists, 120, f"the Deployment of {namespace}/{name}")
        return time.monotonic() - killed

    took = await asyncio.gather(*(made(namespace) for namespace in namespaces))
    active.start()  # back as shard 0's standby
    for namespace in namespaces:
        await client.delete(LEADERGROUPS, name, namespace)
    return {"round": index, "killed": active.identity, "shard0_seconds": took[0], "shard1_seconds": took[1]}


async def run(kubeconfig: Path, rounds: int, lifetime: int, workdir: Path) -> list[dict[str, Any]]:
    """Four replicas, one namespace per shard, ``rounds`` rounds."""
    run_id = secrets.token_hex(3)
    ordered = one_namespace_per_shard(f"lgbench-{run_id}", SHARDS)
    replicas = [
        replica(
            f"shard{shard}-{letter}",
            shard,
            f"lgbench-{run_id}-shard-{shard}",
            kubeconfig,
            lifetime,
            workdir / f"shard{shard}-{letter}.log",
        )
        for shard in range(SHARDS)
        for letter in "ab"
    ]
    results = []
    async with KubeClient.auto(kubeconfig, user_agent="leadergroup-bench") as client:
        for namespace in ordered:
            await client.create(
                NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        try:
            for replica in replicas:
                replica.start()
            for index in range(rounds):
                result = await one_round(client, replicas, ordered, index)
                print(
                    f"round {index}: shard 0 {result['shard0_seconds']:.2f}s, "
                    f"shard 1 {result['shard1_seconds']:.2f}s",
                    flush=True,
                )
                results.append(result)
        finally:
            for replica in replicas:
                replica.stop()
            for namespace in ordered:
                await client.delete(NAMESPACES, namespace)
    return results


@contextlib.contextmanager
def cluster(kubeconfig: Path | None, workdir: Path) -> Iterator[Path]:
    """The user's cluster, or the test control plane with ShardedListAndWatch on (CRDs installed)."""
    if kubeconfig is not None:
        yield kubeconfig
        return
    from bench.realcluster import real_control_plane

    with real_control_plane(
        workdir, nodes=0, apiserver_args=["--feature-gates=ShardedListAndWatch=true"]
    ) as plane:
        yield plane.kubeconfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default: %(default)s)")
    parser.add_argument(
        "--lifetime", type=int, default=DEFAULT_LIFETIME, help="peering lifetime, s (default: %(default)s)"
    )
    parser.add_argument("--kubeconfig", type=Path, help="a cluster with ShardedListAndWatch, CRDs installed")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    options = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="lg-shard-takeover-") as tmp,
        cluster(options.kubeconfig, Path(tmp)) as kubeconfig,
    ):
        results = asyncio.run(run(kubeconfig, options.rounds, options.lifetime, Path(tmp)))
    stats = {key: summary([r[f"{key}_seconds"] for r in results]) for key in ("shard0", "shard1")}
    print_table(
        f"Shard takeover after SIGKILL of shard 0's active replica (peering lifetime {options.lifetime}s)",
        ["new group in", "rounds", "p50 (s)", "p90 (s)", "max (s)"],
        [
            [label, s["count"], s["p50"], s["p90"], s["max"]]
            for label, s in (
                ("shard 0 (taken over)", stats["shard0"]),
                ("shard 1 (untouched)", stats["shard1"]),
            )
        ],
    )
    path = write_results(
        "shard_takeover",
        {
            "benchmark": "shard_takeover",
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
