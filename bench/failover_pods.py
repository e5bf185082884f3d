"""The failures of the real-server failover bench that need pods on nodes: eviction, rollout, node lost.

The pods run on KWOK's simulated nodes (placed by the real scheduler), and
:class:`bench.kubelet_standin.KubeletStandIn` runs their candidate processes and reports their status as
their kubelets would (Running and Ready once the process runs, removed once it has stopped). Each round
is one workload of its own: a LeaderGroup (``client-go+lg``, ``ours+lg``), or for ``client-go`` the blog's
hand-written Deployment (no PodDisruptionBudget, no deletion cost), with the client-go program making its
Lease itself.

- ``eviction``: POST ``pods/eviction`` on the leader's pod (the operator's PDB allows one at a time); the
  pod gets its deletionTimestamp, and the stand-in's SIGTERM makes the leader release.
- ``rolling-update``: a new template annotation on a three-replica workload; the Deployment controller
  replaces the pods one by one (maxSurge 1, maxUnavailable 0) and the stand-in stops each old process.
- ``node-lost``: the leader's node stops reporting (its node Lease is taken away from KWOK, so nobody
  renews it and KWOK stops updating the node and its pods) and every process on it is frozen. Each round
  has two nodes of its own, the leader's and the standby's, so that losing one touches no other round.

Measured per round, from the fault: the time during which no candidate led (by their own logs; a frozen
or killed leader's term ends at that moment) and the number of terms that started.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import BenchCluster, micro_now
from bench.failover_candidates import (
    Candidate,
    batch_name,
    leaderless_seconds,
    start_candidate,
    starts_after,
    until,
)
from bench.kubelet_standin import KubeletStandIn
from tests.controlplane.nodes import KWOK_OWN_STATUS, KWOK_TOLERATION, kwok_node

from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import DEPLOYMENTS, DISRUPTION_BUDGETS, LEADERGROUPS, LEASES, PODS, Resource

POD_FAILURES = ("eviction", "rolling-update", "node-lost")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
NODE_LEASE_NAMESPACE = "kube-node-lease"
BATCH_LABEL, ROUND_LABEL, POOL_LABEL = "lgbench-batch", "lgbench-round", "lgbench-pool"
# Holds a lost node's Lease so that KWOK (which renews only Leases it holds, or expired ones) steps back.
LOST_NODE_HOLDER = "lgbench-node-lost"
IMAGE = "leader-election-example:latest"
# From a pod's binding to its process running: a kubelet's sandbox and container start, image present.
CONTAINER_START_SECONDS = 1.0


@dataclass
class PodRound:
    """One workload (its name is also its Lease's) and, for node-lost, its two nodes."""

    name: str
    replicas: int
    nodes: list[str] = field(default_factory=list)

    def candidates(self, kubelet: KubeletStandIn) -> list[Candidate]:
        prefix = f"{self.name}-"
        return [c for name, c in kubelet.candidates.items() if name.startswith(prefix)]

    def leader(self, kubelet: KubeletStandIn) -> Candidate | None:
        leading = [c for c in self.candidates(kubelet) if c.leads() and c.identity not in kubelet.cut]
        return leading[0] if len(leading) == 1 else None


def template(batch: str, round_: PodRound, revision: str = "1") -> dict[str, Any]:
    """The pod template: tolerates KWOK's nodes; for node-lost, pinned to the round's own two nodes."""
    spec: dict[str, Any] = {
        "tolerations": [KWOK_TOLERATION],
        "containers": [{"name": "app", "image": IMAGE}],
    }
    labels = {BATCH_LABEL: batch, ROUND_LABEL: round_.name}
    if round_.nodes:
        spec["nodeSelector"] = {POOL_LABEL: round_.name}
        spec["tolerations"].append({"key": POOL_LABEL, "value": round_.name, "effect": "NoSchedule"})
        spec["affinity"] = {  # one pod per node, so the standby survives the leader's node
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": labels}}
                ]
            }
        }
    annotations = {**KWOK_OWN_STATUS, "revision": revision}  # the stand-in reports these pods, not KWOK
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}


def workload(kind: str, batch: str, round_: PodRound, timing: tuple[int, int, int]) -> dict[str, Any]:
    """The round's LeaderGroup, or for ``client-go`` the blog's plain Deployment."""
    if kind == "client-go":
        pod_template = template(batch, round_)
        pod_template["metadata"]["labels"]["app"] = round_.name
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": round_.name},
            "spec": {
                "replicas": round_.replicas,
                "selector": {"matchLabels": {"app": round_.name}},
                "template": pod_template,
            },
        }
    lease, renew, retry = timing
    return {
        "apiVersion": "leadergroup.dev/v1alpha1",
        "kind": "LeaderGroup",
        "metadata": {"name": round_.name},
        "spec": {
            "replicas": round_.replicas,
            "election": {
                "leaseDurationSeconds": lease,
                "renewDeadlineSeconds": renew,
                "retryPeriodSeconds": retry,
            },
            "template": template(batch, round_),
        },
    }


