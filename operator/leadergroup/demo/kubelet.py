"""The demo's stand-in for the kubelet (and, on the emulator, for the ReplicaSet controller).

Electors are local processes named after the group's pods. When a pod goes away (``kubectl delete pod``,
or the demo's own pod-deletion step), a kubelet would stop its containers: SIGTERM, then SIGKILL after the
pod's grace period. This does the same to the pod's elector, and starts an elector for every new pod of
the group (on the emulator it first creates the replacement pods, as the ReplicaSet controller would), so
what the user sees is what a cluster does: the deleted leader's elector is gone, a new pod campaigns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from leadergroup.demo.options import Timings
from leadergroup.demo.processes import Children
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import DEPLOYMENTS
from leadergroup.sim.standins import pods_of

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.2
DEFAULT_GRACE_SECONDS = 30.0

Say = Callable[[str], None]
Replicate = Callable[[], Awaitable[object]]


class KubeletStandIn:
    """Keeps one elector process per live pod of the group's Deployment."""

    def __init__(
        self,
        client: KubeClient,
        children: Children,
        *,
        namespace: str,
        deployment: str,
        lease: str,
        replicas: int,
        kubeconfig_for_electors: Path,
        timings: Timings,
        replicate: Replicate | None,
        say: Say,
    ) -> None:
        self.client = client
        self.children = children
        self.namespace = namespace
        self.deployment = deployment
        self.lease = lease
        self.replicas = replicas
        self.kubeconfig = kubeconfig_for_electors
        self.timings = timings
        self.replicate = replicate
        self.say = say
        self.pods: set[str] = set()
        self.grace: dict[str, float] = {}  # the grace period each pod had while it lived
        self.stopped: list[str] = []

    async def live_pods(self) -> dict[str, float]:
        """The group's pods that are not being deleted, with their grace periods."""
        deployment = await self.client.get(DEPLOYMENTS, self.deployment, self.namespace)
        found: dict[str, float] = {}
        for pod in await pods_of(self.client, deployment):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            found[pod["metadata"]["name"]] = float(DEFAULT_GRACE_SECONDS if grace is None else grace)
        return found

    def adopt(self, pods: list[str]) -> None:
        """The pods whose electors the demo has started itself."""
        self.pods.update(pods)

    async def step(self) -> None:
        """One pass: stop the electors of pods that went away, start electors for new pods."""
        live = await self.live_pods()
        live_grace = {**self.grace, **live}
        self.grace = live_grace
        for gone in sorted(self.pods - set(live)):
            self.pods.discard(gone)
            child = self.children.electors.get(gone)
            if child is not None and child.alive:
                self.say(f"Pod {gone} is gone: stopping its elector (SIGTERM, as a kubelet does)")
                await asyncio.to_thread(
                    self.children.terminate, gone, live_grace.get(gone, DEFAULT_GRACE_SECONDS)
                )
                self.stopped.append(gone)
        if self.replicate is not None and len(live) < self.replicas:
            await self.replicate()  # the ReplicaSet controller's part: replacement pods
            live = await self.live_pods()
        for new in sorted(set(live) - self.pods):
            self.pods.add(new)
            self.say(f"Pod {new} appeared: starting its elector")
            self.children.start_elector(new, self.lease, self.namespace, self.kubeconfig, self.timings)

    async def run(self) -> None:
        """Follow the pods until cancelled; API hiccups are retried at the next pass."""
        while True:
            try:
                await self.step()
            except ApiError as error:
                logger.debug("Kubelet stand-in: %s", error)
            await asyncio.sleep(POLL_SECONDS)
