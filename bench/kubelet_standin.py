"""The kubelets of KWOK's nodes, for the candidates: one local process per pod bound to a node.

KWOK keeps the simulated nodes alive (status, heartbeat Lease) but runs nothing, and its own pod stages
would report a pod Running and Ready on a timer, whether or not a process for it runs: a rollout would
then go on while the new pods' electors are still starting (on a loaded CPU, seconds). So the bench's pods
carry ``KWOK_OWN_STATUS``, KWOK leaves them alone, and this stand-in does what a node's kubelet does,
following the pods through a watch (it reacts within a round trip, as a kubelet's own watch does):

- a pod bound to a node (``spec.nodeName``) gets its process (a candidate with the pod's name)
  ``container_start`` seconds later (default 1 s: what a kubelet takes to set up the sandbox and start a
  container whose image it has; without it a replacement pod would campaign within 0.1 s of its creation,
  sooner than on any cluster), and is reported Running and Ready once that process runs (it has written
  its first log line): there is no readiness probe, so Ready means the container started, as for the
  blog's Deployment;
- a pod given a ``deletionTimestamp`` (deleted, evicted, scaled down by its ReplicaSet) has its process
  sent SIGTERM, then SIGKILL when the grace period is over; once the process is gone the pod is deleted
  for good (grace period 0, on its UID), as the kubelet's status manager does; a pod gone from the API
  loses its process;
- :meth:`KubeletStandIn.lose_node` freezes (SIGSTOP) every process on a node, as a machine that hangs or
  drops off the network does: nothing of it runs or reaches the API server again, and the kubelet of that
  node reports and reacts to nothing any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.failover_candidates import Candidate

from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.errors import ApiUnavailable
from leadergroup.kube.liveness import server_timeout_seconds
from leadergroup.kube.resources import PODS

logger = logging.getLogger(__name__)
DEFAULT_GRACE_SECONDS = 30.0
TEND_SECONDS = 0.02


def running_status(pod: dict[str, Any], started: str) -> dict[str, Any]:
    """The status a kubelet reports for a pod whose one container started at ``started``."""
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": started}
        for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    containers = [
        {
            "name": container["name"],
            "image": container["image"],
            "imageID": "",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": started}},
        }
        for container in pod["spec"]["containers"]
    ]
    return {
        "status": {
            "phase": "Running",
            "startTime": started,
            "conditions": conditions,
            "containerStatuses": containers,
        }
    }


class KubeletStandIn:
    """Keeps one candidate process per pod of ``selector`` bound to a node, as the pod's kubelet would."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        selector: str,
        spawn: Callable[[dict[str, Any]], Candidate],
        container_start: float = 1.0,
    ) -> None:
        self.client = client
        self.container_start = container_start
        self.namespace = namespace
        self.selector = selector
        self.spawn = spawn
        self.candidates: dict[str, Candidate] = {}
        self.pods: dict[str, dict[str, Any]] = {}  # as last seen
        self.node_of: dict[str, str] = {}
        # When a live process was killed or frozen: its open term (if it led) ends there.
        self.cut: dict[str, float] = {}
        self.terminated: dict[str, float] = {}  # when each pod's process was sent SIGTERM
        self.lost_nodes: set[str] = set()
        self._starting: set[str] = set()  # pods whose process is about to start
        self._reported: set[str] = set()  # pods reported Running
        self._removed: set[str] = set()  # pods whose final deletion was sent
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: list[asyncio.TimerHandle] = []

    async def __aenter__(self) -> KubeletStandIn:
        self._tasks = [asyncio.create_task(self._follow()), asyncio.create_task(self._tend())]
        await asyncio.wait_for(self._synced.wait(), timeout=30)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

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

    def _lost(self, name: str) -> bool:
        return self.node_of.get(name) in self.lost_nodes

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
                    timeout_seconds=server_timeout_seconds(),  # within the client's 40 s idle bound
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
            self.pods.pop(name, None)
            self._kill(name)
            return
        self.pods[name] = pod
        if metadata.get("deletionTimestamp"):
            grace = metadata.get("deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"))
            self._terminate(name, DEFAULT_GRACE_SECONDS if grace is None else float(grace))
        elif node and name not in self.candidates and name not in self._starting:
            self.node_of[name] = node
            self._starting.add(name)
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(self.container_start, self._start, name))

    def _start(self, name: str) -> None:
        self._starting.discard(name)
        pod = self.pods.get(name)
        if pod is not None and not pod["metadata"].get("deletionTimestamp") and not self._lost(name):
            self.candidates[name] = self.spawn(pod)

    async def _tend(self) -> None:
        """Report pods whose process runs; remove terminating pods whose process is gone."""
        while True:
            for name, candidate in list(self.candidates.items()):
                pod = self.pods.get(name)
                if pod is None or self._lost(name):
                    continue
                try:
                    if name in self.terminated:
                        if candidate.process.poll() is not None and name not in self._removed:
                            self._removed.add(name)
                            await self._remove(pod)
                    elif name not in self._reported and candidate.started_running():
                        self._reported.add(name)
                        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                        await self.client.patch(
                            PODS, name, running_status(pod, started), self.namespace, subresource="status"
                        )
                except ApiError as error:
                    if not error.not_found:
                        raise
            await asyncio.sleep(TEND_SECONDS)

    async def _remove(self, pod: dict[str, Any]) -> None:
        """The kubelet's last word on a pod whose containers have stopped: delete it now, this very pod."""
        body = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": pod["metadata"]["uid"]},
        }
        with contextlib.suppress(ApiError):  # gone already, or a new pod of that name
            await self.client.request("DELETE", PODS.path(self.namespace, pod["metadata"]["name"]), body=body)

    def _terminate(self, name: str, grace: float) -> None:
        candidate = self.candidates.get(name)
        if candidate is None or name in self.terminated:
            return
        self.terminated[name] = time.time()
        if candidate.process.poll() is None:
            candidate.process.send_signal(signal.SIGTERM)
            self._timers.append(asyncio.get_running_loop().call_later(grace, self._kill, name))

    def _kill(self, name: str) -> None:
        candidate = self.candidates.get(name)
        if candidate is None:
            return
        if candidate.process.poll() is None:
            self.cut.setdefault(name, time.time())
        with contextlib.suppress(ProcessLookupError):
            candidate.kill()
