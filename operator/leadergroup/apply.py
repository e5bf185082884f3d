"""The one place that writes children: create, or read-compare-patch, never touching what is not ours.

Drift is judged on the fields we set only (``desired`` must be a subset of ``live``), so fields the API
server defaults or other controllers add are never fought over, and a converged child costs no write.
What we set last time is kept in an annotation (as ``kubectl apply`` does), so a field we stop wanting
(a spread constraint turned off, a template field the user removed) is removed, not left behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from leadergroup import constants
from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import resource_for

Action = Literal["created", "patched", "unchanged"]

# Children whose spec belongs to someone else once created: the electors own the Lease's spec.
_CREATE_ONLY_FIELDS: dict[str, tuple[str, ...]] = {"Lease": ("spec",)}
LAST_APPLIED_ANNOTATION = f"{constants.GROUP}/last-applied"
# Patches tried against a child that keeps changing under us before the group's reconcile gives up (and
# Kopf retries it): client-go's retry.DefaultRetry makes five; a conflict here is one other writer.
CONFLICT_ATTEMPTS = 3
# Sections compared and patched; metadata is handled key by key.
_IGNORED_SECTIONS = ("apiVersion", "kind", "status", "metadata")
# Fields whose absence alone never makes a child drift (another value does); they are sent whenever their
# section is patched anyway. The template's role label only spares the followers' label writes (a pod
# without it is labelled by patch), so a Deployment made before the label was added is not rolled out, its
# leader failing over, to add it.
_UNENFORCED_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Deployment": (("spec", "template", "metadata", "labels", constants.LABEL_ROLE),),
}


class NotOwnedError(Exception):
    """A child's name is taken by an object that this LeaderGroup does not own."""

    def __init__(self, kind: str, namespace: str, name: str, owners: list[str]) -> None:
        held_by = f"owned by {', '.join(owners)}" if owners else "not owned by any LeaderGroup"
        super().__init__(
            f"{kind} {namespace}/{name} already exists and is {held_by}; the operator will not overwrite it. "
            f"Delete or rename that {kind}, or give this LeaderGroup another name"
            + (" or lockName" if kind == "Lease" else "")
        )
        self.kind = kind
        self.namespace = namespace
        self.name = name


@dataclass(frozen=True)
class Applied:
    """What :func:`ensure` did to one child, and the child as the server now has it."""

    action: Action
    object: dict[str, Any]

    @property
    def kind(self) -> str:
        """The child's kind."""
        return str(self.object.get("kind", ""))

    @property
    def name(self) -> str:
        """The child's name."""
        return str(self.object.get("metadata", {}).get("name", ""))


def is_subset(desired: Any, live: Any) -> bool:
    """Whether every field of ``desired`` has the same value in ``live`` (lists compared item by item)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            key in live and is_subset(value, live[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_subset(d, item) for d, item in zip(desired, live, strict=True))
        )
    return bool(desired == live)


def owner_uids(body: Mapping[str, Any]) -> set[str]:
    """The uids of an object's owners."""
    return {str(ref.get("uid")) for ref in body.get("metadata", {}).get("ownerReferences") or []}


def is_owned_by(body: Mapping[str, Any], owner_uid: str) -> bool:
    """Whether ``owner_uid`` is among the object's ownerReferences."""
    return owner_uid in owner_uids(body)


def _managed_sections(desired: Mapping[str, Any]) -> dict[str, Any]:
    skipped = _CREATE_ONLY_FIELDS.get(str(desired.get("kind", "")), ())
    return {
        key: value for key, value in desired.items() if key not in _IGNORED_SECTIONS and key not in skipped
    }


def with_last_applied(desired: Mapping[str, Any]) -> dict[str, Any]:
    """``desired`` with the annotation that records what we set (compact, key-sorted JSON)."""
    metadata = dict(desired["metadata"])
    record = {"metadata": {k: metadata[k] for k in ("labels", "annotations") if k in metadata}}
    record.update(_managed_sections(desired))
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        LAST_APPLIED_ANNOTATION: json.dumps(record, sort_keys=True, separators=(",", ":")),
    }
    return {**desired, "metadata": metadata}


def _removals(previous: Any, desired: Any) -> Any:
    """Merge-patch nulls for the keys ``previous`` had and ``desired`` no longer has (recursively)."""
    if not isinstance(previous, Mapping) or not isinstance(desired, Mapping):
        return None
    removals: dict[str, Any] = {}
    for key, value in previous.items():
        if key not in desired:
            removals[key] = None
        else:
            nested = _removals(value, desired[key])
            if nested:
                removals[key] = nested
    return removals


