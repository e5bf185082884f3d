"""Shared helpers for the benchmarks: a cluster (emulator or real), the operator process, stand-ins, output.

A benchmark gets a :class:`BenchCluster` from :func:`open_cluster` (a fresh emulator by default, or a real
cluster from ``--kubeconfig``), starts the real operator with :class:`OperatorRun` (a subprocess, so its CPU
and memory are its own), drives the cluster with the stand-ins (:class:`Workload`: the Deployment controller
and the electors), counts the operator's API requests with :meth:`BenchCluster.operator_requests`, and
reports with :func:`print_table` and :func:`write_results`.

Telling the operator's requests apart: on the emulator the operator gets its own bearer token and the
request log is filtered on it, or on the operator's User-Agents (Kopf's and ours; the bench's differs), so
the count holds even if a client drops the token. A real cluster has no request log; there the counts
come from the API server's audit log when one is given (``--audit-log``, JSON lines as written by
``--audit-log-path``), filtered on the operator's User-Agents, and are ``None`` ("n/a") otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from leadergroup import constants, packaged
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.errors import ApiUnavailable
from leadergroup.kube.liveness import server_timeout_seconds
from leadergroup.kube.resources import LEASES, Resource
from leadergroup.procutil import free_port, operator_command, wait_until_alive
from leadergroup.sim import Emulator
from leadergroup.sim.standins import replicate

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
CRD_DIR = REPO_ROOT / "crds"
OPERATOR_TOKEN = "bench-operator"
ADMIN_TOKEN = "bench-admin"
BENCH_USER_AGENT = "leadergroup-bench"
# What the operator process sends as User-Agent: Kopf's own client and ours (reconciler, peering).
OPERATOR_USER_AGENTS = ("kopf/", f"{constants.MANAGER}/")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
MANAGED_SELECTOR = f"{constants.LABEL_MANAGED_BY}={constants.MANAGER}"
# On a real cluster the pods must really start: a pause container is the cheapest thing that becomes Ready.
REAL_CLUSTER_IMAGE = "registry.k8s.io/pause:3.10"


# ---------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """One API request by the operator, from the emulator's request log or an audit log."""

    verb: str
    resource: str
    subresource: str | None
    time: float  # time.time() seconds

    @property
    def is_write(self) -> bool:
        """Whether the request changes something."""
        return self.verb in WRITE_VERBS

    @property
    def label(self) -> str:
        """``verb resource[/subresource]``, the key of the per-verb tables."""
        target = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {target}"


def count_by_label(requests: Sequence[Request]) -> dict[str, int]:
    """How many requests of each ``verb resource``, most frequent first."""
    return dict(Counter(request.label for request in requests).most_common())


def read_audit_log(path: Path, since: float, until: float) -> list[Request]:
    """The operator's completed requests in ``[since, until)`` from a JSON-lines audit log."""
    found: list[Request] = []
    with path.open(encoding="utf-8", errors="replace") as stream:
        for line in stream:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("stage") != "ResponseComplete":
                continue
            if not str(entry.get("userAgent", "")).startswith(OPERATOR_USER_AGENTS):
                continue
            stamp = entry.get("requestReceivedTimestamp") or entry.get("stageTimestamp")
            try:
                moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            if since <= moment < until:
                ref = entry.get("objectRef") or {}
                found.append(
                    Request(
                        str(entry.get("verb")), str(ref.get("resource", "")), ref.get("subresource"), moment
                    )
                )
    return found


# ----------------------------------------------------------------------------------------------- cluster


