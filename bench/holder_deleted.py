"""Failover when the holder's pod is deleted: the operator's fast failover against plain lease expiry.

Each round is a LeaderGroup of two replicas whose pods exist in the API (made by the stand-in controller on
the emulator; on a real cluster the Deployment's Pending pods); two electors run as asyncio tasks with the
pods' names as identities. Once one leads, its pod is deleted and its elector dies with it (cancelled
without release, as a killed process). The time is from the DELETE to the other elector leading. Groups with
``failover.releaseOnHolderDeletion`` true and false run side by side, concurrently, under one real operator.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchCluster, OperatorRun, open_cluster

from leadergroup.elector import ElectionTiming, KubeLeaseBackend, LeaderElector, LeadershipContext, LeaseLock
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, PODS
from leadergroup.sim.standins import pods_of, replicate

SCENARIOS = {"holder-deleted, fast failover": True, "holder-deleted, lease expiry": False}


def group(namespace: str, name: str, timing: ElectionTiming, failover: bool) -> dict[str, Any]:
    """A two-replica LeaderGroup with the given timing and fast-failover switch."""
    return {
        "apiVersion": "leadergroup.dev/v1alpha1",
        "kind": "LeaderGroup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 2,
            "election": {
                "leaseDurationSeconds": int(timing.lease_duration),
                "renewDeadlineSeconds": int(timing.renew_deadline),
                "retryPeriodSeconds": int(timing.retry_period),
            },
            "failover": {"releaseOnHolderDeletion": failover},
            "template": {
                "spec": {"containers": [{"name": "app", "image": "leader-election-example:latest"}]}
            },
        },
    }


async def pod_names(cluster: BenchCluster, client: KubeClient, name: str) -> list[str]:
    """The group's two pods, once its Deployment exists."""
    namespace = cluster.namespace
    for _ in range(600):
        try:
            deployment = await client.get(DEPLOYMENTS, name, namespace)
        except ApiError as error:
            if not error.not_found:
                raise
            await asyncio.sleep(0.1)
            continue
        if cluster.emulator is not None:
            return await replicate(client, namespace, name)
        pods = await pods_of(client, deployment)
        if len(pods) >= 2:
            return [pod["metadata"]["name"] for pod in pods[:2]]
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no pods for {name}")


async def one_round(
    cluster: BenchCluster, name: str, timing: ElectionTiming, failover: bool, rng: random.Random
) -> float:
    """One deletion of the holder's pod; seconds from the DELETE to the other replica leading."""
    namespace = cluster.namespace
    admin = cluster.client()
    clients = [cluster.client(), cluster.client()]
    electors: dict[str, LeaderElector] = {}
    tasks: dict[str, asyncio.Task[None]] = {}
    leading: dict[str, asyncio.Event] = {}
    led_at: dict[str, float] = {}
    try:
        await admin.create(LEADERGROUPS, group(namespace, name, timing, failover), namespace)
        pods = await pod_names(cluster, admin, name)
        for pod, client in zip(pods, clients, strict=True):
            leading[pod] = asyncio.Event()

            async def work(ctx: LeadershipContext, pod: str = pod) -> None:
                led_at.setdefault(pod, time.monotonic())
                leading[pod].set()
                await ctx.wait_ended()

            electors[pod] = LeaderElector(
                LeaseLock(KubeLeaseBackend(client), namespace, name, pod),
                timing,
                on_started_leading=work,
                release_on_cancel=False,
                rng=random.Random(rng.random()),
            )
            tasks[pod] = asyncio.create_task(electors[pod].run())
        done, _ = await asyncio.wait(
            [asyncio.create_task(event.wait()) for event in leading.values()],
            timeout=timing.lease_duration * 3 + 30,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not done:
            raise TimeoutError(f"{name}: nobody took the Lease")
        holder = next(pod for pod in pods if leading[pod].is_set())
        other = next(pod for pod in pods if pod != holder)
        # The standby in steady state, and the deletion at a random phase of its polling.
        await asyncio.sleep(rng.uniform(2.2, 4.4) * timing.retry_period)
        tasks[holder].cancel()  # the process dies with its pod: no release
        await asyncio.gather(tasks[holder], return_exceptions=True)
        deleted_at = time.monotonic()
        await admin.delete(PODS, holder, namespace)
        await asyncio.wait_for(
            leading[other].wait(), timeout=timing.lease_duration + 4 * timing.retry_period + 30
        )
        return led_at[other] - deleted_at
    finally:
        for elector in electors.values():
            elector.stop()
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for client in (admin, *clients):
            await client.close()


async def run_rounds(
    cluster: BenchCluster, timing: ElectionTiming, rounds: int, seed: int
) -> dict[str, list[float]]:
    """All rounds of both scenarios, concurrently."""
    rng = random.Random(seed)
    jobs = {
        scenario: [
            asyncio.create_task(
                one_round(cluster, f"hd-{int(failover)}-{n}", timing, failover, random.Random(rng.random()))
            )
            for n in range(rounds)
        ]
        for scenario, failover in SCENARIOS.items()
    }
    return {scenario: [round(s, 3) for s in await asyncio.gather(*tasks)] for scenario, tasks in jobs.items()}


def measure(
    timing: ElectionTiming, rounds: int, seed: int, kubeconfig: Path | None = None
) -> dict[str, list[float]]:
    """Start a cluster (emulator unless ``kubeconfig``) and the operator, run the rounds, stop them."""
    with (
        tempfile.TemporaryDirectory(prefix="holder-deleted-bench-") as workdir,
        open_cluster(Path(workdir), kubeconfig=kubeconfig) as cluster,
    ):
        operator = OperatorRun(cluster, Path(workdir) / "operator.log").start()
        try:
            return asyncio.run(run_rounds(cluster, timing, rounds, seed))
        finally:
            operator.stop()


def speedup(samples: dict[str, list[float]]) -> float:
    """Median lease-expiry failover over median fast failover."""
    fast, slow = (statistics.median(samples[scenario]) for scenario in SCENARIOS)
    return slow / fast if fast > 0 else float("inf")
