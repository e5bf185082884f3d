"""The kubelets of KWOK's nodes, for the candidates: one local process per pod bound to a node.

KWOK plays the nodes' kubelets for the API (pods become Running and Ready, a deleted pod goes when its
grace period is over) but runs nothing. The electors are local processes with the pods' names as
identities, and this stand-in does to them what a node's kubelet does to a pod's containers, following
the pods through a watch (so it reacts within a round trip, as a kubelet's own watch does):

- a pod gets its process when it is reported Running: KWOK's delay between binding and Running (1-6 s)
  stands for the kubelet's work before a container runs (sandbox, image, start), so a replacement pod does
  not campaign sooner than it would on a cluster;
- a pod given a ``deletionTimestamp`` (deleted, evicted, scaled down by its ReplicaSet) has its process
  sent SIGTERM, then SIGKILL when the grace period is over; a pod gone from the API loses its process;
- :meth:`KubeletStandIn.lose_node` freezes (SIGSTOP) every process on a node, as a machine that hangs or
  drops off the network does: nothing of it runs or reaches the API server again, and the kubelet of that
  node reacts to nothing any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from bench.failover_candidates import Candidate

from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.errors import ApiUnavailable
from leadergroup.kube.resources import PODS

logger = logging.getLogger(__name__)
DEFAULT_GRACE_SECONDS = 30.0


class KubeletStandIn:
    """Keeps one candidate process per Running pod of ``selector``, as the pod's kubelet would."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        selector: str,
        spawn: Callable[[dict[str, Any]], Candidate],
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.selector = selector
        self.spawn = spawn
        self.candidates: dict[str, Candidate] = {}
        self.node_of: dict[str, str] = {}
        # When a live process was killed or frozen: its open term (if it led) ends there.
        self.cut: dict[str, float] = {}
        self.terminated: dict[str, float] = {}  # when each pod's process was sent SIGTERM
        self.lost_nodes: set[str] = set()
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []

    async def __aenter__(self) -> KubeletStandIn:
        self._task = asyncio.create_task(self._follow())
        await asyncio.wait_for(self._synced.wait(), timeout=30)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def close(self) -> None:
        """Kill every process (frozen ones too) and forget the pending grace-period kills."""
        for timer in self._timers:
            timer.cancel()
        for name in list(self.candidates):
            self._kill(name)

    def on_node(self, node: str) -> list[Candidate]:
        """The candidates of the pods bound to ``node``."""
        return [c for name, c in self.candidates.items() if self.node_of.get(name) == node]

    def lose_node(self, node: str) -> float:
        """Freeze every process on ``node`` (SIGSTOP); returns the time, from which their terms are over."""
        self.lost_nodes.add(node)
        now = time.time()
        for candidate in self.on_node(node):
            if candidate.process.poll() is None:
                candidate.process.send_signal(signal.SIGSTOP)
                self.cut[candidate.identity] = now
        return now

    async def _follow(self) -> None:
        version: str | None = None
        while True:
            try:
                if version is None:
                    listing = await self.client.list(PODS, self.namespace, label_selector=self.selector)
                    for pod in listing["items"]:
                        self._observe("ADDED", pod)
                    version = listing["metadata"]["resourceVersion"]
                    self._synced.set()
                async for event in self.client.watch(
                    PODS,
                    self.namespace,
                    label_selector=self.selector,
                    resource_version=version,
                    timeout_seconds=240,
                    allow_bookmarks=True,
                ):
                    version = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._observe(event["type"], event["object"])
            except ApiUnavailable as error:
                logger.debug("Kubelet stand-in: %s", error)
                await asyncio.sleep(0.2)
            except ApiError as error:
                if error.status != 410:  # 410 Gone: the version was compacted away; list again
                    raise
                version = None

    def _observe(self, kind: str, pod: dict[str, Any]) -> None:
        metadata, spec = pod["metadata"], pod.get("spec") or {}
        name, node = metadata["name"], spec.get("nodeName")
        if node in self.lost_nodes:
            return  # that node's kubelet is gone with it
        if kind == "DELETED":
            self._kill(name)
            return
        if metadata.get("deletionTimestamp"):
            grace = metadata.get("deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"))
            self._terminate(name, DEFAULT_GRACE_SECONDS if grace is None else float(grace))
        elif (pod.get("status") or {}).get("phase") == "Running" and name not in self.candidates:
            self.node_of[name] = node
            self.candidates[name] = self.spawn(pod)

    def _terminate(self, name: str, grace: float) -> None:
        candidate = self.candidates.get(name)
        if candidate is None or name in self.terminated or candidate.process.poll() is not None:
            return
        candidate.process.send_signal(signal.SIGTERM)
        self.terminated[name] = time.time()
        self._timers.append(asyncio.get_running_loop().call_later(grace, self._kill, name))

    def _kill(self, name: str) -> None:
        candidate = self.candidates.get(name)
        if candidate is None:
            return
        if candidate.process.poll() is None:
            self.cut.setdefault(name, time.time())
        with contextlib.suppress(ProcessLookupError):
            candidate.kill()
