"""The scenarios of bench/faults.py: each starts its electors (and operator), makes its fault and measures.

Every function returns one result per round: seconds from the fault (or from the API server's return) to
each moment, by the electors' leading logs and by polling the API every 0.1 s; None when not reached within
:data:`WITHIN` seconds. The electors are local processes (``leadergroup-elector`` or the blog's client-go
program, tests/elector/clientgo) with pods' names as identities where a LeaderGroup runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import BenchCluster, OperatorRun, take_lease
from bench.failover_candidates import Candidate, start_candidate, starts_after, until
from tests.support.faultproxy import FaultProxy

from bench import holder_deleted
from leadergroup.elector import ElectionTiming
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.config import from_kubeconfig
from leadergroup.kube.resources import DEPLOYMENTS, LEADERGROUPS, LEASES
from leadergroup.sim.standins import pods_of

WITHIN = 120.0  # twice client-go's 45 s health-check bound, and room: later counts as never
Fleet = list[Candidate]  # the first one led when the fleet was started
Timing = tuple[int, int, int]

# ------------------------------------------------------------------------------------------------ helpers


def since(moment: float | None, start: float) -> float | None:
    """Seconds from ``start`` to ``moment`` (wall clock), rounded; None stays None."""
    return None if moment is None else round(moment - start, 3)


async def first_moment(condition: Callable[[], Any], within: float = WITHIN) -> float | None:
    """When ``condition`` (plain or async) first held, polled every 0.1 s; None if not within ``within``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.time()
        await asyncio.sleep(0.1)
    return None


async def start_fleets(
    kind: str,
    fleets: Sequence[tuple[str, Sequence[tuple[str, Path]]]],
    namespace: str,
    timing: Timing,
    workdir: Path,
    started: list[Fleet],
) -> list[Fleet]:
    """Start each fleet's first elector and, once every first one leads, the others; return once every
    standby has logged its leader (and polled a few times since).

    ``fleets``: per Lease, its electors' identities and kubeconfigs. What runs is appended to ``started``
    (the caller kills it, whatever happens here).
    """
    new: list[Fleet] = []
    for lease, members in fleets:
        identity, kubeconfig = members[0]
        new.append([start_candidate(kind, identity, lease, namespace, kubeconfig, timing, workdir)])
    started += new
    await until(lambda: all(fleet[0].starts() for fleet in new), 60, "first leaders")
    for (lease, members), fleet in zip(fleets, new, strict=True):
        for identity, kubeconfig in members[1:]:
            fleet.append(start_candidate(kind, identity, lease, namespace, kubeconfig, timing, workdir))
    await until(
        lambda: all(c.has_seen(fleet[0].identity) for fleet in new for c in fleet[1:]),
        120,
        "standbys that see their leader",
        interval=0.2,
    )
    await asyncio.sleep(timing[2] * 2.5)  # every standby has polled a few times since
    return new


def kill_all(fleets: Sequence[Fleet]) -> None:
    """SIGKILL every elector (frozen or not) and reap it."""
    for fleet in fleets:
        for candidate in fleet:
            candidate.kill()


async def make_group(
    client: KubeClient, cluster: BenchCluster, name: str, timing: Timing, replicas: int
) -> list[str]:
    """Create a LeaderGroup (fast failover on) and return its pods' names once it has ``replicas``."""
    namespace = cluster.namespace
    body = holder_deleted.group(namespace, name, ElectionTiming(*timing), failover=True)
    body["spec"]["replicas"] = replicas
    await client.create(LEADERGROUPS, body, namespace)
    deployment = await until(lambda: client.get_or_none(DEPLOYMENTS, name, namespace), 30, "Deployment")

    async def pods() -> list[str] | None:
        names = sorted(p["metadata"]["name"] for p in await pods_of(client, deployment))
        return names[:replicas] if len(names) >= replicas else None

    await until(lambda: client.get_or_none(LEASES, name, namespace), 30, "Lease")
    return list(await until(pods, 60, "pods", interval=0.2))


async def status_is(client: KubeClient, namespace: str, name: str, holder: str) -> bool:
    """Whether the group's status.holder is ``holder`` (False while the server cannot be reached)."""
    try:
        group = await client.get(LEADERGROUPS, name, namespace)
    except ApiError:
        return False
    return (group.get("status") or {}).get("holder") == holder


async def write_holder(client: KubeClient, namespace: str, name: str, holder: str) -> float:
    """Write ``holder`` into the Lease ``name`` as an elector would; retried while unreachable. When."""

    async def written() -> bool:
        try:
            await take_lease(client, namespace, await client.get(LEASES, name, namespace), holder)
        except ApiError:
            return False
        return True

    await until(written, 30, f"the holder {holder} written", interval=0.1)
    return time.time()


# ------------------------------------------------------------------------------------------- elector-cut


