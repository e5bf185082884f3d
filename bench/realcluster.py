"""A real control plane under a benchmark: started here or given, simulated nodes, the audit log by actor.

:func:`real_control_plane` yields a kubeconfig and the API server's audit log: the test control plane of
``tests/controlplane`` started here (metadata-level audit, CRDs installed, KWOK nodes), or a cluster of
the user's with ``--audit-log``; :func:`kwok_nodes` adds simulated nodes to a cluster that has none.

:class:`AuditLog` reads the API server's JSON audit log (``--audit-log-path``, ``--audit-log-format=json``)
incrementally: each :meth:`AuditLog.mark` remembers how far the file had been written, and a later read
of the requests received since that moment starts there instead of at the top of a file that grows by
hundreds of MB at 1,000 renewing Leases. Every entry is attributed to an *actor*: the operator (its
User-Agents), the benchmark (the stand-in user and electors), the controller manager, the scheduler,
KWOK (the simulated kubelets) or the API server itself.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_USER_AGENT,
    MANAGED_SELECTOR,
    OPERATOR_USER_AGENTS,
    WRITE_VERBS,
    BenchCluster,
    GroupProgress,
    Request,
    Workload,
    group_of,
    take_lease,
    watch_forever,
)

from leadergroup.kube import ApiError, KubeClient, Resource
from leadergroup.kube.errors import ApiUnavailable
from leadergroup.kube.resources import LEADERGROUPS, NAMESPACES, PODS

# Requests that read: a watch is one request however long it streams (its events cost no request).
READ_VERBS = ("get", "list")
# client-go's default User-Agent starts with the binary's name; our clients name themselves.
ACTOR_USER_AGENTS = (
    (OPERATOR_USER_AGENTS, "operator"),
    ((BENCH_USER_AGENT,), "bench"),
    (("kwok",), "kwok"),
    (("kube-controller-manager",), "controller-manager"),
    (("kube-scheduler",), "scheduler"),
    (("kube-apiserver",), "apiserver"),
)
ACTOR_USERS = (
    ("system:serviceaccount:kube-system:", "controller-manager"),
    ("system:kube-controller-manager", "controller-manager"),
    ("system:kube-scheduler", "scheduler"),
    ("system:apiserver", "apiserver"),
)
# How many pods a simulated node takes (tests/controlplane/nodes.py), with room for a rollout's surge.
PODS_PER_NODE = 100
# Replicas of every benchmark group (manifests/samples/minimal.yaml, the blog's Deployment).
REPLICAS = 3


@dataclass(frozen=True)
class AuditEntry:
    """One completed API request from the audit log."""

    actor: str
    verb: str
    resource: str
    subresource: str | None
    time: float  # requestReceivedTimestamp, time.time() seconds
    namespace: str = ""  # of the object; "" for cluster-scoped ones and cluster-wide lists and watches
    uri: str = ""  # the request's path and query (a list's ``limit``, a watch's ``resourceVersion``)

    @property
    def is_write(self) -> bool:
        """Whether the request changes something."""
        return self.verb in WRITE_VERBS

    @property
    def is_read(self) -> bool:
        """A get or list (a watch is counted apart)."""
        return self.verb in READ_VERBS

    def request(self) -> Request:
        """As the emulator's request log would give it."""
        return Request(self.verb, self.resource, self.subresource, self.time)


def actor_of(user_agent: str, user: str) -> str:
    """Who sent a request, from its User-Agent and, for the control plane's components, its user."""
    for prefixes, actor in ACTOR_USER_AGENTS:
        if user_agent.startswith(prefixes):
            return actor
    for prefix, actor in ACTOR_USERS:
        if user.startswith(prefix):
            return actor
    return "other"


