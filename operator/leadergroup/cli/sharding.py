"""Scale-out: each active replica serves one shard of the namespaces, filtered by the API server.

Kubernetes 1.36 added sharded list and watch (KEP-5866, feature gate ``ShardedListAndWatch``, alpha and
off by default): a list or watch with ``shardSelector=shardRange(object.metadata.namespace, START, END)``
returns only the objects whose namespace hashes (64-bit FNV-1a) into ``[START, END)``. Kopf 1.45 passes
``settings.watching.shard_selectors`` through to every list and watch. Hashing by *namespace* keeps a
group and all its children (same namespace) on the same replica.

An API server without the gate ignores the parameter and answers with every object, which would make two
shards reconcile the same groups. So a shard first asks for a one-item sharded list and starts only if
the answer carries ``metadata.shardInfo`` (the server's echo of the selector it applied). The list is of
Leases, a built-in type the operator may list anyway: in v1.37.2 a custom resource's list is filtered
just the same but carries no ``shardInfo`` (apimachinery's UnstructuredList has no field for it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from leadergroup.kube import ApiError, KubeClient, Resource

FEATURE_GATE = "ShardedListAndWatch"
# The field the shards are hashed on: a LeaderGroup's children live in its namespace.
SHARD_KEY = "object.metadata.namespace"
HASH_SPACE = 1 << 64
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_SHARD_PATTERN = re.compile(r"^(\d+)/(\d+)$")


class ShardingUnsupported(Exception):
    """The API server does not filter by shard: running sharded would double the work on every group."""


def fnv1a64(value: str) -> int:
    """The API server's shard hash of a field value (Go's ``hash/fnv`` New64a over its UTF-8 bytes)."""
    digest = _FNV_OFFSET
    for byte in value.encode():
        digest = ((digest ^ byte) * _FNV_PRIME) % HASH_SPACE
    return digest


def _hex(bound: int) -> str:
    # The server compares bounds as normalised strings: 16 hex digits, or 2^64 itself (17).
    return f"0x{bound:016x}"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` equal ranges of the hash space."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= INDEX < COUNT")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``INDEX/COUNT``, e.g. ``0/2``."""
        found = _SHARD_PATTERN.match(text.strip())
        if found is None:
            raise ValueError(f"{text!r}: expected INDEX/COUNT, e.g. 0/2")
        return cls(int(found.group(1)), int(found.group(2)))

    @property
    def start(self) -> int:
        """The first hash of the range."""
        return self.index * HASH_SPACE // self.count

    @property
    def end(self) -> int:
        """The first hash past the range (2^64 for the last shard)."""
        return (self.index + 1) * HASH_SPACE // self.count

    def selector(self) -> str:
        """The ``shardSelector`` value for this shard."""
        return f"shardRange({SHARD_KEY}, '{_hex(self.start)}', '{_hex(self.end)}')"

    def owns(self, namespace: str) -> bool:
        """Whether groups in ``namespace`` belong to this shard."""
        return self.start <= fnv1a64(namespace) < self.end

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(namespace: str, count: int) -> int:
    """Which of ``count`` shards serves ``namespace``."""
    return next(index for index in range(count) if Shard(index, count).owns(namespace))


def apply_to(settings: Any, shard: Shard, resources: Iterable[tuple[str, str, str]]) -> None:
    """Set the shard's selector on Kopf's watches of ``resources`` (group, version, plural).

    Only our own resources: Kopf's CRD, namespace and peering watches stay whole.
    """
    for resource in resources:
        settings.watching.shard_selectors[resource] = shard.selector()


async def verify_server_filters(
    client: KubeClient, shard: Shard, resource: Resource, namespace: str | None
) -> None:
    """Check that the API server applies shard selectors (a sharded one-item list echoes ``shardInfo``).

    ``resource`` must be a built-in type (see the module's docstring); the operator uses Leases.

    Raises:
        ShardingUnsupported: the server ignored the selector (feature gate off, or a release before 1.36).
        ApiError: the server refused the list (e.g. RBAC, or it rejected the selector).
    """
    params = {"limit": "1", "shardSelector": shard.selector()}
    try:
        answer = await client.request("GET", resource.path(namespace), params=params)
    except ApiError as error:
        if error.status == 400:  # a server that knows the parameter but refused this selector
            raise ShardingUnsupported(f"the API server refused shardSelector: {error.message}") from error
        raise
    if not (answer.get("metadata") or {}).get("shardInfo"):
        raise ShardingUnsupported(
            "the API server ignored shardSelector (its list answer has no metadata.shardInfo): sharding "
            f"needs Kubernetes >= 1.36 with --feature-gates={FEATURE_GATE}=true on every kube-apiserver; "
            "without it, partition by namespace instead (docs/operations.md)"
        )