async def elector_cut(
    kind: str, cluster: BenchCluster, rounds: int, timing: Timing, workdir: Path
) -> list[dict[str, Any]]:
    """``rounds`` fleets of three at once, each elector behind its own proxy; the leaders' proxies frozen."""
    lease_duration, renew_deadline, retry = timing
    server = from_kubeconfig(cluster.admin_kubeconfig).server
    stem = "cg" if kind == "client-go" else kind
    proxies: dict[str, FaultProxy] = {}
    fleets: list[Fleet] = []
    with contextlib.ExitStack() as stack:

        def through_proxy(identity: str) -> tuple[str, Path]:
            proxy = proxies[identity] = stack.enter_context(FaultProxy.in_front_of(server).start())
            return identity, proxy.kubeconfig_through(cluster.admin_kubeconfig, workdir / f"kc-{identity}")

        specs = [
            (lease, [through_proxy(f"{lease}-{member}") for member in "abc"])
            for lease in (f"{stem}-cut-{index}" for index in range(rounds))
        ]
        try:
            await start_fleets(kind, specs, cluster.namespace, timing, workdir, fleets)
            cuts = []
            for fleet in fleets:
                proxies[fleet[0].identity].freeze()
                cuts.append(time.time())

            def over(fleet: Fleet, cut: float) -> bool:
                stopped = any(event == "stopped" and t >= cut for event, t in fleet[0].events())
                return stopped and bool(starts_after(fleet[1:], cut))

            # The old leader stops by RP + 2 RD (client-go first tries to release, under a fresh deadline);
            # a standby takes over by LD + 4.4 RP.
            await first_moment(
                lambda: all(map(over, fleets, cuts)), lease_duration + 2 * renew_deadline + 5 * retry + 15
            )
            await asyncio.sleep(max(0.0, cuts[0] + 2 * lease_duration - time.time()))
            for fleet in fleets:
                proxies[fleet[0].identity].thaw()
            await asyncio.sleep(retry * 2.5)  # room for any further (wrong) change of leader
            return [cut_result(fleet, cut) for fleet, cut in zip(fleets, cuts, strict=True)]
        finally:
            for proxy in proxies.values():
                proxy.thaw()  # so an elector that still runs is not stuck while it is killed
            kill_all(fleets)


def cut_result(fleet: Fleet, cut: float) -> dict[str, Any]:
    """One round of ``elector-cut``: seconds from the cut, by the electors' leading logs."""
    old = fleet[0]
    stopped = next((t for event, t in old.events() if event == "stopped" and t >= cut), None)
    taken = starts_after(fleet[1:], cut)
    new = taken[0] if taken else None
    return {
        "stopped": since(stopped, cut),
        "standby_leads": since(new, cut),
        "overlap": None if stopped is None or new is None else round(max(0.0, stopped - new), 3),
        "changes": len(starts_after(fleet, cut)),  # terms started after the cut: 1 is right
        "old_leader_exited": old.process.poll() is not None,
    }


# --------------------------------------------------------------------------------------- operator-silent


async def operator_silent(
    cluster: BenchCluster, client: KubeClient, rounds: int, timing: Timing, workdir: Path
) -> list[dict[str, Any]]:
    """One operator behind a proxy; per round a new group, then every open connection silenced."""
    server = from_kubeconfig(cluster.operator_kubeconfig).server
    with FaultProxy.in_front_of(server).start() as proxy:
        proxied = proxy.kubeconfig_through(cluster.operator_kubeconfig, workdir / "kc-operator-proxied")
        through = dataclasses.replace(cluster, operator_kubeconfig=proxied)
        operator = OperatorRun(through, workdir / "operator-silent.log").start()
        try:
            return [
                await silent_round(cluster, client, proxy, f"silent-{index}", timing, workdir)
                for index in range(rounds)
            ]
        finally:
            operator.stop()


async def silent_round(
    cluster: BenchCluster,
    client: KubeClient,
    proxy: FaultProxy,
    name: str,
    timing: Timing,
    workdir: Path,
) -> dict[str, Any]:
    namespace = cluster.namespace
    pods = await make_group(client, cluster, name, timing, 2)
    fleets: list[Fleet] = []
    try:
        members = [(pod, cluster.admin_kubeconfig) for pod in pods]
        ((leader, standby),) = await start_fleets(
            "ours", [(name, members)], namespace, timing, workdir, fleets
        )
        await until(lambda: status_is(client, namespace, name, leader.identity), 60, "the holder in status")
        uid = (await client.get(DEPLOYMENTS, name, namespace))["metadata"]["uid"]

        silenced = proxy.silence_open()
        fault = time.time()
        leader.process.send_signal(signal.SIGTERM)
        await client.delete(DEPLOYMENTS, name, namespace)

        async def restored() -> bool:
            found = await client.get_or_none(DEPLOYMENTS, name, namespace)
            return found is not None and found["metadata"]["uid"] != uid

        followed, back = await asyncio.gather(
            first_moment(lambda: status_is(client, namespace, name, standby.identity)),
            first_moment(restored),
        )
        taken = starts_after([standby], fault)
        return {
            "holder_in_status": since(followed, fault),
            "deployment_restored": since(back, fault),
            "standby_led": since(taken[0] if taken else None, fault),
            "silenced_connections": silenced,
        }
    finally:
        kill_all(fleets)


