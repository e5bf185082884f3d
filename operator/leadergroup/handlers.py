"""Kopf handlers: each one hands its event to the :class:`GroupController`, nothing more.

Kopf is edge-triggered; these handlers make it level-triggered: whatever happened, the group is
reconciled as a whole and its status recomputed from what is observed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from leadergroup import constants, kopfpeering, kopfwatch, metrics
from leadergroup.bookkeeping import RememberedDiffBase, RetriesOnlyProgress
from leadergroup.following import Following, followers_of, with_retries
from leadergroup.kube import KubeClient
from leadergroup.kube import config as kube_config
from leadergroup.kube.client import authorization, open_session
from leadergroup.kube.liveness import (
    DEAD_AFTER_BOUNDS,
    WATCH_IDLE_SECONDS,
    WATCH_SERVER_TIMEOUT_RANGE,
    WATCHES,
)
from leadergroup.reconcile import GroupController, TransientError

LEADERGROUPS = (constants.GROUP, constants.VERSION, constants.PLURAL)
LEASES = ("coordination.k8s.io", "v1", "leases")
MANAGED = {constants.LABEL_MANAGED_BY: constants.MANAGER}
MANAGED_SELECTOR = f"{constants.LABEL_MANAGED_BY}={constants.MANAGER}"
WATCHED_CHILDREN = (
    ("", "v1", "pods"),
    ("", "v1", "serviceaccounts"),
    ("", "v1", "services"),
    ("apps", "v1", "deployments"),
    ("coordination.k8s.io", "v1", "leases"),
    ("rbac.authorization.k8s.io", "v1", "roles"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("policy", "v1", "poddisruptionbudgets"),
)
# The children other than the Deployment, whose events only say whether the group drifted.
CHILD_KINDS = (
    ("", "v1", "serviceaccounts"),
    ("", "v1", "services"),
    ("rbac.authorization.k8s.io", "v1", "roles"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("policy", "v1", "poddisruptionbudgets"),
)
WATCH_LIST_PAGE_SIZE = 500
# How often a group stalled by the cluster (not by its spec) is looked at again: the user may have removed
# the object that blocked it. A spec problem waits for the next spec change instead.
RETRIED_STALLS = ("ChildNotOwned", "ChildRejected")
STALLED_RETRY_INTERVAL = float(os.environ.get("LEADERGROUP_STALLED_RETRY_SECONDS", "30"))


class QuietWatchHandlers(logging.Filter):
    """Drop Kopf's "Handler 'lease_event' succeeded." lines: a Lease renews every few seconds per group."""

    QUIET = ("group_event", "lease_event", "deployment_event", "child_event", "pod_event")

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep everything but the success lines of the watch handlers."""
        message = record.getMessage()
        return not (message.endswith("succeeded.") and any(f"'{name}'" in message for name in self.QUIET))


def controller(memo: kopf.Memo) -> GroupController:
    """The process's controller, created at startup."""
    found = memo.get("controller")
    assert isinstance(found, GroupController), "the startup handler did not run"
    return found


