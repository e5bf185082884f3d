"""What one request of a LeaderGroup's bring-up costs the API server and etcd, in CPU milliseconds.

The scale benches show the operator's setup needing about twice the CPU of the blog's YAML, most of it in
kube-apiserver. This bench prices each request on its own: in a fresh namespace of an otherwise quiet
control plane, ``--count`` requests of one kind are sent (``--concurrency`` at a time) and the CPU seconds
of kube-apiserver and etcd over that window (``/proc/PID/stat``), less their idle rate measured first, are
divided by the count. The bodies are the operator's own: the sample group, the children from the pure
builders, the status patches that ``status.next_status`` and ``status.status_patch`` make as a group comes
up (the first status, the first holder with one pod ready, then 2/3 and 3/3), the holder's pod patch
(``get_pod_role_patch``) and the ``LeaderChanged`` Event. A ConfigMap's create and patch are the built-in
yardstick.

Deployments are created paused, so that no ReplicaSet or pod follows and the row prices the create alone;
pods are created with a scheduler name no scheduler serves, so they stay Pending and nothing binds them.

    python bench/request_cost.py                                                    # the test control plane
    python bench/request_cost.py --kubeconfig KC --pids kube-apiserver=PID,etcd=PID   # a cluster of yours

With ``--kubeconfig`` the figures are only as good as the cluster is quiet, and the processes' CPU is read
from this machine's ``/proc``. Prints a Markdown table and writes ``bench/results/request-cost-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import functools
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench.*`, `tests.*` when run as a script

from bench.common import (
    cpu_seconds,
    environment,
    fmt,
    gather_limited,
    options_record,
    print_table,
    write_results,
)
from bench.scale import group_body

from leadergroup.builders import get_children
from leadergroup.builders.leadership import get_pod_role_patch
from leadergroup.events import build_event
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import EVENTS, LEADERGROUPS, NAMESPACES, PODS, Resource, resource_for
from leadergroup.model import LeaderGroup
from leadergroup.status import DeploymentView, GroupFacts, LeaseView, next_status, status_patch

CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
PRICED = ("kube-apiserver", "etcd", "kube-controller-manager")
IDLE_SECONDS = 5.0
# Watchers (the operator's, the garbage collector's) see a write a moment after it is answered.
SETTLE_SECONDS = 1.5


def _child_kinds() -> tuple[str, ...]:
    """The kinds a new group's children are made of, in get_children's order for the minimal sample."""
    body = group_body("g", "ns", real_cluster=False)
    body["metadata"]["uid"] = "uid-g"
    return tuple(child["kind"] for child in get_children(LeaderGroup.from_body(body)))


CHILD_KINDS = _child_kinds()
# How many of each request one group costs: the operator's writes per group (docs/benchmarks.md, "Operator
# writes per new group") and what the blog's YAML makes (its four objects; its first elector's Lease).
PER_GROUP: dict[str, dict[str, float]] = {
    "operator's setup": {
        "POST leadergroups": 1,
        **{f"POST {kind.lower()}s": 1 for kind in CHILD_KINDS},
        "PATCH leadergroups/status (first)": 1,
        "PATCH leadergroups/status (holder, 1/3)": 1,
        "PATCH leadergroups/status (2/3)": 1,
        "PATCH leadergroups/status (3/3)": 1,
        "POST events": 1,
        "PATCH pods (holder's role)": 1,
    },
    "blog's YAML": {f"POST {kind.lower()}s": 1 for kind in CHILD_KINDS if kind != "PodDisruptionBudget"},
}


@dataclass
class Subjects:
    """The objects the requests are about, one of each per index."""

    namespace: str
    groups: list[dict[str, Any]]  # the LeaderGroups as created (uid known)
    statuses: list[list[dict[str, Any]]]  # each group's statuses, as status_steps makes them


def group_names(count: int) -> list[str]:
    """``g0000`` … — the names of the groups and of their children's owners."""
    return [f"g{index:04d}" for index in range(count)]