# ------------------------------------------------------------------------------------- apiserver-restart


async def apiserver_restart(
    plane: Any,
    cluster: BenchCluster,
    client: KubeClient,
    kinds: Sequence[str],
    rounds: int,
    timing: Timing,
    down: float,
    workdir: Path,
) -> dict[str, list[dict[str, Any]]]:
    """One restart per round, ours (under the operator) and client-go's electors through the same one.

    ``plane`` is the bench's control plane (tests/controlplane/cluster.py), restarted in place.
    """
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    operator = OperatorRun(cluster, workdir / "operator-restart.log").start() if "ours" in kinds else None
    try:
        # Every round's groups and pods first: after a restart of its API server the controller manager
        # here has been seen to make no more pods for a minute and more (its informers, not the operator).
        pods: list[list[str] | None] = []
        for index in range(rounds):
            if "ours" in kinds:
                pods.append(await make_group(client, cluster, f"restart-{index}", timing, 3))
                await make_group(
                    client, cluster, f"restart-{index}-probe", timing, 1
                )  # the bench writes its holder
            else:
                pods.append(None)
        for index in range(rounds):
            outcome = await restart_round(
                plane, cluster, client, kinds, f"restart-{index}", pods[index], timing, down, workdir
            )
            for kind, result in outcome.items():
                results[kind].append(result)
    finally:
        if operator is not None:
            operator.stop()
    return results


async def restart_round(
    plane: Any,
    cluster: BenchCluster,
    client: KubeClient,
    kinds: Sequence[str],
    name: str,
    pods: list[str] | None,
    timing: Timing,
    down: float,
    workdir: Path,
) -> dict[str, dict[str, Any]]:
    namespace, admin = cluster.namespace, cluster.admin_kubeconfig
    probe, lease = f"{name}-probe", f"cg-{name}"
    fleets: dict[str, Fleet] = {}
    started: list[Fleet] = []
    try:
        if pods is not None:  # made by apiserver_restart, with the probe group (no electors)
            members = [(pod, admin) for pod in pods]
            (fleets["ours"],) = await start_fleets(
                "ours", [(name, members)], namespace, timing, workdir, started
            )
            leader = fleets["ours"][0].identity
            await until(lambda: status_is(client, namespace, name, leader), 60, "the holder in status")
            await write_holder(client, namespace, probe, "before-restart")
            await until(lambda: status_is(client, namespace, probe, "before-restart"), 60, "the probe")
        if "client-go" in kinds:
            members = [(f"{lease}-{member}", admin) for member in "abc"]
            (fleets["client-go"],) = await start_fleets(
                "client-go", [(lease, members)], namespace, timing, workdir, started
            )

        stopped_at = time.time()
        exited = plane.stop_process("kube-apiserver")
        await asyncio.sleep(max(0.0, down - exited))
        plane.start_apiserver()  # on this (the main) thread: the child dies with the bench; until /readyz
        ready = time.time()
        written = await write_holder(client, namespace, probe, "after-restart") if "ours" in fleets else None

        def kept(fleet: Fleet) -> bool:  # a term from before the stop never ended (down < RD)
            return any(c.leads() and c.starts()[-1] < stopped_at for c in fleet)

        async def leads_again(fleet: Fleet) -> float | None:
            if await first_moment(lambda: starts_after(fleet, stopped_at) or kept(fleet)) is None:
                return None
            taken = starts_after(fleet, stopped_at)
            return taken[0] if taken else ready

        running = list(fleets)
        moments = await asyncio.gather(
            *(leads_again(fleets[kind]) for kind in running),
            *(
                [first_moment(lambda: status_is(client, namespace, probe, "after-restart"))]
                if written
                else []
            ),
        )
        await asyncio.sleep(timing[2] * 2.5)  # room for any further change of leader
        results: dict[str, dict[str, Any]] = {}
        for kind, moment in zip(running, moments[: len(running)], strict=True):
            fleet = fleets[kind]
            taken = starts_after(fleet, stopped_at)
            holders = sorted((t, c.identity) for c in fleet for t in c.starts() if t >= stopped_at)
            results[kind] = {
                "leader_again": since(moment, ready),
                "down_seconds": round(ready - stopped_at, 3),
                "changes": len(taken),
                "same_leader": not holders or holders[0][1] == fleet[0].identity,  # kept, or took it back
                "exited": [c.identity for c in fleet if c.process.poll() is not None],
            }
        if written is not None:
            results["ours"]["status_follows"] = since(moments[-1], ready)
            results["ours"]["probe_written_after"] = since(written, ready)
        return results
    finally:
        kill_all(started)
