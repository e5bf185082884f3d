"""Kopf peering for replicas of the operator: one active replica, distinct priorities, fast takeover.

Kopf pauses every replica that sees a live peer with a higher priority, and *all* replicas that see a
live peer with the same priority. So each replica needs a priority no live peer has:

* With no live peer, a replica takes a priority derived from its identity (the pod name), so replicas of
  a fresh install that start together almost surely differ (1 in :data:`PRIORITY_SPAN` collide).
* With live peers, it takes one below all of them: a (re)started replica joins as a standby and never
  preempts the working one (a preemption would cost a pause, a re-list and a short double-active window).
* Two replicas can still tie when each reads the peering object before the other's first keep-alive is
  written (they start within about a second of each other) and their derived priorities collide, or both
  see the same lowest peer. :func:`resolve_ties` re-reads the peering object every ``lifetime`` seconds;
  of tied replicas the one whose identity sorts first keeps its priority, the others step below every
  live peer. Until then the tied replicas are all paused: at worst about one ``lifetime`` of no service.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import socket
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from leadergroup.kube import ApiError, KubeClient, Resource
from leadergroup.status import parse_time

logger = logging.getLogger(__name__)

CLUSTER_PEERINGS = Resource("kopf.dev", "v1", "clusterkopfpeerings", "ClusterKopfPeering", namespaced=False)
NAMESPACED_PEERINGS = Resource("kopf.dev", "v1", "kopfpeerings", "KopfPeering")

DEFAULT_PEERING_NAME = "leadergroup-operator"
PART_OF = "leadergroup-operator"
# On a fresh install the operator's pod may start before the API server serves the peering CRD applied in
# the same `kubectl apply`: wait this long for it before giving up (and letting the pod restart).
CRD_WAIT_SECONDS = 60.0
# Kopf's default lifetime is 60 s: a standby would wait up to a minute after the active replica crashed.
# With 10 s it takes over within ~10 s (plus a re-list), at the price of more keep-alives: Kopf renews
# every max(1, lifetime - randint(5, 10)) s, i.e. every 1-5 s (~22 PATCHes per minute per replica, on
# one small object) instead of every 50-55 s with the default. See docs/operations.md.
DEFAULT_LIFETIME = 10
# Priorities derived from identities fall in [PRIORITY_BASE, PRIORITY_BASE + PRIORITY_SPAN); well above
# Kopf's default 0, so a developer's `kopf run` (priority 0) on a workstation never preempts the cluster's
# replicas unless asked to with an explicit --priority.
PRIORITY_BASE = 1000
PRIORITY_SPAN = 1000
# Kopf assumes 60 s for a peer that does not publish its lifetime.
_KOPF_FALLBACK_LIFETIME = 60


class PeeringError(Exception):
    """The peering object cannot be used: reading or creating it is forbidden, or its CRD is missing."""


class PeeringCrdMissing(PeeringError):
    """The peering CRD is not served: not installed, or installed a moment ago and not established yet."""


@dataclass(frozen=True)
class Peer:
    """One operator's keep-alive record in a peering object's status."""

    identity: str
    priority: int
    lastseen: datetime | None
    lifetime: int

    def alive(self, now: datetime) -> bool:
        """Whether Kopf would still count this peer (its record has not expired)."""
        if self.lastseen is None:
            return True  # Kopf takes a record without lastseen as seen just now
        return self.lastseen + timedelta(seconds=self.lifetime) > now


def own_identity() -> str:
    """This process's peering identity: ``POD_ID`` in a cluster, else user@host/pid (as Kopf does)."""
    pod = os.environ.get("POD_ID")
    if pod:
        return pod
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a numeric UID without a passwd entry (containers)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}/{os.getpid()}"


def derived_priority(identity: str) -> int:
    """A stable priority for an identity, spread over a band so that replicas rarely collide."""
    return PRIORITY_BASE + zlib.crc32(identity.encode()) % PRIORITY_SPAN


def parse_peers(body: Mapping[str, Any]) -> list[Peer]:
    """The keep-alive records in a peering object (Kopf keeps them in ``status``, keyed by identity)."""
    peers = []
    for identity, record in (body.get("status") or {}).items():
        if not isinstance(record, Mapping):
            continue
        try:
            priority = int(record.get("priority", 0))
            lifetime = int(record.get("lifetime", _KOPF_FALLBACK_LIFETIME))
        except (TypeError, ValueError):
            continue
        peers.append(Peer(str(identity), priority, parse_time(record.get("lastseen")), lifetime))
    return peers


def live_others(identity: str, peers: Iterable[Peer], now: datetime) -> list[Peer]:
    """Peers Kopf would count, except our own record (left by this pod's previous container, maybe)."""
    return [peer for peer in peers if peer.identity != identity and peer.alive(now)]


def choose_priority(identity: str, peers: Iterable[Peer], now: datetime) -> int:
    """The priority for a starting replica: its derived one when alone, else below every live peer."""
    others = live_others(identity, peers, now)
    if not others:
        return derived_priority(identity)
    return min(peer.priority for peer in others) - 1


def resolve_tie(identity: str, priority: int, peers: Iterable[Peer], now: datetime) -> int | None:
    """A new priority if a live peer shares ours and wins the tie-break; None to keep ours."""
    others = live_others(identity, peers, now)
    tied = [peer.identity for peer in others if peer.priority == priority]
    if not tied or identity < min(tied):
        return None
    return min(peer.priority for peer in others) - 1