def pool_node(round_name: str, suffix: str) -> dict[str, Any]:
    """A KWOK node only the round's pods go to (its own label and taint)."""
    node = kwok_node(f"{round_name}-{suffix}")
    node["metadata"]["labels"][POOL_LABEL] = round_name
    node["spec"]["taints"].append({"key": POOL_LABEL, "value": round_name, "effect": "NoSchedule"})
    return node


def running_and_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
    return status.get("phase") == "Running" and ready and not pod["metadata"].get("deletionTimestamp")


async def settled(
    client: KubeClient, namespace: str, batch: str, rounds: list[PodRound], kubelet: KubeletStandIn, kind: str
) -> bool:
    """Every round has all its pods Ready and one leader (under a LeaderGroup: labelled as such)."""
    pods = (await client.list(PODS, namespace, label_selector=f"{BATCH_LABEL}={batch}"))["items"]
    for round_ in rounds:
        mine = [p for p in pods if p["metadata"]["labels"].get(ROUND_LABEL) == round_.name]
        if sum(map(running_and_ready, mine)) != round_.replicas:
            return False
        leader = round_.leader(kubelet)
        candidates = round_.candidates(kubelet)
        if leader is None or len(candidates) != round_.replicas:
            return False
        if not all(c.has_seen(leader.identity) for c in candidates if c is not leader):
            return False  # a standby still starting (a loaded CPU) would time its start, not a failover
        if kind != "client-go":
            pod = next((p for p in mine if p["metadata"]["name"] == leader.identity), None)
            if pod is None or pod["metadata"]["labels"].get("leadergroup.dev/role") != "leader":
                return False  # the deletion cost comes with the label: rollouts replace the leader last
    return True


async def evict(client: KubeClient, namespace: str, pod: str) -> float:
    """POST the pod's eviction until the disruption budget allows it; returns when it was accepted."""
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
    for _ in range(100):
        sent = time.time()
        try:
            await client.request("POST", PODS.path(namespace, pod, "eviction"), body=body)
            return sent
        except ApiError as error:
            if error.status != 429:  # 429: the budget allows no disruption yet
                raise
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the eviction of {pod} was refused for 10 s")


async def stop_heartbeat(client: KubeClient, node: str) -> dict[str, Any]:
    """Take the node's Lease away from KWOK, so that nobody renews it; returns it as written."""
    for _ in range(10):
        lease = await client.get(LEASES, node, NODE_LEASE_NAMESPACE)
        lease["spec"].update(
            holderIdentity=LOST_NODE_HOLDER, leaseDurationSeconds=3600, renewTime=micro_now()
        )
        try:
            return await client.replace(LEASES, node, lease, NODE_LEASE_NAMESPACE)
        except ApiError as error:
            if not error.conflict:  # KWOK renewed it just now: read again
                raise
    raise RuntimeError(f"could not take the Lease of node {node}")


async def rolled_out(client: KubeClient, namespace: str, round_: PodRound, kubelet: KubeletStandIn) -> bool:
    """The Deployment has only new, Ready pods, and one of them leads."""
    deployment = await client.get(DEPLOYMENTS, round_.name, namespace)
    status, generation = deployment.get("status") or {}, deployment["metadata"]["generation"]
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    done = annotations.get("revision") == "2" and status.get("observedGeneration", 0) >= generation
    done = done and all(
        status.get(key) == round_.replicas
        for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    )
    leader = round_.leader(kubelet)
    return done and leader is not None and leader.identity not in kubelet.terminated


