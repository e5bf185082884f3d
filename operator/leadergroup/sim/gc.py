"""Background garbage collection through ownerReferences, and namespace finalization.

Like kube's garbage collector, each ownerReference is resolved by its apiVersion's group, its kind and
its name: in the dependent's namespace for a namespaced owner kind, cluster-wide for a cluster-scoped
one. A reference is dangling when nothing by that name exists there or the object found has another uid
(so an owner in another namespace, or one recreated under the same name, does not keep a dependent);
a dependent whose references all dangle is deleted. References kube cannot resolve are left alone, as
kube does: an apiVersion/kind that is not served, and a namespaced owner kind named by a cluster-scoped
dependent (kube only reports an ``OwnerRefInvalidNamespace`` event for those; the emulator reports
nothing). Propagation is always background: ``Foreground`` deletes the owner first too, and ``Orphan``
is handled at delete time by removing the ownerReferences. A terminating namespace disappears once it
holds no objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

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
        deleted = 0
        occupied_namespaces: set[str] = set()
        for storage_key, obj in store.all_objects():
            metadata = obj["metadata"]
            if metadata.get("namespace"):
                occupied_namespaces.add(metadata["namespace"])
            references = metadata.get("ownerReferences") or []
            if not references or metadata.get("deletionTimestamp"):
                continue
            rtype = catalog.preferred(*storage_key)
            if rtype is None or not all(
                self._dangling(reference, rtype.namespaced, metadata) for reference in references
            ):
                continue
            if store.get(storage_key, metadata.get("namespace") or "", metadata["name"]) is None:
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

    def _dangling(self, reference: Any, dependent_namespaced: bool, dependent: dict[str, Any]) -> bool:
        """Whether a reference points at nothing (kube's ``isDangling``); unresolvable is not dangling."""
        if not isinstance(reference, dict):
            return False
        api_version = str(reference.get("apiVersion") or "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        owner_type = self.registry.catalog.by_kind(group, str(reference.get("kind") or ""))
        if owner_type is None or owner_type.virtual:
            return False
        if owner_type.namespaced and not dependent_namespaced:
            return False
        namespace = dependent.get("namespace") or "" if owner_type.namespaced else ""
        owner = self.registry.store.get(owner_type.storage_key, namespace, str(reference.get("name") or ""))
        return owner is None or owner["metadata"].get("uid") != reference.get("uid")
