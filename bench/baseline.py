"""The baseline of the scale benchmark: the blog's hand-written leader election, with no operator.

Per group, what the blog's YAML makes (``kubectl apply`` by a user, here the benchmark): a ServiceAccount,
a Role granting ``*`` on ``leases``, a RoleBinding and a Deployment of three replicas running the elector
as that ServiceAccount. The electors are played by the benchmark, as client-go's do: once the pods run,
the first one finds no Lease (GET, 404), creates it with itself as the holder, and every holder renews
with a conditional PUT. The run measures the same things as the operator's (convergence, writes and reads
per group by actor from the audit log, the steady write rate while renewing), so that the table shows what
the operator costs the API server over plain leader election.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from typing import Any

from bench.apimetrics import scrape as scrape_metrics
from bench.apimetrics import served_since
from bench.common import (
    BenchCluster,
    GroupProgress,
    cpu_by_process,
    cpu_used,
    gather_limited,
    micro_now,
    summary,
    take_lease,
    watch_forever,
)
from bench.realcluster import REPLICAS, AuditLog, tally, timeline

from leadergroup import constants
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.errors import ApiUnavailable
from leadergroup.kube.resources import DEPLOYMENTS, LEASES, ROLE_BINDINGS, ROLES, SERVICE_ACCOUNTS

BLOG_LABEL = "app"


def blog_objects(
    name: str, namespace: str, image: str, tolerations: list[dict[str, Any]]
) -> list[tuple[Any, dict[str, Any]]]:
    """The blog's four objects for one elector, as (resource, body); the pods tolerate ``tolerations``."""
    meta = {"name": name, "namespace": namespace}
    labels = {BLOG_LABEL: name}
    container = {
        "name": "elector",
        "image": image,
        "args": ["-id=$(POD_NAME)", f"-lease-lock-name={name}", f"-lease-lock-namespace={namespace}"],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    }
    return [
        (SERVICE_ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}),
        (
            ROLES,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": meta,
                "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]}],
            },
        ),
        (
            ROLE_BINDINGS,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
        ),
        (
            DEPLOYMENTS,
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {**meta, "labels": labels},
                "spec": {
                    "replicas": REPLICAS,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": name,
                            "tolerations": tolerations,
                            "containers": [container],
                        },
                    },
                },
            },
        ),
    ]


def new_lease(name: str, namespace: str, holder: str) -> dict[str, Any]:
    """The Lease client-go creates when it finds none: itself as the holder, the blog's 60 s."""
    now = micro_now()
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": constants.DEFAULT_LEASE_DURATION,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 0,
        },
    }