def children_of(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The children the operator builds for ``body``: Deployments paused (no ReplicaSet follows)."""
    children = get_children(LeaderGroup.from_body(body))
    for child in children:
        if child["kind"] == "Deployment":
            child["spec"]["paused"] = True
    return children


def status_steps(replicas: int, holder: str, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """The operator's status as a group comes up: (label, whole status) for each write it makes."""
    lease = {"spec": {"holderIdentity": holder, "leaseTransitions": 0, "acquireTime": None}}

    def deployment(ready: int) -> DeploymentView:
        body = {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "replicas": replicas}}
        body["status"].update(updatedReplicas=replicas, readyReplicas=ready)
        return DeploymentView.of(body)

    facts = [
        ("first", GroupFacts(generation=1, replicas=replicas)),
        ("holder, 1/3", GroupFacts(1, replicas, deployment=deployment(1), lease=LeaseView.of(lease))),
        ("2/3", GroupFacts(1, replicas, deployment=deployment(2), lease=LeaseView.of(lease))),
        ("3/3", GroupFacts(1, replicas, deployment=deployment(3), lease=LeaseView.of(lease))),
    ]
    steps: list[tuple[str, dict[str, Any]]] = []
    current: dict[str, Any] = {}
    for label, fact in facts:
        current = next_status(current, fact, now)
        steps.append((label, current))
    return steps


def pod_body(name: str, group: Mapping[str, Any]) -> dict[str, Any]:
    """A pod like the Deployment's, created as a follower; no scheduler serves its scheduler name."""
    deployment = next(child for child in children_of(group) if child["kind"] == "Deployment")
    template = copy.deepcopy(deployment["spec"]["template"])
    template["spec"]["schedulerName"] = "leadergroup-bench-unscheduled"
    metadata = {**template["metadata"], "name": name}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def requests(client: KubeClient, subjects: Subjects) -> list[tuple[str, Callable[[int], Awaitable[Any]]]]:
    """(row, the request for index i), in the order they run: each row's objects exist by then."""
    namespace, groups = subjects.namespace, subjects.groups
    names = group_names(len(groups))

    def create(resource: Resource, body: Callable[[int], dict[str, Any]]) -> Callable[[int], Awaitable[Any]]:
        return lambda index: client.create(resource, body(index), namespace)

    async def create_group(index: int) -> None:
        groups[index] = await client.create(LEADERGROUPS, groups[index], namespace)

    def patch_status(step: int) -> Callable[[int], Awaitable[Any]]:
        def patch(index: int) -> Awaitable[Any]:
            statuses = subjects.statuses[index]
            body = {"status": status_patch(statuses[step - 1] if step else {}, statuses[step])}
            return client.patch(LEADERGROUPS, names[index], body, namespace, subresource="status")

        return patch

    rows: list[tuple[str, Callable[[int], Awaitable[Any]]]] = [
        ("POST configmaps (yardstick)", create(CONFIG_MAPS, lambda i: config_map(names[i], namespace))),
        (
            "PATCH configmaps (yardstick)",
            lambda i: client.patch(CONFIG_MAPS, names[i], {"data": {"step": "2"}}, namespace),
        ),
        ("POST leadergroups", create_group),
    ]
    for kind_index, kind in enumerate(CHILD_KINDS):
        rows.append((f"POST {kind.lower()}s", child_request(client, groups, kind_index, kind)))
    for step, (label, _) in enumerate(status_steps(3, "", datetime.now(UTC))):
        rows.append((f"PATCH leadergroups/status ({label})", patch_status(step)))
    rows += [
        ("GET leadergroups", lambda i: client.get(LEADERGROUPS, names[i], namespace)),
        ("POST events", lambda i: client.create(EVENTS, leader_event(groups[i]), namespace)),
        ("POST pods", create(PODS, lambda i: pod_body(f"{names[i]}-pod", groups[i]))),
        ("PATCH pods (holder's role)", lambda i: patch_holder_pod(client, namespace, f"{names[i]}-pod")),
        # The yardstick again: how far the server's cost per request drifted while the rows ran.
        (
            "PATCH configmaps (yardstick, again)",
            lambda i: client.patch(CONFIG_MAPS, names[i], {"data": {"step": "3"}}, namespace),
        ),
    ]
    return rows