def _merge(value: Any, removals: Any) -> Any:
    if not isinstance(removals, Mapping):
        return value
    merged = dict(value) if isinstance(value, Mapping) else {}
    for key, removal in removals.items():
        merged[key] = None if removal is None else _merge(merged.get(key), removal)
    return merged


def _last_applied(live: Mapping[str, Any]) -> dict[str, Any]:
    text = (live.get("metadata", {}).get("annotations") or {}).get(LAST_APPLIED_ANNOTATION)
    try:
        record = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def drift_patch(desired: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch that brings ``live`` back to ``desired`` on the fields we manage (empty: no drift).

    Top-level sections are compared separately so that, e.g., a hand-edited label does not cause the
    whole spec to be sent again; within a section the desired value is sent whole (lists cannot be
    merge-patched item by item), with nulls for the fields we set last time and want no more.
    """
    patch: dict[str, Any] = {}
    previous = _last_applied(live)
    live_metadata = live.get("metadata", {})
    metadata = {
        key: desired["metadata"][key]
        for key in ("labels", "annotations")
        if key in desired["metadata"]
        and not is_subset(desired["metadata"][key], live_metadata.get(key) or {})
    }
    if metadata:
        patch["metadata"] = metadata
    unenforced = _UNENFORCED_FIELDS.get(str(desired.get("kind", "")), ())
    for section, value in _managed_sections(desired).items():
        removals = _removals(previous.get(section), value)
        judged = value
        for path in unenforced:
            if path[0] == section and not _has(live.get(section), path[1:]):
                judged = _without(judged, path[1:])
        if removals or not is_subset(judged, live.get(section)):
            patch[section] = _merge(value, removals)
    return patch


def _has(value: Any, path: tuple[str, ...]) -> bool:
    """Whether ``value`` has a field at ``path``."""
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return False
        value = value[key]
    return True


def _without(value: Any, path: tuple[str, ...]) -> Any:
    """``value`` without the field at ``path`` (a copy of the mappings on the way; the rest shared)."""
    if not path or not isinstance(value, Mapping) or path[0] not in value:
        return value
    head, rest = path[0], path[1:]
    if not rest:
        return {key: item for key, item in value.items() if key != head}
    return {**value, head: _without(value[head], rest)}


async def ensure(
    client: KubeClient,
    desired: Mapping[str, Any],
    *,
    owner_uid: str,
    live: Mapping[str, Any] | None = None,
    assume_absent: bool = False,
) -> Applied:
    """Make the server's copy of ``desired`` match it on the fields we manage.

    Args:
        client: The API client.
        desired: A built child (with namespace, labels and ownerReferences).
        owner_uid: The uid of the LeaderGroup that must own the child.
        live: The child as last seen, if the caller has it (saves a read); ``None`` reads it.
        assume_absent: Try to create without reading first (a new group); a clash is judged as usual.

    Raises:
        NotOwnedError: an object of that name exists but this group does not own it.
        ApiError: the server refused a write (422 for an invalid object, ...).
    """
    desired = with_last_applied(desired)
    resource = resource_for(dict(desired))
    metadata = desired["metadata"]
    namespace, name = metadata.get("namespace"), metadata["name"]
    if live is None and not assume_absent:
        live = await client.get_or_none(resource, name, namespace)
    if live is None:
        try:
            return Applied("created", await client.create(resource, desired, namespace))
        except ApiError as error:
            if not error.already_exists:
                raise
            # Someone created it between our read and our create: judge that object instead.
            live = await client.get(resource, name, namespace)
    attempts = 1
    while True:
        if not is_owned_by(live, owner_uid):
            raise NotOwnedError(str(desired["kind"]), str(namespace), name, _owner_names(live))
        patch = drift_patch(desired, live)
        if not patch:
            return Applied("unchanged", dict(live))
        # Carry the resourceVersion we judged: if the object changed meanwhile we get 409 and judge again.
        patch.setdefault("metadata", {})["resourceVersion"] = live["metadata"]["resourceVersion"]
        try:
            return Applied("patched", await client.patch(resource, name, patch, namespace))
        except ApiError as error:
            if not error.conflict or attempts == CONFLICT_ATTEMPTS:
                raise
        attempts += 1
        # Most often a controller's own write (a new Deployment's revision, its status) since the watch
        # event we judged: read it and judge again now rather than retry the whole group seconds later.
        live = await client.get(resource, name, namespace)


def _owner_names(body: Mapping[str, Any]) -> list[str]:
    references = body.get("metadata", {}).get("ownerReferences") or []
    return [f"{ref.get('kind')} {ref.get('name')}" for ref in references]
