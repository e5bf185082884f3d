"""Objects, the global resourceVersion counter, the bounded event history and live watchers.

All methods run on the emulator's event loop thread, and none awaits: every request's read-check-write
is therefore atomic, which is what makes optimistic concurrency (exactly one conditional PUT wins) hold.
Stored objects are treated as immutable values: a write stores a new dict, so readers and watch events
can share them without copying.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]
StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace or "", name)


@dataclass(frozen=True)
class StoredEvent:
    """One change, as kept in the history and pushed to watchers."""

    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    storage_key: StorageKey
    namespace: str
    obj: JsonDict
    # The previous state (MODIFIED, DELETED): watchers with selectors need it for ADDED/DELETED transitions.
    old: JsonDict | None


@dataclass(eq=False)
class Subscription:
    """A live watcher's queue of events for one resource (optionally one namespace)."""

    storage_key: StorageKey
    namespace: str | None
    queue: asyncio.Queue[StoredEvent | None] = field(default_factory=asyncio.Queue)

    def wants(self, event: StoredEvent) -> bool:
        """Whether this event concerns the watched resource and namespace."""
        return event.storage_key == self.storage_key and self.namespace in (None, event.namespace)


def object_key(obj: JsonDict) -> ObjectKey:
    """(namespace, name) of an object."""
    metadata = obj["metadata"]
    return (metadata.get("namespace") or "", metadata["name"])


class Store:
    """The emulator's etcd: objects by resource, a resourceVersion counter and a bounded history."""

    def __init__(self, history_limit: int = 10_000) -> None:
        self._objects: dict[StorageKey, dict[ObjectKey, JsonDict]] = {}
        self._history: deque[StoredEvent] = deque(maxlen=history_limit)
        self._subscriptions: set[Subscription] = set()
        self.resource_version = 0
        # Watches may resume from any resourceVersion >= this; older ones get 410 Gone.
        self.earliest_resumable = 0

    def next_resource_version(self) -> int:
        """Allocate the next resourceVersion (one per real change)."""
        self.resource_version += 1
        return self.resource_version

    def get(self, storage_key: StorageKey, namespace: str, name: str) -> JsonDict | None:
        """The stored object or None."""
        return self._objects.get(storage_key, {}).get((namespace, name))

    def objects(self, storage_key: StorageKey, namespace: str | None = None) -> list[JsonDict]:
        """Objects of a resource, in one namespace or all, in creation order."""
        objects = self._objects.get(storage_key, {})
        if namespace is None:
            return list(objects.values())
        return [obj for (obj_namespace, _), obj in objects.items() if obj_namespace == namespace]

    def storage_keys(self) -> list[StorageKey]:
        """Every resource that has (or had) objects."""
        return list(self._objects)

    def all_objects(self) -> Iterator[tuple[StorageKey, JsonDict]]:
        """Every stored object with its resource (a snapshot, safe to mutate the store while iterating)."""
        for storage_key, objects in list(self._objects.items()):
            for obj in list(objects.values()):
                yield storage_key, obj

    def commit(self, storage_key: StorageKey, event_type: str, obj: JsonDict, old: JsonDict | None) -> None:
        """Store (or remove, for DELETED) an object whose resourceVersion is already set; notify watchers."""
        key = object_key(obj)
        if event_type == "DELETED":
            self._objects.get(storage_key, {}).pop(key, None)
        else:
            self._objects.setdefault(storage_key, {})[key] = obj
        event = StoredEvent(
            int(obj["metadata"]["resourceVersion"]), event_type, storage_key, key[0], obj, old
        )
        if len(self._history) == self._history.maxlen:
            self.earliest_resumable = max(self.earliest_resumable, self._history[0].resource_version)
        self._history.append(event)
        for subscription in self._subscriptions:
            if subscription.wants(event):
                subscription.queue.put_nowait(event)

    def drop_resource(self, storage_key: StorageKey) -> list[JsonDict]:
        """Forget every object of a resource (its CRD was deleted); returns them."""
        return list(self._objects.pop(storage_key, {}).values())

    def history_since(self, resource_version: int, subscription: Subscription) -> list[StoredEvent]:
        """Events after ``resource_version`` that the subscription wants, oldest first."""
        return [
            event
            for event in self._history
            if event.resource_version > resource_version and subscription.wants(event)
        ]

    def subscribe(self, storage_key: StorageKey, namespace: str | None) -> Subscription:
        """Start receiving events; pair with ``unsubscribe``."""
        subscription = Subscription(storage_key, namespace)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop receiving events."""
        self._subscriptions.discard(subscription)

    def close_subscriptions(self) -> None:
        """End every watch (server shutdown)."""
        for subscription in self._subscriptions:
            subscription.queue.put_nowait(None)
        self._subscriptions.clear()

    def compact(self) -> None:
        """Forget the history: watches resuming from before now get 410 Gone."""
        self._history.clear()
        self.earliest_resumable = self.resource_version