def config_map(name: str, namespace: str) -> dict[str, Any]:
    """A small ConfigMap, the built-in object priced next to ours."""
    metadata = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"step": "1"}}


def child_request(
    client: KubeClient, groups: list[dict[str, Any]], position: int, kind: str
) -> Callable[[int], Awaitable[Any]]:
    """Create group i's child of ``kind`` (built from the group as the API server returned it)."""

    async def create(index: int) -> None:
        child = children_of(groups[index])[position]
        assert child["kind"] == kind, (child["kind"], kind)
        await client.create(resource_for(child), child, child["metadata"]["namespace"])

    return create


def leader_event(group: Mapping[str, Any]) -> dict[str, Any]:
    """The operator's Event on a group's first holder."""
    metadata = group["metadata"]
    about = {"name": metadata["name"], "namespace": metadata["namespace"], "uid": metadata["uid"]}
    message = f"Leader changed from <none> to {metadata['name']}-pod"
    return build_event(about, reason="LeaderChanged", message=message, now=datetime.now(UTC))


async def patch_holder_pod(client: KubeClient, namespace: str, name: str) -> None:
    """The operator's patch of the holder's pod: role ``leader`` and the deletion cost."""
    pod = {"metadata": {"name": name, "labels": {"leadergroup.dev/role": "follower"}}}
    patch = get_pod_role_patch(pod, holder=name)
    assert patch is not None
    await client.patch(PODS, name, patch, namespace)