@dataclass(frozen=True)
class PeeringPlan:
    """Where this replica's peering records live and which priority it uses."""

    name: str
    namespaces: Sequence[str]  # empty: the cluster-wide ClusterKopfPeering
    identity: str
    lifetime: int = DEFAULT_LIFETIME

    @property
    def resource(self) -> Resource:
        """ClusterKopfPeering for a cluster-wide operator, KopfPeering for a namespaced one."""
        return NAMESPACED_PEERINGS if self.namespaces else CLUSTER_PEERINGS

    def describe(self) -> str:
        """The peering object(s) for messages."""
        where = ", ".join(f"{ns}/{self.name}" for ns in self.namespaces) if self.namespaces else self.name
        return f"{self.resource.kind} {where}"

    def body(self, namespace: str | None) -> dict[str, Any]:
        """An empty peering object: Kopf fills its status with the replicas' keep-alives."""
        metadata: dict[str, Any] = {"name": self.name, "labels": {"app.kubernetes.io/part-of": PART_OF}}
        if namespace:
            metadata["namespace"] = namespace
        return {"apiVersion": self.resource.api_version, "kind": self.resource.kind, "metadata": metadata}

    async def read_peers(self, client: KubeClient) -> list[Peer]:
        """Every record in our peering object(s), creating a missing object first.

        The operator creates its own peering object because ``kubectl apply`` cannot create a custom
        resource in the same run as its CRD ("no matches for kind"): shipping the object in manifests/
        would break the one-command install.

        Raises:
            PeeringCrdMissing: the peering CRD is not (yet) served.
            PeeringError: an object may not be read or created (a permanent misconfiguration).
            ApiError: the API server failed transiently.
        """
        peers: list[Peer] = []
        namespaces: Sequence[str | None] = self.namespaces or [None]
        for namespace in namespaces:
            peers.extend(parse_peers(await self._get_or_create(client, namespace)))
        return peers

    async def _get_or_create(self, client: KubeClient, namespace: str | None) -> dict[str, Any]:
        try:
            return await client.get(self.resource, self.name, namespace)
        except ApiError as error:
            if error.status == 403:
                raise PeeringError(self._forbidden(error, "read", namespace)) from error
            if not error.not_found:
                raise
        try:
            created = await client.create(self.resource, self.body(namespace), namespace)
        except ApiError as failure:
            if failure.already_exists:  # another replica was quicker
                return await client.get(self.resource, self.name, namespace)
            if failure.not_found:
                raise PeeringCrdMissing(
                    f"{self.resource} is not served ({failure.message}): install crds/kopf-peering.yaml "
                    "(kubectl apply -k manifests/), or run a single replica with --standalone"
                ) from failure
            if failure.status == 403:
                raise PeeringError(self._forbidden(failure, "create", namespace)) from failure
            raise
        logger.info("Created %s %s", self.resource.kind, self._where(namespace))
        return created

    def _where(self, namespace: str | None) -> str:
        return f"{namespace}/{self.name}" if namespace else self.name

    def _forbidden(self, error: ApiError, verb: str, namespace: str | None) -> str:
        return (
            f"Not allowed to {verb} {self.resource.kind} {self._where(namespace)} ({error.message}): "
            f"grant get/list/watch/patch/create on {self.resource} (see manifests/clusterrole.yaml)"
        )


def is_glob(namespace: str) -> bool:
    """Whether a --namespace value is a Kopf pattern rather than one namespace's name."""
    return any(char in namespace for char in "*?[]!,")


async def initial_priority(
    plan: PeeringPlan, client: KubeClient, *, crd_wait: float | None = None, poll: float = 1.0
) -> int:
    """Read (or create) the peering object(s) and choose a free priority.

    Raises:
        PeeringError: the peering object may not be used, or its CRD stayed missing for ``crd_wait`` s
            (default :data:`CRD_WAIT_SECONDS`).
    """
    deadline = asyncio.get_running_loop().time() + (CRD_WAIT_SECONDS if crd_wait is None else crd_wait)
    while True:
        try:
            peers = await plan.read_peers(client)
        except PeeringCrdMissing:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(poll)
            continue
        except PeeringError:
            raise
        except ApiError as error:
            # The API server will come back; start with the derived priority, resolve_ties fixes a tie.
            logger.warning("Cannot read %s yet (%s); using the derived priority", plan.describe(), error)
            return derived_priority(plan.identity)
        return choose_priority(plan.identity, peers, datetime.now(UTC))


async def resolve_ties(plan: PeeringPlan, client: KubeClient, settings: Any, *, interval: float) -> None:
    """Keep this replica's priority distinct from every live peer's, for as long as the operator runs.

    ``settings`` is Kopf's ``OperatorSettings``: Kopf reads ``settings.peering.priority`` at every
    keep-alive and every peering event, so changing it takes effect with the next keep-alive.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            peers = await plan.read_peers(client)
        except (ApiError, PeeringError) as error:
            logger.debug("Tie check skipped: %s", error)
            continue
        priority = int(settings.peering.priority)
        moved = resolve_tie(plan.identity, priority, peers, datetime.now(UTC))
        if moved is not None:
            logger.warning(
                "Peering priority %d of %s is shared with another live replica; switching to %d",
                priority,
                plan.identity,
                moved,
            )
            settings.peering.priority = moved