@kopf.on.login()
async def login(**_: Any) -> kopf.AiohttpSession:
    """Give Kopf a session made as our client's: same credentials, TLS (``tls-server-name`` too) and proxy.

    Kopf calls this again when the API server answers 401, so an exec plugin is run again each time
    (its credential then also serves the operator's own clients).
    """
    # In a thread: an exec plugin may take seconds, and Kopf's watches share this event loop.
    connection = await asyncio.to_thread(kube_config.auto, fresh_credentials=True)
    session = open_session(connection, connection_limit=0, headers=authorization(connection))
    return kopf.AiohttpSession(
        server=connection.server, default_namespace=connection.namespace, aiohttp_session=session
    )


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Tune Kopf for a level-triggered operator and open the API client."""
    logging.getLogger("kopf.objects").addFilter(QuietWatchHandlers())
    # Our own Events (LeaderChanged) only: Kopf's per-handler Events would cost a write per reconcile.
    settings.posting.enabled = False
    # Kopf's retry bookkeeping in our annotation namespace, out of status (the CRD schema prunes status.kopf).
    settings.persistence.progress_storage = RetriesOnlyProgress(prefix=constants.GROUP)
    # Kopf's record of the last handled spec in memory, not in an annotation: no write per new group or
    # spec change, nothing on the user's object (bookkeeping.py).
    diffbase = RememberedDiffBase()
    settings.persistence.diffbase_storage = diffbase
    memo["diffbase"] = diffbase
    # Kopf keeps a worker per watched object until it has been idle this long. Groups bring about ten
    # watched objects each (children, pods), so a burst of new groups leaves thousands of idle workers:
    # exiting after 1 s instead of 5 s lowers the operator's peak memory (bench/scale.py).
    settings.queueing.idle_timeout = 1.0
    # No watch goes deaf (kube/liveness.py): the server ends and bookmarks each of Kopf's streams within
    # 30 s, a stream silent for 40 s is closed by kopfwatch's bound (Kopf's own inactivity timeout is the
    # backstop), and a failed one is asked again after a second, not a tenth.
    settings.watching.server_timeout = WATCH_SERVER_TIMEOUT_RANGE[1]
    settings.watching.inactivity_timeout = DEAD_AFTER_BOUNDS * WATCH_IDLE_SECONDS
    settings.watching.reconnect_backoff = 1.0
    kopfwatch.install()
    # Kopf judges its peers from when their keep-alives were seen, not from their stamps (kopfpeering.py).
    kopfpeering.install()
    # Page the initial list of each watched resource, as client-go's reflector does (500 a page). Unpaged,
    # a restart with 5,000 groups read all 15,000 pods in one response and held them at once.
    settings.watching.chunk_size = WATCH_LIST_PAGE_SIZE
    # Kopf waits this long for the watch to deliver its own patch (a retry's progress, now) before trusting
    # older events. Under load (1,000 groups created at once) the watch lagged more than the default 5 s,
    # and Kopf re-ran the creation handler on a stale event for most groups (measured in bench/scale.py).
    settings.persistence.consistency_timeout = 30
    # Filter children and pods on the API server: without this Kopf would watch every pod in the cluster.
    for resource in WATCHED_CHILDREN:
        settings.watching.label_selectors[resource] = MANAGED_SELECTOR
    settings.networking.request_timeout = 30
    # 64 connections, one request each: a TLS connection holds some 300 kB, but 16 of them made a bring-up
    # of 1,000 groups wait for its own creates (children after 90 s, not 27; bench/scale.py --real).
    reconciler = KubeClient.auto(user_agent=f"{constants.MANAGER}/reconciler", connection_limit=64)
    group_controller = GroupController(reconciler)
    memo["controller"] = group_controller
    following = memo.get("following")
    if isinstance(following, Following):
        # leadergroup-operator: our own watches of the Leases, pods and children (following.py). No limit on
        # the connections: each watch holds one for as long as it lasts.
        client = KubeClient.auto(user_agent=f"{constants.MANAGER}/follower", connection_limit=0)
        followers = followers_of(group_controller, client, following)
        memo["follower_client"] = client
        memo["follower_tasks"] = [
            asyncio.create_task(follower.run(), name=f"{follower.what} follower") for follower in followers
        ]
    else:
        # `kopf run -m leadergroup.handlers`, or a namespace pattern: nothing tells us which namespaces and
        # shard are ours, so Kopf watches the Leases, pods and children (its resource observer reads the
        # handlers once the startup handlers are done).
        follow_through_kopf()
    metrics_port = os.environ.get("LEADERGROUP_METRICS_PORT")
    if metrics_port:
        metrics.serve(group_controller, int(metrics_port))
        logger.info("Serving Prometheus metrics on :%s/metrics", metrics_port)
    logger.info("LeaderGroup operator started")


@kopf.on.probe(id="watches")
def watches_alive(**_: Any) -> int:
    """Fail the liveness endpoint (``--liveness``) while a watch cannot be re-established.

    A watch that heard nothing from the API server for twice its idle bound (80 s) has been replaced and
    still hears nothing: the kubelet's restart is the last resort (kube/liveness.py). The result is the
    number of watches running.
    """
    dead = WATCHES.dead()
    if dead:
        silent = ", ".join(
            f"{record.resource} in {record.scope or 'every namespace'} ({silent_for:.0f}s)"
            for record, silent_for in dead
        )
        raise kopf.PermanentError(f"Watches heard nothing from the API server: {silent}")
    return WATCHES.running()


_kopf_follows: list[bool] = []


def follow_through_kopf() -> None:
    """Register the Leases', pods' and children's handlers with Kopf, once per process (tests start twice)."""
    if not _kopf_follows:
        kopf.on.event(*LEASES, labels=MANAGED)(lease_event)
        kopf.on.event("", "v1", "pods", labels=MANAGED)(pod_event)
        kopf.on.event("apps", "v1", "deployments", labels=MANAGED)(deployment_event)
        for resource in CHILD_KINDS:
            kopf.on.event(*resource, labels=MANAGED)(child_event)
        _kopf_follows.append(True)


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    """Close the API client."""
    tasks = memo.get("follower_tasks") or []
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    client = memo.get("follower_client")
    if isinstance(client, KubeClient):
        await client.close()
    found = memo.get("controller")
    if isinstance(found, GroupController):
        await found.client.close()


