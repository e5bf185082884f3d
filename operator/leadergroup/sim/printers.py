"""Table columns of the built-in kinds, as kube-apiserver's printers (pkg/printers/internalversion) make them.

``kubectl get`` prints what the server's Table holds, so these decide whether ``kubectl get deploy,pods``
against the emulator looks as it does on a cluster. The server always sends the wide columns (priority
1); kubectl shows them with ``-o wide``. Ages are strings, as the server renders them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leadergroup.sim.objects import human_age, parse_timestamp

JsonDict = dict[str, Any]
Printer = tuple[list[JsonDict], Callable[[JsonDict], list[Any]]]
_NAME_DESCRIPTION = "Name must be unique within a namespace."
_AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)


def column(
    name: str, description: str = "", *, type: str = "string", priority: int = 0, format: str = ""
) -> JsonDict:
    """One ``TableColumnDefinition``."""
    return {"name": name, "type": type, "format": format, "priority": priority, "description": description}


NAME = column("Name", _NAME_DESCRIPTION, format="name")
AGE = column("Age", _AGE_DESCRIPTION)


def _age(obj: JsonDict) -> str:
    return human_age(str((obj.get("metadata") or {}).get("creationTimestamp") or ""))


def _spec(obj: JsonDict) -> JsonDict:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _status(obj: JsonDict) -> JsonDict:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def _containers(template: Any) -> tuple[str, str]:
    containers = ((template or {}).get("spec") or {}).get("containers") or []
    return ",".join(str(c.get("name", "")) for c in containers), ",".join(
        str(c.get("image", "")) for c in containers
    )


def _selector_text(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: match labels and expressions, ``<none>`` when empty."""
    if not isinstance(selector, dict):
        return "<none>"
    terms = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        operator, values = expression.get("operator", ""), ",".join(expression.get("values") or [])
        key = expression.get("key", "")
        terms.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}.get(
                operator, f"!{key}"
            )
        )
    return ",".join(terms) or "<none>"


def _name(obj: JsonDict) -> str:
    return str(obj["metadata"]["name"])


def _deployment(obj: JsonDict) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    names, images = _containers(spec.get("template"))
    return [
        _name(obj),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(obj),
        names,
        images,
        _selector_text(spec.get("selector")),
    ]


def _replicaset(obj: JsonDict) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    names, images = _containers(spec.get("template"))
    return [
        _name(obj),
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(obj),
        names,
        images,
        _selector_text(spec.get("selector")),
    ]


def _pod_reason(pod: JsonDict) -> tuple[str, int, int]:
    status = _status(pod)
    reason = str(status.get("reason") or status.get("phase") or "")
    ready = restarts = 0
    has_running, error_reason = False, ""
    for container in reversed(status.get("containerStatuses") or []):
        restarts += int(container.get("restartCount") or 0)
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if isinstance(waiting, dict) and waiting.get("reason"):
            reason = waiting["reason"]
        elif isinstance(terminated, dict):
            code = terminated.get("exitCode", 0)
            signal = terminated.get("signal", 0)
            reason = terminated.get("reason") or (f"Signal:{signal}" if signal else f"ExitCode:{code}")
            if code:
                error_reason = reason
        elif container.get("ready") and "running" in state:
            has_running = True
            ready += 1
    if reason == "Completed":
        ready_condition = any(c.get("type") == "Ready" for c in status.get("conditions") or [])
        if has_running and ready_condition:
            reason = "Running"
        elif error_reason:
            reason = error_reason
        elif has_running:
            reason = "NotReady"
    if pod["metadata"].get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason, ready, restarts


