"""Background garbage collection through ownerReferences, and namespace finalization.

Like kube's garbage collector, a dependent is deleted once none of its owners (matched by uid) exists;
an ownerReference whose uid matches no live object counts as gone. Propagation is always background:
``Foreground`` deletes the owner first too, and ``Orphan`` is handled at delete time by removing the
ownerReferences. A terminating namespace disappears once it holds no objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from leadergroup.sim.registry import NAMESPACE_KEY, Registry

logger = logging.getLogger(__name__)


class GarbageCollector:
    """Sweeps shortly after any change that can leave dependents without owners."""

    def __init__(
        self, registry: Registry, delay: float = 0.05, on_error: Callable[[str], None] = lambda _: None
    ) -> None:
        self.registry = registry
        self.delay = delay
        self.on_error = on_error
        self._scheduled: asyncio.TimerHandle | None = None

    def poke(self) -> None:
        """Schedule a sweep (coalesced: at most one pending). Must run on the event loop thread."""
        if self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_later(self.delay, self._run)

    def _run(self) -> None:
        self._scheduled = None
        try:
            self.sweep()
        except Exception as error:  # a bug here must not kill the loop; the next change retries
            logger.exception("Garbage collection sweep failed")
            self.on_error(f"garbage collection: {error!r}")

    def sweep(self) -> int:
        """Delete dependents whose owners are all gone and finalize empty namespaces; returns the count."""
        store, catalog = self.registry.store, self.registry.catalog
        live_uids = {obj["metadata"]["uid"] for _, obj in store.all_objects()}
        deleted = 0
        occupied_namespaces: set[str] = set()
        for storage_key, obj in store.all_objects():
            metadata = obj["metadata"]
            if metadata.get("namespace"):
                occupied_namespaces.add(metadata["namespace"])
            references = metadata.get("ownerReferences") or []
            if not references or metadata.get("deletionTimestamp"):
                continue
            if any(reference.get("uid") in live_uids for reference in references):
                continue
            rtype = catalog.preferred(*storage_key)
            if (
                rtype is None
                or store.get(storage_key, metadata.get("namespace") or "", metadata["name"]) is None
            ):
                continue
            self.registry.delete(rtype, metadata.get("namespace") or "", metadata["name"])
            deleted += 1
        namespaces = catalog.preferred(*NAMESPACE_KEY)
        assert namespaces is not None
        for namespace in store.objects(NAMESPACE_KEY):
            metadata = namespace["metadata"]
            if (
                metadata.get("deletionTimestamp")
                and not metadata.get("finalizers")
                and metadata["name"] not in occupied_namespaces
            ):
                self.registry.remove(namespaces, namespace)
                deleted += 1
        return deleted