@kopf.on.resume(*LEADERGROUPS)
@kopf.on.create(*LEADERGROUPS)
@kopf.on.update(*LEADERGROUPS)
async def reconcile_group(*, body: kopf.Body, reason: str, memo: kopf.Memo, **_: Any) -> None:
    """Create or fix the group's children and publish its status."""
    try:
        stall = await controller(memo).reconcile(body, fresh=is_new_group(reason, body))
    except TransientError as error:
        raise kopf.TemporaryError(str(error), delay=2) from error
    if stall is not None and stall.reason in RETRIED_STALLS:
        # Kopf's own retry, not a timer: @kopf.timer would put a finalizer on every stalled group (and
        # block its deletion while the operator is down); retries also pause with Kopf peering.
        raise kopf.TemporaryError(f"Stalled: {stall.message}", delay=STALLED_RETRY_INTERVAL)


def is_new_group(reason: str, body: kopf.Body) -> bool:
    """Whether the group has never been reconciled, so its children can be created without a read first.

    Kopf calls every group it has no memory of a creation, after a restart too (bookkeeping.py); a group
    reconciled before has a status.
    """
    return reason == kopf.Reason.CREATE and not body.get("status", {}).get("observedGeneration")


@kopf.on.event(*LEADERGROUPS)
async def group_event(*, type: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Forget a deleted group; follow a group changed while this replica was paused (Kopf peering)."""
    if type == "DELETED":
        diffbase = memo.get("diffbase")
        if isinstance(diffbase, RememberedDiffBase):
            diffbase.forget(str(body.metadata.uid))
    await controller(memo).observe_group(type, body)


async def lease_event(
    *,
    type: str,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Follow the holder of a group's Lease into the group's status (when Kopf watches the Leases)."""
    await with_retries(lambda: controller(memo).observe_lease(type, body), logger)


async def deployment_event(
    *,
    type: str,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Report readiness and restore a Deployment edited or deleted by hand (when Kopf watches them)."""
    await with_retries(lambda: controller(memo).observe_deployment(type, body), logger)


async def child_event(
    *,
    type: str,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Restore a child edited or deleted by hand (when Kopf watches them)."""
    await with_retries(lambda: controller(memo).observe_child(type, body), logger)


async def pod_event(
    *,
    type: str,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Label the group's pods leader/follower; release the Lease when the holder's pod is deleted.

    Only when Kopf watches the pods (:func:`follow_through_kopf`).
    """
    await with_retries(lambda: controller(memo).observe_pod(type, body), logger)