def project_crds() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in ``crds/`` (shipped in the package through a link)."""
    return packaged.crds()


@dataclass
class BenchCluster:
    """Where a benchmark runs: kubeconfigs for the bench and the operator, one namespace."""

    backend: Literal["emulator", "real"]
    admin_kubeconfig: Path
    operator_kubeconfig: Path
    namespace: str
    emulator: Emulator | None = None
    audit_log: Path | None = None

    @property
    def counts_requests(self) -> bool:
        """Whether the operator's requests can be counted here."""
        return self.emulator is not None or self.audit_log is not None

    def operator_requests(self, since: float, until: float | None = None) -> list[Request] | None:
        """The operator's requests in ``[since, until)``; None when nothing counts them (real, no audit)."""
        until = until if until is not None else time.time() + 1
        if self.emulator is not None:
            return [
                Request(record.verb, record.resource, record.subresource, record.time)
                for record in self.emulator.requests
                if since <= record.time < until
                and (record.user == OPERATOR_TOKEN or record.user_agent.startswith(OPERATOR_USER_AGENTS))
            ]
        if self.audit_log is not None:
            return read_audit_log(self.audit_log, since, until)
        return None

    def client(self) -> KubeClient:
        """An API client for the bench's own reads and writes (not counted as the operator's)."""
        return KubeClient.auto(self.admin_kubeconfig, user_agent=BENCH_USER_AGENT)


@contextlib.contextmanager
def open_cluster(
    workdir: Path, *, kubeconfig: Path | None = None, audit_log: Path | None = None
) -> Iterator[BenchCluster]:
    """A fresh emulator with the project's CRDs, or a fresh namespace on the real cluster of ``kubeconfig``.

    On a real cluster the CRDs must be installed already (``kubectl apply -k crds/``); the namespace is
    deleted afterwards.
    """
    namespace = f"lgbench-{secrets.token_hex(3)}"
    if kubeconfig is None:
        with Emulator(history_limit=200_000) as emulator:
            emulator.load_crds(*project_crds())
            emulator.create_namespace(namespace)
            yield BenchCluster(
                "emulator",
                emulator.write_kubeconfig(
                    workdir / "kubeconfig-admin", token=ADMIN_TOKEN, namespace=namespace
                ),
                emulator.write_kubeconfig(
                    workdir / "kubeconfig-operator", token=OPERATOR_TOKEN, namespace=namespace
                ),
                namespace,
                emulator,
            )
        return
    _kubectl(kubeconfig, "create", "namespace", namespace)
    try:
        yield BenchCluster("real", kubeconfig, kubeconfig, namespace, None, audit_log)
    finally:
        _kubectl(
            kubeconfig, "delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False
        )


def _kubectl(kubeconfig: Path, *args: str, check: bool = True) -> None:
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, timeout=120, check=check
    )


# ---------------------------------------------------------------------------------------------- operator


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat`` utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" closing the command name, utime and stime are the 12th and 13th fields.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def cpu_by_process(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process still alive (the benchmark itself as ``bench``)."""
    sampled = {}
    for name, pid in {**pids, "bench": os.getpid()}.items():
        with contextlib.suppress(OSError):
            sampled[name] = cpu_seconds(pid)
    return sampled


def cpu_used(before: Mapping[str, float], after: Mapping[str, float], seconds: float) -> dict[str, Any]:
    """CPU seconds each process used between two :func:`cpu_by_process` samples, and the machine's share.

    ``cores_busy`` is the processes' CPU seconds over the wall-clock seconds: on a 2-core machine, near 2
    means these processes had all of it.
    """
    used = {name: round(after[name] - before[name], 1) for name in after if name in before}
    total = sum(used.values())
    return {
        "seconds": round(seconds, 1),
        "by_process": dict(sorted(used.items(), key=lambda item: -item[1])),
        "total": round(total, 1),
        "cores_busy": round(total / max(seconds, 1e-9), 2),
    }


def memory_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory of a process in MiB, and its thread count."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
        elif key == "Threads":
            values[key] = int(rest)
    return {
        "rss_mb": round(values.get("VmRSS", 0.0), 1),
        "peak_rss_mb": round(values.get("VmHWM", 0.0), 1),
        "threads": int(values.get("Threads", 0)),
    }


