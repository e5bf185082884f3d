"""The one place that writes children: create, or read-compare-patch, never touching what is not ours.

Drift is judged on the fields we set only (``desired`` must be a subset of ``live``), so fields the API
server defaults or other controllers add are never fought over, and a converged child costs no write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from leadergroup.kube import ApiError, KubeClient
from leadergroup.kube.resources import resource_for

Action = Literal["created", "patched", "unchanged"]

# Children whose spec belongs to someone else once created: the electors own the Lease's spec.
_CREATE_ONLY_FIELDS: dict[str, tuple[str, ...]] = {"Lease": ("spec",)}


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


def drift_patch(desired: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch that brings ``live`` back to ``desired`` on the fields we manage (empty: no drift).

    Top-level sections are compared separately so that, e.g., a hand-edited label does not cause the
    whole spec to be sent again; within a section the desired value is sent whole (lists cannot be
    merge-patched item by item).
    """
    patch: dict[str, Any] = {}
    kind = str(desired.get("kind", ""))
    skipped = _CREATE_ONLY_FIELDS.get(kind, ())
    for section, value in desired.items():
        if section in ("apiVersion", "kind", "status") or section in skipped:
            continue
        if section == "metadata":
            metadata = {
                key: value[key]
                for key in ("labels", "annotations")
                if key in value and not is_subset(value[key], live.get("metadata", {}).get(key) or {})
            }
            if metadata:
                patch["metadata"] = metadata
        elif not is_subset(value, live.get(section)):
            patch[section] = value
    return patch


async def ensure(
    client: KubeClient,
    desired: Mapping[str, Any],
    *,
    owner_uid: str,
    live: Mapping[str, Any] | None = None,
) -> Applied:
    """Make the server's copy of ``desired`` match it on the fields we manage.

    Args:
        client: The API client.
        desired: A built child (with namespace, labels and ownerReferences).
        owner_uid: The uid of the LeaderGroup that must own the child.
        live: The child as last seen, if the caller has it (saves a read); ``None`` reads it.

    Raises:
        NotOwnedError: an object of that name exists but this group does not own it.
        ApiError: the server refused a write (422 for an invalid object, ...).
    """
    resource = resource_for(dict(desired))
    metadata = desired["metadata"]
    namespace, name = metadata.get("namespace"), metadata["name"]
    if live is None:
        live = await _read(client, desired)
    if live is None:
        try:
            return Applied("created", await client.create(resource, desired, namespace))
        except ApiError as error:
            if not error.already_exists:
                raise
            # Someone created it between our read and our create: judge that object instead.
            live = await client.get(resource, name, namespace)
    if not is_owned_by(live, owner_uid):
        raise NotOwnedError(str(desired["kind"]), str(namespace), name, _owner_names(live))
    patch = drift_patch(desired, live)
    if not patch:
        return Applied("unchanged", dict(live))
    # Carry the resourceVersion we judged: if the object changed meanwhile we get 409 and judge again.
    patch.setdefault("metadata", {})["resourceVersion"] = live["metadata"]["resourceVersion"]
    return Applied("patched", await client.patch(resource, name, patch, namespace))


async def _read(client: KubeClient, desired: Mapping[str, Any]) -> dict[str, Any] | None:
    metadata = desired["metadata"]
    try:
        return await client.get(resource_for(dict(desired)), metadata["name"], metadata.get("namespace"))
    except ApiError as error:
        if error.not_found:
            return None
        raise


def _owner_names(body: Mapping[str, Any]) -> list[str]:
    references = body.get("metadata", {}).get("ownerReferences") or []
    return [f"{ref.get('kind')} {ref.get('name')}" for ref in references]