async def one_pod_batch(
    kind: str,
    failure: str,
    cluster: BenchCluster,
    client: KubeClient,
    rounds: int,
    timing: tuple[int, int, int],
    workdir: Path,
) -> list[dict[str, Any]]:
    """``rounds`` concurrent rounds of one kind and one failure on KWOK's nodes; one result per round."""
    namespace = cluster.namespace
    lease, _, retry = timing
    batch = batch_name(kind, failure)
    replicas = 3 if failure == "rolling-update" else 2
    batch_rounds = [PodRound(f"{batch}-{i}", replicas) for i in range(rounds)]
    resource = DEPLOYMENTS if kind == "client-go" else LEADERGROUPS

    def spawn(pod: dict[str, Any]) -> Candidate:
        lease_name = pod["metadata"]["labels"][ROUND_LABEL]
        return start_candidate(
            kind, pod["metadata"]["name"], lease_name, namespace, cluster.admin_kubeconfig, timing, workdir
        )

    try:
        if failure == "node-lost":
            for round_ in batch_rounds:
                round_.nodes = [f"{round_.name}-a", f"{round_.name}-b"]
                for suffix in ("a", "b"):
                    await client.create(NODES, pool_node(round_.name, suffix))
        for round_ in batch_rounds:
            await client.create(resource, workload(kind, batch, round_, timing), namespace)
        async with KubeletStandIn(
            client, namespace, f"{BATCH_LABEL}={batch}", spawn, CONTAINER_START_SECONDS
        ) as kubelet:
            await until(
                lambda: settled(client, namespace, batch, batch_rounds, kubelet, kind),
                240,  # dozens of Python electors starting at once take a while on a loaded CPU
                "Ready pods and leaders",
                interval=0.5,
            )
            if failure == "eviction" and kind != "client-go":
                await until(lambda: budgets_allow(client, namespace, batch_rounds), 60, "budgets", 0.2)
            await asyncio.sleep(retry * 2.5)  # every standby has polled a few times since it saw its leader
            faults: dict[str, float] = {}
            extra: dict[str, dict[str, Any]] = {}
            for round_ in batch_rounds:
                leader = round_.leader(kubelet)
                assert leader is not None, f"{round_.name} lost its leader before the fault"
                if failure == "eviction":
                    faults[round_.name] = await evict(client, namespace, leader.identity)
                elif failure == "rolling-update":
                    faults[round_.name] = time.time()
                    patch = {"spec": {"template": {"metadata": {"annotations": {"revision": "2"}}}}}
                    await client.patch(resource, round_.name, patch, namespace)
                else:
                    node = kubelet.node_of[leader.identity]
                    faults[round_.name] = kubelet.lose_node(node)
                    extra[round_.name] = {"node": node, "lease": await stop_heartbeat(client, node)}
            if failure == "rolling-update":
                await until(
                    lambda: all_of(rolled_out(client, namespace, r, kubelet) for r in batch_rounds),
                    360,  # 70-80 s for ten concurrent rollouts of ours on 2 loaded cores
                    "finished rollouts",
                    interval=0.2,
                )
            else:
                await until(
                    lambda: all(starts_after(r.candidates(kubelet), faults[r.name]) for r in batch_rounds),
                    lease + 5 * retry + 15,
                    "new leaders",
                )
            await asyncio.sleep(retry * 2.5)  # room for any further (wrong) change of leader
            end = time.time()
            results = []
            for round_ in batch_rounds:
                candidates, fault = round_.candidates(kubelet), faults[round_.name]
                starts = starts_after(candidates, fault)
                result: dict[str, Any] = {
                    "leaderless": leaderless_seconds(candidates, fault, end, kubelet.cut),
                    "changes": len(starts),
                    "from_fault": (starts[0] - fault) if starts else None,
                }
                if failure == "node-lost":
                    result.update(await node_report(client, extra[round_.name]))
                results.append(result)
            return results
    finally:
        for round_ in batch_rounds:
            for node in round_.nodes:
                with contextlib.suppress(ApiError):
                    await client.delete(NODES, node)


async def all_of(checks: Any) -> bool:
    """Whether every awaitable of ``checks`` gives true (all are awaited, in order)."""
    return all([await check for check in checks])


async def budgets_allow(client: KubeClient, namespace: str, rounds: list[PodRound]) -> bool:
    """Every round's PodDisruptionBudget (the operator's) allows a disruption."""
    for round_ in rounds:
        budget = await client.get_or_none(DISRUPTION_BUDGETS, round_.name, namespace)
        if budget is None or (budget.get("status") or {}).get("disruptionsAllowed", 0) < 1:
            return False
    return True


async def node_report(client: KubeClient, lost: dict[str, Any]) -> dict[str, Any]:
    """What the API said of the lost node when the round ended: nobody renewed it; is it still Ready?"""
    node = lost["node"]
    lease = await client.get(LEASES, node, NODE_LEASE_NAMESPACE)
    body = await client.get(NODES, node)
    ready = next((c["status"] for c in body["status"].get("conditions") or [] if c["type"] == "Ready"), None)
    return {
        "heartbeat_stopped": lease["spec"].get("renewTime") == lost["lease"]["spec"]["renewTime"],
        "node_ready_in_api": ready,
    }
