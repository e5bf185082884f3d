"""The demo's story: API server, operator, the blog's setup as one LeaderGroup, electors, a crash, failover.

Every wait polls with a deadline and shows why it waits; every process started here is stopped in a
``finally`` (electors with SIGTERM first, so a leader releases the Lease), then the API server or the
namespace goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from leadergroup.demo.backends import ClusterBackend, DemoError, EmulatorBackend
from leadergroup.demo.kubelet import KubeletStandIn
from leadergroup.demo.observe import Observer, Snapshot, has_expected_children, lease_state
from leadergroup.demo.options import DemoOptions
from leadergroup.demo.processes import ChildFailed, Children
from leadergroup.demo.seed import GROUP_NAME, LOCK_NAME, leader_group
from leadergroup.demo.summary import Summary
from leadergroup.demo.view import View, make_view
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import LEADERGROUPS, LEASES, PODS

T = TypeVar("T")
POLL_SECONDS = 0.25
FAILOVER_POLL_SECONDS = 0.05


class Demo:
    """One run of the demo; :meth:`run` tells the story, :meth:`abandon` is the last-resort cleanup."""

    def __init__(self, options: DemoOptions, workdir: Path) -> None:
        self.options = options
        self.timings = options.timings
        self.backend = ClusterBackend(options.kubeconfig) if options.kubeconfig else EmulatorBackend(workdir)
        self.children = Children(workdir)
        header = (
            f"LeaderGroup {self.backend.namespace}/{GROUP_NAME}   Lease {LOCK_NAME}   "
            f"replicas {options.replicas}   timings {self.timings.describe()} s"
        )
        self.view: View = make_view(options.plain, header)
        self.client: KubeClient | None = None
        self._observer: Observer | None = None
        self._kubelet: KubeletStandIn | None = None
        self._kubelet_task: asyncio.Task[None] | None = None
        self.summary: Summary | None = None

    @property
    def observer(self) -> Observer:
        """The observer (exists once the API server does)."""
        assert self._observer is not None
        return self._observer

    async def run(self) -> Summary:
        """Tell the story; with ``--keep-running`` keep the view up until cancelled (Ctrl-C).

        Raises:
            DemoError: a step failed (ChildFailed is one).
        """
        try:
            self.summary = await self._story()
            if self.options.json_summary:
                self.options.json_summary.write_text(json.dumps(self.summary.as_json(), indent=2) + "\n")
            if self.options.keep_running:
                self.view.block(self.summary.lines())
                await self._keep_running()
        except ChildFailed as error:
            raise DemoError(str(error)) from None
        finally:
            await self._shutdown()
        # Last, after the cleanup messages: the summary is what stays on screen.
        self.view.block(self.summary.lines())
        return self.summary

    async def _story(self) -> Summary:
        view, timings, options = self.view, self.timings, self.options
        if isinstance(self.backend, EmulatorBackend):
            view.step("Starting an API server")
            view.note("No cluster needed: an emulated Kubernetes API server runs inside this process, on")
            view.note(
                "127.0.0.1 only. It stores objects and serves watches; it runs no controllers, no kubelet."
            )
        else:
            view.step("Connecting to the cluster")
        await self.backend.setup(view.note)
        self.client = KubeClient.auto(self.backend.kubeconfig, request_timeout=10)
        namespace = self.backend.namespace
        self._observer = Observer(self.client, namespace, GROUP_NAME, LOCK_NAME, self.children)

        view.step("Starting the operator")
        view.note(f"The real operator (Kopf) as a local process, watching the namespace {namespace} only:")
        view.note(f"python -m leadergroup.cli.operator --namespace {namespace} --standalone")
        operator = self.children.start_operator(self.backend.operator_kubeconfig, namespace)
        await self._until_operator_alive()
        view.note(f"The operator is up (pid {operator.pid})")

        view.step("Applying the blog's setup as one LeaderGroup")
        view.note(
            f"lockName {LOCK_NAME}, replicas {options.replicas}, election "
            f"{timings.lease_duration}/{timings.renew_deadline}/{timings.retry_period} s "
            "(lease duration / renew deadline / retry period)"
        )
        view.note("The blog writes a ServiceAccount, a Role, a RoleBinding and a Deployment by hand;")
        view.note("the operator builds them (and pre-creates the Lease) from this one object.")
        body = leader_group(namespace, options.replicas, timings, keep_pending=self.backend.keep_pending)
        await self.client.create(LEADERGROUPS, body, namespace)
        snapshot = await self._wait(
            "the operator to create the children",
            lambda s: s if has_expected_children(s.children) else None,
            within=30,
            progress=lambda t: f"Waiting for the operator to create the children ({t:.0f}s)",
        )
        view.note(f"The operator created: {', '.join(snapshot.children)}")

        view.step("Getting the pods")
        pods = await self.backend.pod_names(self.client, GROUP_NAME, options.replicas, view.note)
        view.note(f"Pods: {', '.join(pods)}")
        view.note("Their names are the electors' identities, as the blog's -id=$(POD_NAME).")

        view.step(f"Starting {len(pods)} electors, one per pod")
        view.note("The blog's elector program (client-go's leaderelection, in Python), one process each:")
        view.note(f"python -m leadergroup.elector -id POD -lease-lock-name {LOCK_NAME} ...")
        for pod in pods:
            self.children.start_elector(pod, LOCK_NAME, namespace, self.backend.elector_kubeconfig, timings)
        self._start_kubelet(pods)
        snapshot = await self._wait(
            "an elector to acquire the Lease",
            lambda s: s if s.holder in pods and self.children.electors[s.holder].leading() else None,
            within=timings.lease_duration + 15,
            progress=lambda t: f"Waiting for an elector to acquire the Lease ({t:.0f}s)",
        )
        leader = snapshot.holder
        view.note(f"{leader} leads: it renews the Lease every {timings.retry_period} s; the others retry")
        view.note(
            f"every {timings.retry_period} to {timings.election.max_poll_interval:.1f} s and see it is held."
        )
        await self._try_wait(
            "the LeaderGroup's status to name the holder",
            lambda s: s.group is not None and s.group.holder == leader,
            within=15,
            progress=lambda t: f"Waiting for the operator to copy the holder into the status ({t:.0f}s)",
        )
        renewed_from = snapshot.lease.renew_time if snapshot.lease else ""
        await self._try_wait(
            "a renewal",
            lambda s: s.lease is not None and s.lease.renew_time != renewed_from,
            within=3 * timings.retry_period + 5,
            progress=lambda t: f"Watching the leader renew the Lease ({t:.0f}s)",
        )
        view.note("Steady state: one leader renewing, the operator reporting it in the LeaderGroup's status.")

        old_leader, new_leader, failover = await self._crash(leader)

        view.step("Restarting the crashed elector")
        view.note("In a cluster the kubelet restarts the crashed container; it comes back as a follower:")
        view.note("the Lease is held, so it waits like the others.")
        self.children.start_elector(
            old_leader, LOCK_NAME, namespace, self.backend.elector_kubeconfig, timings
        )
        rejoined_at = time.monotonic()
        await self._wait(
            "the restarted elector to settle",
            lambda s: s if time.monotonic() - rejoined_at > timings.retry_period + 0.5 else None,
            within=timings.retry_period + 10,
            progress=lambda t: f"The restarted elector {old_leader} tries the Lease ({t:.1f}s)",
        )

        deleted, after_deletion, deletion_failover = await self._delete_leader_pod(new_leader)
        snapshot = await self._wait(
            "the replacement pod's elector",
            lambda s: (
                s if len(self.kubelet.pods) >= options.replicas and deleted not in self.kubelet.pods else None
            ),
            within=30,
            progress=lambda t: f"Waiting for a replacement pod and its elector ({t:.0f}s)",
        )
        self.view.note(f"Pods now: {', '.join(sorted(self.kubelet.pods))}")
        return Summary(
            backend=self.backend.where,
            namespace=namespace,
            replicas=options.replicas,
            timings=timings,
            children=snapshot.children,
            pods=tuple(pods),
            old_leader=old_leader,
            new_leader=new_leader,
            failover_seconds=failover,
            deleted_leader=deleted,
            deletion_new_leader=after_deletion,
            deletion_failover_seconds=deletion_failover,
            lease_transitions=snapshot.lease.transitions if snapshot.lease else 0,
            status_holder=snapshot.group.holder if snapshot.group else "",
        )

    async def _crash(self, leader: str) -> tuple[str, str, float]:
        view, timings = self.view, self.timings
        bound = timings.crash_bound
        view.step("Crashing the leader")
        view.note(f"Killing the leader's process ({leader}) with SIGKILL: a crash, so no release.")
        ld, rp, poll = timings.lease_duration, timings.retry_period, timings.election.max_poll_interval
        view.note("The others must wait for the lease to expire: a candidate takes over at its first try")
        view.note(f"(every {rp} to {poll:.1f} s) once LD = {ld} s have passed since it last saw the record")
        view.note(
            f"change: LD + 2.2·RP = {timings.expiry_bound:.1f} s after that. It may see the last renewal"
        )
        view.note(f"up to 2.2·RP after the crash, so from the kill: at most LD + 4.4·RP = {bound:.1f} s.")
        watcher = asyncio.create_task(self._first_holder_other_than(leader))
        try:
            killed_at = await asyncio.to_thread(self.children.kill, leader)
            await self._wait(
                "a new holder in the Lease",
                lambda s: watcher.done(),
                within=bound + 15,
                progress=lambda t: (
                    f"Waiting for the lease to expire: {t:.1f}s since the kill "
                    f"(expected at most {bound:.1f}s)"
                ),
                interval=0.1,
            )
            new_leader, seen_at = watcher.result()
        finally:
            watcher.cancel()
        failover = seen_at - killed_at
        verdict = "within" if failover <= bound else "slower than"
        view.note(
            f"{new_leader} took over {failover:.2f} s after the crash, {verdict} the bound {bound:.1f} s."
        )
        followed = await self._try_wait(
            "the LeaderGroup's status and a LeaderChanged event to follow",
            lambda s: (
                s.group is not None
                and s.group.holder == new_leader
                and any(e.reason == "LeaderChanged" and new_leader in e.message for e in s.events)
            ),
            within=15,
            progress=lambda t: f"Waiting for the operator to report the new leader ({t:.0f}s)",
        )
        if followed:
            view.note(
                "The operator followed the Lease: status.holder changed, a LeaderChanged event was posted."
            )
        return leader, new_leader, failover

    def _start_kubelet(self, pods: list[str]) -> None:
        assert self.client is not None
        client, backend = self.client, self.backend
        replicate = None
        if isinstance(backend, EmulatorBackend):

            async def replicate() -> object:
                return await backend.pod_names(client, GROUP_NAME, self.options.replicas, lambda _: None)

        self._kubelet = KubeletStandIn(
            client,
            self.children,
            namespace=backend.namespace,
            deployment=GROUP_NAME,
            lease=LOCK_NAME,
            replicas=self.options.replicas,
            kubeconfig_for_electors=backend.elector_kubeconfig,
            timings=self.timings,
            replicate=replicate,
            say=self.view.note,
        )
        self._kubelet.adopt(pods)
        self._kubelet_task = asyncio.create_task(self._kubelet.run())

    @property
    def kubelet(self) -> KubeletStandIn:
        """The stand-in kubelet (exists once the electors do)."""
        assert self._kubelet is not None
        return self._kubelet

    async def _delete_leader_pod(self, leader: str) -> tuple[str, str, float]:
        view, timings = self.view, self.timings
        assert self.client is not None
        view.step("Deleting the leader's pod")
        view.note(f"kubectl delete pod {leader}: the kubelet stops the pod's container (SIGTERM), and the")
        view.note("operator releases the Lease of a holder whose pod is gone (for electors that cannot).")
        view.note(
            f"Either way a standby takes over at its next try: within 2.2·RP = "
            f"{timings.election.max_poll_interval:.1f} s, not a whole lease duration."
        )
        watcher = asyncio.create_task(self._first_holder_other_than(leader))
        try:
            deleted_at = time.monotonic()
            await self.client.delete(PODS, leader, self.backend.namespace)
            await self._wait(
                "a new holder after the pod deletion",
                lambda s: watcher.done(),
                within=timings.crash_bound + 15,
                progress=lambda t: f"Waiting for a new holder: {t:.1f}s since the deletion",
                interval=0.1,
            )
            new_leader, seen_at = watcher.result()
        finally:
            watcher.cancel()
        failover = seen_at - deleted_at
        view.note(f"{new_leader} took over {failover:.2f} s after the pod deletion.")
        return leader, new_leader, failover

    async def _first_holder_other_than(self, old: str) -> tuple[str, float]:
        # A tight loop of its own: the failover time must not depend on how long a whole snapshot takes.
        assert self.client is not None
        while True:
            try:
                lease = await self.client.get(LEASES, LOCK_NAME, self.backend.namespace)
            except ApiError:
                lease = {}
            holder = lease_state(lease).holder if lease else ""
            if holder and holder != old:
                return holder, time.monotonic()
            await asyncio.sleep(FAILOVER_POLL_SECONDS)

    async def _until_operator_alive(self, within: float = 45) -> None:
        started = time.monotonic()
        while not await asyncio.to_thread(self.children.operator_alive):
            elapsed = time.monotonic() - started
            if elapsed > within:
                raise DemoError(f"The operator did not come up within {within:.0f}s")
            self.view.progress(f"Waiting for the operator to start ({elapsed:.0f}s)")
            await asyncio.sleep(POLL_SECONDS)

    async def _wait(
        self,
        what: str,
        predicate: Callable[[Snapshot], T | None],
        *,
        within: float,
        progress: Callable[[float], str],
        interval: float = POLL_SECONDS,
    ) -> T:
        """Observe until ``predicate`` returns something truthy, and return that.

        Raises:
            DemoError: not within ``within`` seconds (with the end of the children's logs).
        """
        result = await self._observe_until(predicate, within, progress, interval)
        if not result:
            raise DemoError(f"Gave up waiting for {what} after {within:.0f}s{self._logs_hint()}")
        return result

    async def _try_wait(
        self,
        what: str,
        predicate: Callable[[Snapshot], bool],
        *,
        within: float,
        progress: Callable[[float], str],
    ) -> bool:
        """As :meth:`_wait` for what is worth showing but not worth failing the demo over."""
        if await self._observe_until(predicate, within, progress, POLL_SECONDS):
            return True
        self.view.note(f"(Gave up waiting for {what} after {within:.0f}s; going on.)")
        return False

    async def _observe_until(
        self,
        predicate: Callable[[Snapshot], T | None],
        within: float,
        progress: Callable[[float], str],
        interval: float,
    ) -> T | None:
        started = time.monotonic()
        while True:
            snapshot = await self.observer.snapshot()
            self.view.update(snapshot)
            result = predicate(snapshot)
            if result:
                return result
            # Raises if the operator died: say so rather than time out. A process poll only: an HTTP probe
            # here would block the loop and skew the measured failover.
            self.children.check_operator()
            elapsed = time.monotonic() - started
            if elapsed > within:
                return None
            self.view.progress(progress(elapsed))
            await asyncio.sleep(interval)

    async def _keep_running(self) -> None:
        self.view.step("Live view: Ctrl-C ends the demo and cleans up")
        namespace = self.backend.namespace
        self.view.note(
            f"Look around: KUBECONFIG={self.backend.kubeconfig} kubectl get lg,lease,pods -n {namespace}"
        )
        self.view.note("Crash the leader again (kill -9 its pid, shown above) and watch another take over,")
        self.view.note(
            f"or delete its pod (kubectl delete pod -n {namespace} NAME): a new pod and elector come."
        )
        while True:
            self.view.update(await self.observer.snapshot())
            self.view.progress("Live (Ctrl-C to stop)")
            await asyncio.sleep(0.5)

    def _logs_hint(self) -> str:
        parts = []
        if self.children.operator is not None:
            parts.append(f"\n--- operator log (last lines) ---\n{self.children.operator.log_tail()}")
        for identity, child in self.children.electors.items():
            parts.append(f"\n--- elector {identity} (last lines) ---\n{child.log_tail(5)}")
        return "".join(parts)

    async def _shutdown(self) -> None:
        view = self.view
        view.step("Cleaning up")
        if self._kubelet_task is not None:
            self._kubelet_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._kubelet_task
            self._kubelet_task = None
        await self.children.stop_all_async(report=view.note)
        await self.backend.teardown(self.client, view.note)
        if self.client is not None:
            await self.client.close()
            self.client = None

    def abandon(self) -> None:
        """Last resort when the event loop is gone (a second Ctrl-C): stop processes and the emulator."""
        self.children.stop_all(timeout=5)
        if isinstance(self.backend, EmulatorBackend) and self.backend.emulator is not None:
            self.backend.emulator.stop()
        self.view.close()