def parse_entry(line: str) -> AuditEntry | None:
    """An audit line as an entry; None for anything but a completed request."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    if entry.get("stage") != "ResponseComplete":
        return None
    stamp = str(entry.get("requestReceivedTimestamp") or entry.get("stageTimestamp"))
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    ref = entry.get("objectRef") or {}
    user = str((entry.get("user") or {}).get("username", ""))
    return AuditEntry(
        actor_of(str(entry.get("userAgent", "")), user),
        str(entry.get("verb")),
        str(ref.get("resource", "")),
        ref.get("subresource"),
        moment,
        str(ref.get("namespace") or ""),
        str(entry.get("requestURI") or ""),
    )


class AuditLog:
    """The API server's JSON audit log, read from remembered offsets, across rotations.

    kube-apiserver rotates its log (every 100 MB unless ``--audit-log-maxsize`` says otherwise) by renaming
    it to ``<stem>-<time><suffix>`` in the same folder; a mark remembers the file by its inode, so a read
    that began before a rotation continues in the renamed file and then in the new one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._marks: list[tuple[float, int, int]] = [(0.0, self._inode(), 0)]

    def _inode(self) -> int:
        return self.path.stat().st_ino if self.path.exists() else 0

    def mark(self) -> float:
        """Now (``time.time()``), remembering how much of the log was written by then."""
        # The log is written when a request completes ("blocking" mode): every line before this offset is
        # a request received before now, so a read from here misses nothing received later.
        stat = self.path.stat() if self.path.exists() else None
        now = time.time()
        self._marks.append((now, stat.st_ino if stat else 0, stat.st_size if stat else 0))
        return now

    def _files_from(self, inode: int) -> list[Path]:
        """The file with ``inode`` (the live one or a rotated one) and every later one, oldest first."""
        rotated = sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"))
        files = [*rotated, self.path]
        inodes = [path.stat().st_ino for path in files]
        return files[inodes.index(inode) :] if inode in inodes else [self.path]

    def entries(self, since: float, until: float | None = None) -> list[AuditEntry]:
        """The completed requests received in ``[since, until)``."""
        until = until if until is not None else time.time() + 1
        index = bisect.bisect_right([moment for moment, _, _ in self._marks], since) - 1
        _, inode, offset = self._marks[max(0, index)]
        found = []
        for number, path in enumerate(self._files_from(inode)):
            with path.open(encoding="utf-8", errors="replace") as stream:
                stream.seek(offset if number == 0 else 0)
                for line in stream:
                    entry = parse_entry(line)
                    if entry is not None and since <= entry.time < until:
                        found.append(entry)
        return found


def tally(entries: Sequence[AuditEntry]) -> dict[str, Any]:
    """Writes, reads and watches per actor, and the writes by ``verb resource`` per actor."""
    actors: dict[str, dict[str, Any]] = {}
    for entry in entries:
        row = actors.setdefault(
            entry.actor, {"writes": 0, "reads": 0, "watches": 0, "write_by_verb": Counter()}
        )
        if entry.is_write:
            row["writes"] += 1
            target = f"{entry.resource}/{entry.subresource}" if entry.subresource else entry.resource
            row["write_by_verb"][f"{entry.verb} {target}"] += 1
        elif entry.is_read:
            row["reads"] += 1
        elif entry.verb == "watch":
            row["watches"] += 1
    for row in actors.values():
        row["write_by_verb"] = dict(row["write_by_verb"].most_common())
    return {
        "writes": sum(row["writes"] for row in actors.values()),
        "reads": sum(row["reads"] for row in actors.values()),
        "by_actor": dict(sorted(actors.items())),
    }


# The steps every group's pods go through, in order: who writes them, and which write marks the step.
PIPELINE = (
    ("operator", "create deployments"),
    ("controller-manager", "create replicasets"),
    ("controller-manager", "create pods"),
    ("scheduler", "create pods/binding"),
    ("kwok", "patch pods/status"),
    ("operator", "patch pods"),
    ("operator", "patch leadergroups/status"),
)