def cpu_of(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each priced process."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


async def price(
    label: str,
    request: Callable[[int], Awaitable[Any]],
    count: int,
    concurrency: int,
    pids: Mapping[str, int],
    idle_rate: Mapping[str, float],
) -> dict[str, Any]:
    """Send ``count`` requests and charge each priced process's CPU over the window (less idle) to them."""
    before, started = cpu_of(pids), time.monotonic()
    results = await gather_limited([functools.partial(request, index) for index in range(count)], concurrency)
    answered = time.monotonic() - started
    await asyncio.sleep(SETTLE_SECONDS)
    window = time.monotonic() - started
    failed = [result for result in results if isinstance(result, BaseException)]
    if failed:
        raise RuntimeError(f"{label}: {len(failed)} of {count} failed, first: {failed[0]!r}") from failed[0]
    after = cpu_of(pids)
    cpu_ms = {
        name: round(1000 * max(0.0, after[name] - before[name] - idle_rate[name] * window) / count, 3)
        for name in pids
    }
    return {"request": label, "count": count, "seconds": round(answered, 2), "cpu_ms_per_request": cpu_ms}


def per_group(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """CPU milliseconds per group of each setup's requests, from the rows' prices."""
    priced = {row["request"]: row["cpu_ms_per_request"] for row in rows}
    return {
        setup: {
            name: round(sum(times * priced[request][name] for request, times in counts.items()), 2)
            for name in PRICED
            if all(name in priced[request] for request in counts)
        }
        for setup, counts in PER_GROUP.items()
    }


async def measure(options: argparse.Namespace, kubeconfig: Path, pids: Mapping[str, int]) -> dict[str, Any]:
    namespace = f"lgcost-{int(time.time())}"
    names = group_names(options.count)
    async with KubeClient.auto(kubeconfig) as client:
        await client.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        try:
            await asyncio.sleep(IDLE_SECONDS / 2)  # the namespace's own work settles
            before = cpu_of(pids)
            await asyncio.sleep(IDLE_SECONDS)
            after = cpu_of(pids)
            idle_rate = {name: (after[name] - before[name]) / IDLE_SECONDS for name in pids}
            now = datetime.now(UTC)
            subjects = Subjects(
                namespace,
                [group_body(name, namespace, real_cluster=True) for name in names],
                [[status for _, status in status_steps(3, f"{name}-pod", now)] for name in names],
            )
            rows = []
            for label, request in requests(client, subjects):
                row = await price(label, request, options.count, options.concurrency, pids, idle_rate)
                print(f"{label}: {row['cpu_ms_per_request']}", file=sys.stderr, flush=True)
                rows.append(row)
            final = await client.get(LEADERGROUPS, names[0], namespace)
        finally:
            with contextlib.suppress(ApiError):
                await client.delete(NAMESPACES, namespace)
    return {
        "benchmark": "request-cost",
        "environment": environment(),
        "options": options_record(options),
        "idle_cpu_cores": {name: round(rate, 3) for name, rate in idle_rate.items()},
        "rows": rows,
        "per_group_ms": per_group(rows),
        "last_status": final.get("status") or {},
    }


def report(payload: Mapping[str, Any]) -> None:
    rows = payload["rows"]
    processes = [name for name in PRICED if name in rows[0]["cpu_ms_per_request"]]
    print_table(
        f"CPU ms per request ({rows[0]['count']} of each, quiet control plane)",
        ["request", *processes, "requests/s"],
        [
            [
                row["request"],
                *(fmt(row["cpu_ms_per_request"][name]) for name in processes),
                fmt(row["count"] / max(row["seconds"], 1e-9), 0),
            ]
            for row in rows
        ],
    )
    print_table(
        "CPU ms per group: the prices above times the requests each setup makes per group",
        ["setup", *processes],
        [
            [setup, *(fmt(ms.get(name)) for name in processes)]
            for setup, ms in payload["per_group_ms"].items()
        ],
    )


@contextlib.contextmanager
def priced_cluster(options: argparse.Namespace, workdir: Path) -> Iterator[tuple[Path, dict[str, int]]]:
    """The cluster of ``--kubeconfig`` with the ``--pids`` given, or the test control plane started here."""
    if options.kubeconfig is not None:
        yield options.kubeconfig, options.pids
        return
    from tests.controlplane.cluster import control_plane
    from tests.support.cluster import RealBackend

    with control_plane(workdir / "controlplane") as plane:
        RealBackend(plane.kubeconfig, str(plane.kubectl), plane).install_crds()  # kubectl apply -k crds/
        running = plane.pids()
        yield plane.kubeconfig, {name: running[name] for name in PRICED}


def parse_pids(text: str) -> dict[str, int]:
    """``kube-apiserver=PID[,etcd=PID][,kube-controller-manager=PID]`` → a mapping."""
    try:
        pairs = {name: int(pid) for name, pid in (item.split("=", 1) for item in text.split(",") if item)}
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--pids: NAME=PID,...: {error}") from error
    unknown = sorted(set(pairs) - set(PRICED))
    if unknown or "kube-apiserver" not in pairs:
        raise argparse.ArgumentTypeError(
            f"--pids takes kube-apiserver=PID and optionally etcd, kube-controller-manager; not {unknown}"
        )
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="requests of each kind (default 1000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument(
        "--kubeconfig", type=Path, help="a cluster of yours (default: the test control plane)"
    )
    parser.add_argument(
        "--pids",
        type=parse_pids,
        help="with --kubeconfig: kube-apiserver=PID[,etcd=PID][,kube-controller-manager=PID] on this machine",
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON (default bench/results/)")
    parser.add_argument("--workdir", type=Path, help="the control plane's files (default: a temp dir)")
    options = parser.parse_args(argv)
    if (options.kubeconfig is None) != (options.pids is None):
        parser.error("--kubeconfig and --pids go together")
    with contextlib.ExitStack() as stack:
        workdir = options.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lg-cost-")))
        kubeconfig, pids = stack.enter_context(priced_cluster(options, workdir))
        payload = asyncio.run(measure(options, kubeconfig, pids))
    report(payload)
    print(f"Results: {write_results('request-cost', payload, options.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
