"""What the emulator knows about a resource: API coordinates, scope, subresources, printer columns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class PrinterColumn:
    """One table column, as a CRD's ``additionalPrinterColumns`` entry declares it."""

    name: str
    type: str
    json_path: str
    description: str = ""
    format: str = ""
    priority: int = 0


@dataclass(frozen=True)
class ScaleSpec:
    """Where a ``/scale`` subresource reads and writes replicas (dotted paths like ``.spec.replicas``)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None


@dataclass(frozen=True)
class ResourceType:
    """One served (group, version, plural).

    Objects live per ``storage_key`` (group, plural), so every served version of a CRD sees the same
    objects with only ``apiVersion`` changed (the CRD ``conversion: None`` strategy).
    """

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status_subresource: bool = False
    scale: ScaleSpec | None = None
    # metadata.generation is maintained (bumped on spec changes) for this type.
    generation: bool = False
    printer_columns: tuple[PrinterColumn, ...] = ()
    # Field selectors this type supports beyond metadata.name / metadata.namespace (dotted paths).
    selectable_fields: tuple[str, ...] = ()
    custom: bool = False
    # A PUT without metadata.resourceVersion overwrites whatever is stored (the strategy's
    # AllowUnconditionalUpdate). Leases, PodDisruptionBudgets, CRDs and custom resources refuse it: 422.
    unconditional_update: bool = True
    # openAPIV3Schema of this version (custom resources only).
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    # Not stored: create returns a computed answer (selfsubjectaccessreviews).
    virtual: bool = False

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Key of the object collection shared by all versions of this resource."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        """Kind of the list responses."""
        return f"{self.kind}List"


_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key implementing kube's version priority (v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > other).

    Lower keys sort first, so ``sorted(versions, key=version_priority)[0]`` is the preferred version.
    """
    match = _VERSION_RE.match(version)
    if not match:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    stage_rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (stage_rank, -int(major), -int(minor or 0), "")