class OperatorRun:
    """The real operator (``leadergroup-operator --standalone``) as a subprocess with its own credentials."""

    def __init__(
        self,
        cluster: BenchCluster,
        log_path: Path,
        *,
        profile: Path | None = None,
        all_namespaces: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.log_path = log_path
        self.profile = profile
        self.all_namespaces = all_namespaces
        self.env = env or {}
        self.liveness_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The command line; under pyinstrument when profiling (the pid is then still the operator's)."""
        wrapper = ["-m", "pyinstrument", "-r", "text", "-o", str(self.profile)] if self.profile else []
        return operator_command(
            self.cluster.operator_kubeconfig,
            namespace=None if self.all_namespaces else self.cluster.namespace,
            liveness_port=self.liveness_port,
            extra=["--standalone"],
            python_options=wrapper,
        )

    @property
    def pid(self) -> int:
        """The operator's process id."""
        assert self.process is not None, "the operator is not running"
        return self.process.pid

    def start(self, timeout: float = 60.0) -> OperatorRun:
        """Start it and wait until Kopf answers its liveness probe."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until_alive(self.process, self.liveness_port, timeout, self.log_tail)
        return self

    def log_tail(self, size: int = 4000) -> str:
        """The end of its log."""
        return self.log_path.read_text(errors="replace")[-size:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> None:
        """SIGINT (pyinstrument writes its report on it, Kopf stops cleanly), then SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ------------------------------------------------------------------------------------------------ watches


async def watch_forever(
    client: KubeClient,
    resource: Resource,
    namespace: str,
    on_event: Callable[[str, dict[str, Any], float], None],
    *,
    label_selector: str | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Call ``on_event(type, object, arrival time)`` for every change, resuming the watch when it ends.

    Lists first and watches from the list's resourceVersion, so ``ready`` means no later change is
    missed. Events are stamped with ``time.monotonic()`` as soon as their line is decoded.
    """
    resource_version: str | None = None
    while True:
        try:
            if resource_version is None:
                listing = await client.list(resource, namespace, label_selector=label_selector)
                arrived = time.monotonic()
                for item in listing.get("items") or []:
                    on_event("ADDED", {"kind": resource.kind, **item}, arrived)
                resource_version = str(listing["metadata"]["resourceVersion"])
                if ready is not None:
                    ready.set()
            async for event in client.watch(
                resource,
                namespace,
                resource_version=resource_version,
                label_selector=label_selector,
                allow_bookmarks=True,
                timeout_seconds=server_timeout_seconds(),  # within the client's 40 s idle bound
            ):
                arrived = time.monotonic()
                obj = event.get("object") or {}
                resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                if event.get("type") != "BOOKMARK":
                    on_event(str(event.get("type")), obj, arrived)
        except ApiError as error:
            if error.status == 429:  # e.g. a CRD installed a moment ago: not served yet, ask again
                await asyncio.sleep(0.5)
                continue
            if error.status != 410:
                raise
            resource_version = None  # compacted: start over from the current state
        except ApiUnavailable:
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------------------------------------- stand-ins


def micro_now() -> str:
    """Now, as a Lease MicroTime."""
    # Exactly six fractional digits, as Kubernetes writes MicroTime (isoformat drops a zero fraction).
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class GroupProgress:
    """What the bench has seen of one LeaderGroup."""

    name: str
    created_at: float = 0.0
    children: set[str] = field(default_factory=set)
    children_at: float | None = None
    ready_at: float | None = None
    holder: str = ""
    pods: list[str] = field(default_factory=list)
    lease: dict[str, Any] | None = None
    deployment_seen: asyncio.Event = field(default_factory=asyncio.Event)
    lease_seen: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def converged_at(self) -> float | None:
        """When it had its five children and Ready True (monotonic), if it has."""
        if self.children_at is None or self.ready_at is None:
            return None
        return max(self.children_at, self.ready_at)


CHILD_KINDS = ("ServiceAccount", "Role", "RoleBinding", "Lease", "Deployment")


def group_of(obj: dict[str, Any]) -> str | None:
    """The LeaderGroup a labelled child belongs to."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get(constants.LABEL_GROUP)


def is_ready(group: dict[str, Any]) -> bool:
    """Whether a LeaderGroup's Ready condition is True."""
    conditions = (group.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def take_lease(
    client: KubeClient, namespace: str, lease: dict[str, Any], holder: str
) -> dict[str, Any]:
    """Acquire a Lease as client-go's elector does: a conditional PUT of the whole record.

    On a conflict (someone wrote it since ``lease`` was read) the Lease is read again and the PUT retried.
    """
    for _ in range(5):
        body = copy.deepcopy(lease)
        spec = body.setdefault("spec", {})
        old = spec.get("holderIdentity") or ""
        now = micro_now()
        spec.update(
            holderIdentity=holder,
            leaseDurationSeconds=int(spec.get("leaseDurationSeconds") or constants.DEFAULT_LEASE_DURATION),
            renewTime=now,
        )
        if old != holder:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if old else 0)
        try:
            return await client.replace(LEASES, body["metadata"]["name"], body, namespace)
        except ApiError as error:
            if not error.conflict:
                raise
            lease = await client.get(LEASES, body["metadata"]["name"], namespace)
    raise RuntimeError(f"Lease {namespace}/{lease['metadata']['name']} kept conflicting")


class Workload:
    """The stand-ins for what a real cluster would do around the operator, for a set of groups.

    On the emulator: the Deployment controller (:func:`replicate`, once a group's Deployment exists) and
    the electors (the first pod takes the group's Lease once it exists). On a real cluster the real
    controllers run the pods; the electors are still played by the bench, with made-up identities.
    """

    def __init__(self, cluster: BenchCluster, client: KubeClient, *, limit: int = 32) -> None:
        self.cluster = cluster
        self.client = client
        self.groups: dict[str, GroupProgress] = {}
        self.errors: list[str] = []
        self.group_events: list[tuple[float, dict[str, Any]]] = []
        self.on_group_event: Callable[[dict[str, Any], float], None] | None = None
        self._limit = asyncio.Semaphore(limit)
        self._tasks: list[asyncio.Task[Any]] = []

    def track(self, name: str) -> GroupProgress:
        """Start following a group (before creating it, so no event is missed)."""
        progress = self.groups[name] = GroupProgress(name)
        self._tasks.append(asyncio.create_task(self._bring_up(progress)))
        return progress

    async def start_watches(self) -> None:
        """Watch the groups and their labelled children; returns once every watch is open."""
        from leadergroup.kube.resources import (
            DEPLOYMENTS,
            LEADERGROUPS,
            ROLE_BINDINGS,
            ROLES,
            SERVICE_ACCOUNTS,
        )

        namespace = self.cluster.namespace
        watches: list[tuple[Resource, str | None, Callable[[str, dict[str, Any], float], None]]] = [
            (LEADERGROUPS, None, self._group_event),
            (LEASES, MANAGED_SELECTOR, self._child_event),
            (DEPLOYMENTS, MANAGED_SELECTOR, self._child_event),
            (SERVICE_ACCOUNTS, MANAGED_SELECTOR, self._child_event),
            (ROLES, MANAGED_SELECTOR, self._child_event),
            (ROLE_BINDINGS, MANAGED_SELECTOR, self._child_event),
        ]
        for resource, selector, handler in watches:
            opened = asyncio.Event()
            self._tasks.append(
                asyncio.create_task(
                    watch_forever(
                        self.client, resource, namespace, handler, label_selector=selector, ready=opened
                    )
                )
            )
            await opened.wait()

    def _group_event(self, event_type: str, group: dict[str, Any], arrived: float) -> None:
        progress = self.groups.get(str(group.get("metadata", {}).get("name")))
        if progress is None or event_type == "DELETED":
            return
        progress.holder = str((group.get("status") or {}).get("holder") or "")
        if progress.ready_at is None and is_ready(group):
            progress.ready_at = arrived
        if self.on_group_event is not None:
            self.on_group_event(group, arrived)

    def _child_event(self, event_type: str, child: dict[str, Any], arrived: float) -> None:
        progress = self.groups.get(group_of(child) or "")
        if progress is None or event_type == "DELETED":
            return
        kind = str(child.get("kind"))
        if kind not in progress.children:
            progress.children.add(kind)
            if progress.children.issuperset(CHILD_KINDS):
                progress.children_at = arrived
        if kind == "Deployment":
            progress.deployment_seen.set()
        elif kind == "Lease":
            if progress.lease is None or int(child["metadata"]["resourceVersion"]) > int(
                progress.lease["metadata"]["resourceVersion"]
            ):
                progress.lease = child
            progress.lease_seen.set()

    async def _bring_up(self, progress: GroupProgress) -> None:
        namespace = self.cluster.namespace
        try:
            await progress.deployment_seen.wait()
            if self.cluster.emulator is not None:
                async with self._limit:
                    progress.pods = await replicate(self.client, namespace, progress.name)
            else:
                progress.pods = [f"{progress.name}-bench-{index}" for index in range(3)]
            await progress.lease_seen.wait()
            assert progress.lease is not None
            async with self._limit:
                progress.lease = await take_lease(self.client, namespace, progress.lease, progress.pods[0])
        except (ApiError, ApiUnavailable, RuntimeError) as error:
            self.errors.append(f"{progress.name}: {error}")

    async def close(self) -> None:
        """Stop the watches and any unfinished bring-up."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# -------------------------------------------------------------------------------------------------- output


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (nearest rank); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, p50, p90, p99, max and mean of a sample."""
    return {
        "count": len(values),
        "p50": percentile(values, 0.50),
        "p90": percentile(values, 0.90),
        "p99": percentile(values, 0.99),
        "max": max(values) if values else None,
        "mean": statistics.fmean(values) if values else None,
    }


def fmt(value: Any, digits: int = 2) -> str:
    """A table cell: n/a for None, rounded floats."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[Any]], *, stream: Any = None
) -> str:
    """Print (and return) a Markdown table, so the output pastes into docs/benchmarks.md as is."""
    cells = [[fmt(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    lines = [
        f"### {title}",
        "",
        "| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells),
        "",
    ]
    text = "\n".join(lines)
    print(text, file=stream or sys.stdout, flush=True)
    return text


def environment() -> dict[str, Any]:
    """What the figures depend on: the machine and the versions."""
    from leadergroup import __version__

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "kopf": _dist_version("kopf"),
        "leadergroup": __version__,
    }


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def write_results(name: str, payload: dict[str, Any], output: Path | None = None) -> Path:
    """Write the results as JSON (``bench/results/<name>-<UTC stamp>.json`` unless ``output`` is given)."""
    if output is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        output = RESULTS_DIR / f"{name}-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return output


async def gather_limited(calls: Sequence[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    """Run the calls concurrently, at most ``limit`` at a time, returning results or exceptions in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls), return_exceptions=True)


async def aiter_interval(interval: float, count: int) -> AsyncIterator[int]:
    """Yield 0..count-1 at a steady rate (a missed tick is not made up with a burst)."""
    start = time.monotonic()
    for index in range(count):
        delay = start + index * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield index


def options_record(options: argparse.Namespace) -> dict[str, Any]:
    """The command line as the results file keeps it (paths as strings)."""
    return {key: str(value) if isinstance(value, Path) else value for key, value in vars(options).items()}


def run_main(
    name: str,
    options: argparse.Namespace,
    measure: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]],
    report: Callable[[list[dict[str, Any]]], object],
) -> int:
    """Measure, print the table, write ``bench/results/<name>-<stamp>.json``; an API error exits 1."""
    try:
        payload = asyncio.run(measure(options))
    except ApiError as error:
        print(f"API error: {error}", file=sys.stderr)
        return 1
    report(payload["runs"])
    path = write_results(name, payload, options.output)
    print(f"Results: {path}")
    return 0
