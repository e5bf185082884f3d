"""Kopf's bookkeeping kept off the user's LeaderGroups: a group handled at the first attempt is not written.

Kopf decides whether a LeaderGroup event is a creation, a change or nothing new by comparing the
object's essence (spec, labels, annotations) with the essence it last handled, which it stores by default
in an annotation on the object; and its progress storage, even for a handler that succeeded at once,
brands the object with a marker annotation. That is one more write per new group, and annotations on an
object users keep in Git. The reconcile is level-triggered and idempotent, so losing the last handled
essence is harmless: after a restart (or on a replica taking over from another) every group is simply
reconciled once, as it was on resume, with nothing written where nothing differs. So the essence is kept
in memory, and the marker only goes out with a retry's progress, which Kopf keeps in annotations still.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from leadergroup import constants

RECENTLY_GONE = 1024


def essence_source(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a body Kopf's essence is made of.

    All but ``status``, and of ``metadata`` only the labels and annotations; shared, not copied: Kopf
    copies what it keeps.
    """
    metadata = body.get("metadata") or {}
    kept = {key: value for key, value in body.items() if key not in ("metadata", "status")}
    kept["metadata"] = {key: metadata[key] for key in ("labels", "annotations") if key in metadata}
    return kept


class RememberedDiffBase(kopf.DiffBaseStorage):
    """The essence Kopf last handled per LeaderGroup, kept in memory by uid; nothing for other kinds.

    Kopf builds the essence of every event's object (a deep copy of the whole body) for every watched
    resource, but reads it only for change handlers, and only LeaderGroups have those. For pods and
    Deployments, large objects with many events each, that copy was a quarter of the operator's CPU during
    bring-up at 1,000 groups (py-spy, docs/benchmarks.md). Kopf names the kind of listed items too.
    """

    def __init__(self, ignored_fields: Iterable[kopf.FieldSpec] | None = None) -> None:
        super().__init__(ignored_fields=ignored_fields)
        # Compact JSON, not the dicts: a few hundred bytes per group, read back once per group event.
        self._handled: dict[str, str] = {}
        # Kopf reads the diff-base before the event handlers run and may store it after them, in the same
        # cycle as a deletion: the uids of the last deleted groups keep a late store from reviving them.
        self._gone: deque[str] = deque(maxlen=RECENTLY_GONE)

    def __len__(self) -> int:
        """How many groups have a handled essence remembered."""
        return len(self._handled)

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        """The LeaderGroup's essence; an empty one for any other kind (nothing compares it)."""
        if body.get("kind") != constants.KIND:
            return kopf.BodyEssence()
        fields = list(extra_fields or [])
        # Kopf deep-copies the whole body before dropping the system stanzas: a group's status and
        # managedFields made that copy 6 s of the operator's CPU at 1,000 groups (pyinstrument). Extra
        # fields (field handlers; none today) may name any part, so then the body goes whole.
        source = body if fields else cast(kopf.Body, essence_source(body))
        essence = super().build(body=source, extra_fields=fields)
        # Groups handled by an operator that kept the diff-base in an annotation still carry it; it is not
        # part of what the user asked for.
        annotations = essence.get("metadata", {}).get("annotations", {})
        annotations.pop(f"{constants.GROUP}/last-handled-configuration", None)
        self.remove_empty_stanzas(essence)
        return essence

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """The essence last handled for this group; none when this process has not handled it yet."""
        if body.get("kind") != constants.KIND:
            return None
        encoded = self._handled.get(str(body.metadata.uid))
        return None if encoded is None else cast(kopf.BodyEssence, json.loads(encoded))

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Remember the handled essence; the patch is left alone, so the API server sees no write."""
        uid = str(body.metadata.uid)
        if body.get("kind") == constants.KIND and uid not in self._gone:
            self._handled[uid] = json.dumps(essence, separators=(",", ":"))

    def forget(self, uid: str) -> None:
        """Drop a deleted group's essence."""
        self._handled.pop(uid, None)
        self._gone.append(uid)


class RetriesOnlyProgress(kopf.AnnotationsProgressStorage):
    """Kopf's progress in annotations, as usual, without branding a group whose handler succeeded at once.

    Kopf stores a handler's progress and purges it again in the same cycle when the handler succeeds; the
    progress annotation cancels out of the patch, but Kopf's "kopf-managed" marker stayed, costing a write.
    The marker only lets other Kopf operators skip our annotations, and LeaderGroups are only ours.
    """

    def purge(self, *, key: kopf.HandlerId, body: kopf.Body, patch: kopf.Patch) -> None:
        """Purge the handler's progress; drop the marker when it would be the only thing written."""
        super().purge(key=key, body=body, patch=patch)
        metadata = patch.get("metadata")
        if not isinstance(metadata, dict):
            return
        annotations = metadata.get("annotations")
        marker = f"{self.prefix}/kopf-managed"
        if not isinstance(annotations, dict) or set(annotations) != {marker}:
            return
        if marker in body.metadata.annotations:
            return
        del annotations[marker]
        del metadata["annotations"]  # the emptied stanzas too: Kopf sends any non-empty patch
        if not metadata:
            del patch["metadata"]
