"""Server-side rendering for ``kubectl get``: ``Table`` and ``PartialObjectMetadata`` responses."""

from __future__ import annotations

import json
from typing import Any

from leadergroup.sim.objects import get_path, human_age, parse_timestamp
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


def _column(name: str, description: str, *, priority: int = 0, format: str = "") -> JsonDict:
    return {
        "name": name,
        "type": "string",
        "format": format,
        "priority": priority,
        "description": description,
    }


# kube-apiserver's event printer (pkg/printers/internalversion): no leading Name column, ages as strings.
EVENT_COLUMNS = (
    _column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    _column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    _column(
        "Reason",
        "This should be a short, machine understandable string that gives the reason for the transition "
        "into the object's current status.",
    ),
    _column("Object", "The object that this event is about."),
    _column(
        "Subobject",
        "If referring to a piece of an object instead of an entire object, this string should contain a "
        "valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
        priority=1,
    ),
    _column(
        "Source",
        "The component reporting this event. Should be a short machine understandable string.",
        priority=1,
    ),
    _column("Message", "A human-readable description of the status of this operation."),
    _column(
        "First Seen",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        priority=1,
    ),
    _column("Count", "The number of times this event has occurred.", priority=1),
    _column("Name", "Name must be unique within a namespace.", priority=1, format="name"),
)


def _as_core_event(obj: JsonDict) -> JsonDict:
    """An events.k8s.io/v1 Event in core v1 field names (kube stores both as one internal type)."""
    source = obj.get("deprecatedSource") or {}
    return {
        **obj,
        "involvedObject": obj.get("regarding") or {},
        "message": obj.get("note", ""),
        "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
        "lastTimestamp": obj.get("deprecatedLastTimestamp"),
        "count": obj.get("deprecatedCount", 0),
        "source": source,
        "reportingComponent": obj.get("reportingController", ""),
    }


def _since(timestamp: Any) -> str:
    return human_age(timestamp) if isinstance(timestamp, str) and parse_timestamp(timestamp) else "<unknown>"


def event_cells(obj: JsonDict, *, events_api: bool = False) -> list[Any]:
    """One event's cells, as kube's ``printEvent`` with ``Wide`` (the server always sends every column).

    ``events_api``: ``obj`` is an events.k8s.io/v1 Event rather than a core v1 one.
    """
    event = _as_core_event(obj) if events_api else obj
    first = _since(event.get("firstTimestamp") or event.get("eventTime"))
    last = _since(event["lastTimestamp"]) if event.get("lastTimestamp") else first
    count = event.get("count") or 0
    series = event.get("series")
    if isinstance(series, dict):
        last, count = _since(series.get("lastObservedTime")), series.get("count") or 0
    elif not count:
        count = 1  # singleton events of the new API carry no count
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return [
        last,
        event.get("type", ""),
        event.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        str(event.get("message") or "").strip(),
        first,
        count,
        event["metadata"]["name"],
    ]


def _is_event(rtype: ResourceType) -> bool:
    return rtype.plural == "events" and rtype.group in ("", "events.k8s.io")


def table(
    rtype: ResourceType, objects: list[JsonDict], resource_version: str, include_object: str
) -> JsonDict:
    """A ``meta.k8s.io/v1`` Table with Name plus the type's printer columns (events: kube's own)."""
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
    if _is_event(rtype):
        columns = list(EVENT_COLUMNS)
    rows = []
    for obj in objects:
        if _is_event(rtype):
            cells = event_cells(obj, events_api=bool(rtype.group))
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