class BlogGroups:
    """N hand-written elector setups on a real cluster, followed through a Deployment watch."""

    def __init__(self, cluster: BenchCluster, client: KubeClient, image: str, tolerations: list[Any]):
        self.cluster = cluster
        self.client = client
        self.image = image
        self.tolerations = tolerations
        self.groups: dict[str, GroupProgress] = {}
        self.errors: list[str] = []
        self._ready: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._limit = asyncio.Semaphore(32)

    async def start_watch(self) -> None:
        """Follow the Deployments' readiness; returns once the watch is open."""
        opened = asyncio.Event()
        self._tasks.append(
            asyncio.create_task(
                watch_forever(
                    self.client, DEPLOYMENTS, self.cluster.namespace, self._deployment_event, ready=opened
                )
            )
        )
        await opened.wait()

    def _deployment_event(self, event_type: str, deployment: dict[str, Any], arrived: float) -> None:
        name = str(deployment["metadata"]["name"])
        progress = self.groups.get(name)
        if progress is None or event_type == "DELETED" or progress.ready_at is not None:
            return
        if (deployment.get("status") or {}).get("readyReplicas") == REPLICAS:
            progress.ready_at = arrived
            self._ready[name].set()

    def creates(self, names: list[str], started: float) -> list[functools.partial[Any]]:
        """Follow ``names`` from ``started`` (monotonic) on; the creates of their objects, in order."""
        calls = []
        for name in names:
            self.groups[name] = GroupProgress(name, created_at=started)
            self._ready[name] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._elect(name)))
            for resource, body in blog_objects(name, self.cluster.namespace, self.image, self.tolerations):
                calls.append(functools.partial(self.client.create, resource, body, self.cluster.namespace))
        return calls

    @property
    def all_led(self) -> bool:
        """Whether every group followed has a leader."""
        return all(p.holder for p in self.groups.values())

    def led_seconds(self, started: float) -> list[float]:
        """Seconds from ``started`` until each led group had its leader."""
        return [p.children_at - started for p in self.groups.values() if p.children_at is not None]

    async def converge(self, count: int, limit_seconds: float) -> dict[str, Any]:
        """Apply the blog's YAML for ``count`` electors; wait until every Deployment is ready and led."""
        started = time.monotonic()
        created = await gather_limited(self.creates([f"b{index:04d}" for index in range(count)], started), 64)
        self.errors += [str(result) for result in created if isinstance(result, BaseException)]
        deadline = started + limit_seconds
        while time.monotonic() < deadline and not self.all_led:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        led = self.led_seconds(started)
        done = len(led) == count
        return {
            "seconds": max(led) if done else None,
            "timed_out": not done,
            "converged": len(led),
            "per_group_seconds": summary(led),
            "errors": self.errors[:20],
        }

    async def _elect(self, name: str) -> None:
        """The first pod's elector, once the pods run: no Lease yet (GET 404), so it creates one."""
        progress = self.groups[name]
        namespace = self.cluster.namespace
        try:
            await self._ready[name].wait()
            holder = f"{name}-pod-0"
            async with self._limit:
                lease = await self.client.get_or_none(LEASES, name, namespace)
                if lease is None:
                    lease = await self.client.create(LEASES, new_lease(name, namespace, holder), namespace)
            progress.lease, progress.holder = lease, holder
            progress.children_at = time.monotonic()  # here: the moment the group has a leader
        except (ApiError, ApiUnavailable) as error:
            self.errors.append(f"{name}: {error}")

    async def renew_all(self) -> int:
        """One renewal round: every holder PUTs its Lease, as client-go does every RetryPeriod; failures."""

        async def renew(progress: GroupProgress) -> None:
            if progress.lease is not None:
                progress.lease = await take_lease(
                    self.client, self.cluster.namespace, progress.lease, progress.holder
                )

        results = await gather_limited([functools.partial(renew, p) for p in self.groups.values()], limit=32)
        return sum(isinstance(result, BaseException) for result in results)

    async def close(self) -> None:
        """Stop the watch and the electors."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def renewing(renew: Any, seconds: float, interval: float) -> dict[str, Any]:
    """Call ``renew()`` every ``interval`` seconds for ``seconds``; how many rounds it managed."""
    started = time.monotonic()
    end, rounds, failed = started + seconds, 0, 0
    while time.monotonic() < end:
        if interval <= 0:
            await asyncio.sleep(end - time.monotonic())
            break
        failed += await renew()
        rounds += 1
        await asyncio.sleep(max(0.0, min(end, started + rounds * interval) - time.monotonic()))
    return {
        "seconds": round(time.monotonic() - started, 1),
        "renew_interval": interval,
        "rounds": rounds,
        "renewals_failed": failed,
    }


def steady_rates(audit: AuditLog, since: float, until: float) -> dict[str, Any]:
    """Writes per second over a window, in all and per actor (from the audit log)."""
    counted = tally(audit.entries(since, until))
    seconds = max(1e-9, until - since)
    return {
        "seconds": round(seconds, 1),
        "writes": counted["writes"],
        "writes_per_second": round(counted["writes"] / seconds, 2),
        "by_actor_writes_per_second": {
            actor: round(row["writes"] / seconds, 2) for actor, row in counted["by_actor"].items()
        },
        "by_actor": counted["by_actor"],
    }


async def run_baseline(
    cluster: BenchCluster,
    audit: AuditLog,
    count: int,
    *,
    image: str,
    tolerations: list[Any],
    limit_seconds: float,
    idle_seconds: float,
    renew_interval: float,
    settle: float,
    processes: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The blog's setup for ``count`` electors: convergence, writes per group, steady write rate.

    ``processes`` (name to pid) are the ones whose CPU seconds during the bring-up are reported.
    """
    async with cluster.client() as client:
        blog = BlogGroups(cluster, client, image, tolerations)
        try:
            await blog.start_watch()
            cpu_before = cpu_by_process(processes or {})
            metrics_before = await scrape_metrics(client)
            since = audit.mark()
            convergence = await blog.converge(count, limit_seconds)
            await asyncio.sleep(settle)
            until = audit.mark()
            bring_up_cpu = cpu_used(cpu_before, cpu_by_process(processes or {}), until - since)
            served_bring_up = await served_since(client, metrics_before, until - since)
            entries = audit.entries(since, until)
            bring_up = tally(entries)
            metrics_before = await scrape_metrics(client)
            idle_since = audit.mark()
            renewals = await renewing(blog.renew_all, idle_seconds, renew_interval)
            idle_until = audit.mark()
            steady = steady_rates(audit, idle_since, idle_until)
            served_steady = await served_since(client, metrics_before, idle_until - idle_since)
        finally:
            await blog.close()
    return {
        "groups": count,
        "convergence": convergence,
        "bring_up": bring_up,
        "bring_up_timeline": timeline(entries, since),
        "bring_up_cpu": bring_up_cpu,
        "apiserver_bring_up": served_bring_up,
        "apiserver_steady": served_steady,
        "writes_per_group": round(bring_up["writes"] / count, 2),
        "reads_per_group": round(bring_up["reads"] / count, 2),
        "steady": {**steady, **renewals},
    }