def _last_restart(pod: JsonDict) -> str:
    finished = [
        str(((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt") or "")
        for c in _status(pod).get("containerStatuses") or []
    ]
    latest = max((moment for moment in finished if moment), default="")
    return f" ({human_age(latest)} ago)" if latest else ""


def _pod(pod: JsonDict) -> list[Any]:
    spec, status = _spec(pod), _status(pod)
    reason, ready, restarts = _pod_reason(pod)
    gates = spec.get("readinessGates") or []
    true_conditions = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    passed = sum(1 for gate in gates if gate.get("conditionType") in true_conditions)
    ips = status.get("podIPs") or []
    return [
        _name(pod),
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        f"{restarts}{_last_restart(pod)}" if restarts else "0",
        _age(pod),
        (ips[0].get("ip") if ips else None) or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        f"{passed}/{len(gates)}" if gates else "<none>",
    ]


def _service(obj: JsonDict) -> list[Any]:
    spec = _spec(obj)
    ports = ",".join(
        f"{port.get('port')}:{port['nodePort']}/{port.get('protocol', 'TCP')}"
        if port.get("nodePort")
        else f"{port.get('port')}/{port.get('protocol', 'TCP')}"
        for port in spec.get("ports") or []
    )
    ips = spec.get("clusterIPs") or []
    external = ",".join(spec.get("externalIPs") or []) or "<none>"
    selector = ",".join(f"{key}={value}" for key, value in sorted((spec.get("selector") or {}).items()))
    return [
        _name(obj),
        spec.get("type", ""),
        ips[0] if ips else "<none>",
        external,
        ports or "<none>",
        _age(obj),
        selector or "<none>",
    ]


def _disruption_budget(obj: JsonDict) -> list[Any]:
    spec = _spec(obj)
    minimum, maximum = spec.get("minAvailable"), spec.get("maxUnavailable")
    return [
        _name(obj),
        "N/A" if minimum is None else str(minimum),
        "N/A" if maximum is None else str(maximum),
        _status(obj).get("disruptionsAllowed", 0),
        _age(obj),
    ]


def _binding(obj: JsonDict, wide: bool) -> list[Any]:
    role = obj.get("roleRef") or {}
    cells = [_name(obj), f"{role.get('kind', '')}/{role.get('name', '')}", _age(obj)]
    if wide:
        subjects = obj.get("subjects") or []
        users = [s["name"] for s in subjects if s.get("kind") == "User"]
        groups = [s["name"] for s in subjects if s.get("kind") == "Group"]
        accounts = [
            f"{s.get('namespace', '')}/{s['name']}" for s in subjects if s.get("kind") == "ServiceAccount"
        ]
        cells += [", ".join(users), ", ".join(groups), ", ".join(accounts)]
    return cells


# kube-apiserver's event printer (pkg/printers/internalversion): no leading Name column, ages as strings.
EVENT_COLUMNS = (
    column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    column(
        "Reason",
        "This should be a short, machine understandable string that gives the reason for the transition "
        "into the object's current status.",
    ),
    column("Object", "The object that this event is about."),
    column(
        "Subobject",
        "If referring to a piece of an object instead of an entire object, this string should contain a "
        "valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
        priority=1,
    ),
    column(
        "Source",
        "The component reporting this event. Should be a short machine understandable string.",
        priority=1,
    ),
    column("Message", "A human-readable description of the status of this operation."),
    column(
        "First Seen",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        priority=1,
    ),
    column("Count", "The number of times this event has occurred.", priority=1),
    column("Name", "Name must be unique within a namespace.", priority=1, format="name"),
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


_BINDING_COLUMNS = [
    NAME,
    column("Role", "RoleRef references a Role in the current namespace, or a ClusterRole."),
    AGE,
    column("Users", "Users in the roleBinding", priority=1),
    column("Groups", "Groups in the roleBinding", priority=1),
    column("ServiceAccounts", "ServiceAccounts in the roleBinding", priority=1),
]
_CONTAINER_COLUMNS = [
    column("Containers", "Names of each container in the template.", priority=1),
    column("Images", "Images referenced by each container in the template.", priority=1),
    column("Selector", "Label selector for pods.", priority=1),
]

_CREATED_AT_COLUMNS = [NAME, column("Created At", _AGE_DESCRIPTION, type="date")]


def _created_at(obj: JsonDict) -> list[Any]:
    return [_name(obj), (obj.get("metadata") or {}).get("creationTimestamp")]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("apps", "deployments"): (
        [NAME, column("Ready"), column("Up-to-date"), column("Available"), AGE, *_CONTAINER_COLUMNS],
        _deployment,
    ),
    ("apps", "replicasets"): (
        [
            NAME,
            column("Desired", type="integer"),
            column("Current", type="integer"),
            column("Ready", type="integer"),
            AGE,
            *_CONTAINER_COLUMNS,
        ],
        _replicaset,
    ),
    ("", "pods"): (
        [
            NAME,
            column("Ready"),
            column("Status"),
            column("Restarts"),
            AGE,
            column("IP", priority=1),
            column("Node", priority=1),
            column("Nominated Node", priority=1),
            column("Readiness Gates", priority=1),
        ],
        _pod,
    ),
    ("", "services"): (
        [
            NAME,
            column("Type"),
            column("Cluster-IP"),
            column("External-IP"),
            column("Port(s)"),
            AGE,
            column("Selector", priority=1),
        ],
        _service,
    ),
    ("policy", "poddisruptionbudgets"): (
        [
            NAME,
            column("Min Available"),
            column("Max Unavailable"),
            column("Allowed Disruptions", type="integer"),
            AGE,
        ],
        _disruption_budget,
    ),
    ("", "configmaps"): (
        [NAME, column("Data"), AGE],
        lambda obj: [_name(obj), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), _age(obj)],
    ),
    ("", "secrets"): (
        [NAME, column("Type"), column("Data"), AGE],
        lambda obj: [_name(obj), obj.get("type", ""), len(obj.get("data") or {}), _age(obj)],
    ),
    # Kinds without a printer of their own get apiserver's default table: the name and the creation time.
    ("rbac.authorization.k8s.io", "roles"): (_CREATED_AT_COLUMNS, _created_at),
    ("rbac.authorization.k8s.io", "clusterroles"): (_CREATED_AT_COLUMNS, _created_at),
    ("rbac.authorization.k8s.io", "rolebindings"): (_BINDING_COLUMNS, lambda obj: _binding(obj, True)),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (_BINDING_COLUMNS, lambda obj: _binding(obj, True)),
}
