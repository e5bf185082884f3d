"""Server-side rendering for ``kubectl get``: ``Table`` and ``PartialObjectMetadata`` responses."""

from __future__ import annotations

import json
from typing import Any

from leadergroup.sim.objects import get_path, human_age
from leadergroup.sim.printers import EVENT_COLUMNS, PRINTERS, Printer, event_cells
from leadergroup.sim.resources import ResourceType

JsonDict = dict[str, Any]
META_V1 = "meta.k8s.io/v1"


def wants_table(accept: str) -> bool:
    """Whether the client asked for ``as=Table`` (kubectl get does)."""
    return "as=Table" in accept


def wants_partial_metadata(accept: str) -> bool:
    """Whether the client asked for ``as=PartialObjectMetadata`` or its list."""
    return "as=PartialObjectMetadata" in accept


def _cell(column_type: str, value: Any) -> Any:
    if value is None:
        return None
    if column_type == "date" and isinstance(value, str):
        # The server renders dates as ages, as kube's CRD table convertor does.
        return human_age(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if column_type == "string":
        return str(value)
    return value


def _partial(obj: JsonDict) -> JsonDict:
    return {"kind": "PartialObjectMetadata", "apiVersion": META_V1, "metadata": obj["metadata"]}


def _printer(rtype: ResourceType) -> Printer | None:
    """The kube printer of a built-in kind; None for kinds printed by their printer columns."""
    if rtype.custom:
        return None
    if rtype.plural == "events" and rtype.group in ("", "events.k8s.io"):
        events_api = bool(rtype.group)
        return list(EVENT_COLUMNS), lambda obj: event_cells(obj, events_api=events_api)
    return PRINTERS.get(rtype.storage_key)


def table(
    rtype: ResourceType, objects: list[JsonDict], resource_version: str, include_object: str
) -> JsonDict:
    """A ``meta.k8s.io/v1`` Table: kube's printer of a built-in kind, else Name plus the printer columns."""
    columns = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "priority": 0,
            "description": "Name must be unique within a namespace.",
        }
    ]
    columns += [
        {
            "name": column.name,
            "type": "string" if column.type == "date" else column.type,
            "format": column.format,
            "priority": column.priority,
            "description": column.description,
        }
        for column in rtype.printer_columns
    ]
    printer = _printer(rtype)
    if printer is not None:
        columns = printer[0]
    rows = []
    for obj in objects:
        if printer is not None:
            cells = printer[1](obj)
        else:
            cells = [obj["metadata"]["name"]]
            cells += [_cell(column.type, get_path(obj, column.json_path)) for column in rtype.printer_columns]
        row: JsonDict = {"cells": cells}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": META_V1,
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    }


def partial_object(obj: JsonDict) -> JsonDict:
    """``PartialObjectMetadata`` of one object."""
    return _partial(obj)


def partial_list(objects: list[JsonDict], resource_version: str) -> JsonDict:
    """``PartialObjectMetadataList`` of objects."""
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": META_V1,
        "metadata": {"resourceVersion": resource_version},
        "items": [_partial(obj) for obj in objects],
    }