def timeline(entries: Sequence[AuditEntry], since: float) -> dict[str, dict[str, float | int]]:
    """When each actor's writes of each kind happened, in seconds after ``since``.

    For every ``actor verb resource``: how many, the first, the median and the last, and the busiest
    second's count. Where one step of :data:`PIPELINE` ends long after the one before it, that step's actor
    is what bounds convergence (a client rate limit shows as a flat busiest second).
    """
    moments: dict[str, list[float]] = {}
    for entry in entries:
        if entry.is_write:
            target = f"{entry.resource}/{entry.subresource}" if entry.subresource else entry.resource
            moments.setdefault(f"{entry.actor} {entry.verb} {target}", []).append(entry.time - since)
    steps: dict[str, dict[str, float | int]] = {}
    for key, times in sorted(moments.items()):
        times.sort()
        busiest = Counter(int(moment) for moment in times).most_common(1)[0][1]
        steps[key] = {
            "count": len(times),
            "first_s": round(times[0], 1),
            "median_s": round(times[len(times) // 2], 1),
            "last_s": round(times[-1], 1),
            "busiest_second": busiest,
        }
    return steps


class AuditedCluster(BenchCluster):
    """A real cluster whose operator requests come from :class:`AuditLog` (incrementally)."""

    audit: AuditLog

    @classmethod
    def wrap(cls, cluster: BenchCluster, audit: AuditLog) -> AuditedCluster:
        """The same cluster, counting through ``audit``."""
        wrapped = cls(
            cluster.backend,
            cluster.admin_kubeconfig,
            cluster.operator_kubeconfig,
            cluster.namespace,
            cluster.emulator,
            audit.path,
        )
        wrapped.audit = audit
        return wrapped

    def operator_requests(self, since: float, until: float | None = None) -> list[Request] | None:
        """The operator's requests in ``[since, until)`` in this namespace or cluster-wide."""
        return [entry.request() for entry in self.operator_entries(since, until)]

    def operator_entries(self, since: float, until: float | None = None) -> list[AuditEntry]:
        """The operator's audit entries in ``[since, until)`` in this namespace or cluster-wide.

        Other namespaces are left out: on a shared server (the test suite's) other operators run too.
        """
        return [
            entry
            for entry in self.audit.entries(since, until)
            if entry.actor == "operator" and entry.namespace in ("", self.namespace)
        ]


def nodes_for(groups: int, replicas: int = 3) -> int:
    """Simulated nodes enough for every group's pods."""
    return max(3, -(-groups * replicas // PODS_PER_NODE) + 1)


@contextlib.contextmanager
def kwok_nodes(kubeconfig: Path, workdir: Path, count: int) -> Iterator[list[str]]:
    """Start KWOK against ``kubeconfig`` with ``count`` simulated nodes; stop it and delete them after."""
    from tests.controlplane.build import CONTROL_PLANE, KWOK, ensure_built
    from tests.controlplane.nodes import add_kwok_nodes, kwok_arguments

    kubectl = ensure_built(CONTROL_PLANE) / "kubectl"
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "kwok.log").open("ab") as log:
        process = subprocess.Popen(
            [str(ensure_built(KWOK) / "kwok"), *kwok_arguments(workdir, kubeconfig)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    names: list[str] = []
    try:
        names = add_kwok_nodes(kubectl, kubeconfig, workdir, count, prefix="bench-kwok-node")
        yield names
    finally:
        if names:
            subprocess.run(
                [str(kubectl), "--kubeconfig", str(kubeconfig), "delete", "node", *names, "--wait=false"],
                capture_output=True,
                timeout=120,
                check=False,
            )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def add_rate_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """``--controller-qps`` and ``--scheduler-qps``: the control plane's own client rate limits."""
    parser.add_argument(
        "--controller-qps",
        type=int,
        help="with --real: the controller manager's client rate limit (its default is 20 a second, which "
        "bounds how fast the ReplicaSet controller makes the pods, with or without the operator)",
    )
    parser.add_argument(
        "--scheduler-qps",
        type=int,
        help="with --real: the scheduler's client rate limit (its default is 50 a second, burst 100: one "
        "binding per pod, so 3,000 pods take a minute to place, with or without the operator)",
    )


def rate_limit_arguments(qps: int | None) -> list[str]:
    """A control plane component's ``--kube-api-qps`` and ``--kube-api-burst`` (twice the rate)."""
    return [f"--kube-api-qps={qps}", f"--kube-api-burst={2 * qps}"] if qps else []


@contextlib.contextmanager
def real_control_plane(
    workdir: Path,
    nodes: int,
    apiserver_args: list[str] | None = None,
    controller_qps: int | None = None,
    scheduler_qps: int | None = None,
) -> Iterator[Any]:
    """The test control plane (tests/controlplane) with a metadata-level audit log, CRDs and KWOK nodes.

    ``controller_qps`` raises the controller manager's client rate limit (default 20 requests a second,
    burst 30, for each of its controllers): the ReplicaSet controller creates pods no faster than that.
    ``scheduler_qps`` raises the scheduler's (default 50, burst 100): it binds pods no faster than that.
    """
    from tests.controlplane.cluster import control_plane
    from tests.support.cluster import RealBackend

    with control_plane(
        workdir / "controlplane",
        audit=True,
        audit_lease_bodies=False,
        nodes=nodes,
        apiserver_args=apiserver_args,
        controller_manager_args=rate_limit_arguments(controller_qps),
        scheduler_args=rate_limit_arguments(scheduler_qps),
    ) as plane:
        RealBackend(plane.kubeconfig, str(plane.kubectl), plane).install_crds()
        yield plane


def enter_bench_cluster(
    stack: contextlib.ExitStack,
    options: argparse.Namespace,
    workdir: Path,
    nodes: int,
    apiserver_args: list[str] | None = None,
) -> None:
    """Start what the options ask for, until ``stack`` closes.

    With ``--real`` the test control plane (``options.kubeconfig`` and ``options.audit_log`` then point at
    it, ``options.control_plane_pids`` names its processes), with ``--kwok`` KWOK nodes for the cluster of
    ``--kubeconfig``.
    """
    options.control_plane_pids = {}
    if options.real:
        started = real_control_plane(
            workdir, nodes, apiserver_args, options.controller_qps, options.scheduler_qps
        )
        plane = stack.enter_context(started)
        options.kubeconfig, options.audit_log = plane.kubeconfig, plane.audit_log
        options.control_plane_pids = plane.pids()
        print(f"Control plane {plane.server}, {nodes} KWOK nodes", file=sys.stderr, flush=True)
    elif options.kwok:
        stack.enter_context(kwok_nodes(options.kubeconfig, workdir / "kwok", nodes))


async def kubernetes_version(kubeconfig: Path) -> str | None:
    """The API server's release (``/version``)."""
    async with KubeClient.auto(kubeconfig) as client:
        return str((await client.request("GET", "/version")).get("gitVersion"))


async def wait_namespace_gone(cluster: BenchCluster, namespace: str, within: float = 900.0) -> float | None:
    """Wait until a namespace, and so all in it, is deleted: the next run starts on a quiet cluster.

    Returns the seconds it took, or None if it outlived ``within`` seconds.
    """
    started = time.monotonic()
    async with cluster.client() as client:
        while time.monotonic() - started < within:
            if await client.get_or_none(NAMESPACES, namespace) is None:
                return round(time.monotonic() - started, 1)
            await asyncio.sleep(2)
    return None


async def served(client: KubeClient, resource: Resource, namespace: str, within: float = 120.0) -> None:
    """Wait until ``resource`` can be listed: right after its CRD is installed, the API server answers
    429 "storage is (re)initializing" for a while, and the bench's watches would fail on it."""
    deadline = time.monotonic() + within
    while True:
        try:
            await client.list(resource, namespace)
            return
        except ApiError as error:
            if error.status != 429 or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


class RealWorkload(Workload):
    """The stand-ins on a real cluster: the real controllers run the pods, the bench plays the electors.

    The electors take the names of the group's real pods (the first three the pod watch reports), so the
    operator labels real pods as it would in production; the emulator's stand-in Deployment controller
    is not used.
    """

    def __init__(self, cluster: BenchCluster, client: KubeClient, *, limit: int = 32) -> None:
        super().__init__(cluster, client, limit=limit)
        self._pods: dict[str, list[str]] = {}
        self._pods_seen: dict[str, asyncio.Event] = {}

    async def start_watches(self) -> None:
        """The groups' and children's watches, and one on the groups' pods."""
        await served(self.client, LEADERGROUPS, self.cluster.namespace)
        await super().start_watches()
        opened = asyncio.Event()
        self._tasks.append(
            asyncio.create_task(
                watch_forever(
                    self.client,
                    PODS,
                    self.cluster.namespace,
                    self._pod_event,
                    label_selector=MANAGED_SELECTOR,
                    ready=opened,
                )
            )
        )
        await opened.wait()

    def _pods_event(self, group: str) -> asyncio.Event:
        return self._pods_seen.setdefault(group, asyncio.Event())

    def _pod_event(self, event_type: str, pod: dict[str, Any], arrived: float) -> None:
        group = group_of(pod)
        if group is None or event_type == "DELETED":
            return
        names = self._pods.setdefault(group, [])
        name = str(pod["metadata"]["name"])
        if name not in names:
            names.append(name)
        if len(names) >= REPLICAS:
            self._pods_event(group).set()

    async def _bring_up(self, progress: GroupProgress) -> None:
        try:
            await self._pods_event(progress.name).wait()
            progress.pods = sorted(self._pods[progress.name])[:REPLICAS]
            await progress.lease_seen.wait()
            assert progress.lease is not None
            async with self._limit:
                progress.lease = await take_lease(
                    self.client, self.cluster.namespace, progress.lease, progress.pods[0]
                )
        except (ApiError, ApiUnavailable, RuntimeError) as error:
            self.errors.append(f"{progress.name}: {error}")
