"""The request log and injected faults, shared between the server thread and test threads (locked)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from leadergroup.sim import errors


@dataclass(frozen=True)
class RequestRecord:
    """One served request.

    ``verb`` is the RBAC verb (get, list, watch, create, update, patch, delete, deletecollection). For
    non-resource paths (/version, /api, /apis, /openapi/...) the verb is ``get`` (the HTTP method, lower
    case), ``resource`` is ``""`` and ``name`` and ``path`` hold the path. ``user`` is the bearer token
    (``system:anonymous`` without one). Watches are recorded when their stream starts.
    """

    verb: str
    group: str
    version: str
    resource: str
    subresource: str | None
    namespace: str | None
    name: str | None
    user: str
    user_agent: str
    status: int
    time: float
    path: str = ""


@dataclass
class Fault:
    """Fail (``status``) or delay (status None) the next ``times`` matching requests.

    With ``status`` set the request is refused and changes nothing. With ``status=None`` it is served
    after ``delay`` seconds, and its response is held back ``delay_after`` seconds once the request has
    taken effect: the "committed, but the client timed out waiting" case a client cannot tell from a
    failure. ``times=None`` means until the faults are cleared. ``None`` filters match anything.
    """

    verb: str
    resource: str
    status: int | None = 409
    times: int | None = 1
    delay: float = 0.0
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    group: str | None = None
    delay_after: float = 0.0

    def matches(self, record: RequestRecord) -> bool:
        """Whether a request (as recorded, status not yet known) is targeted by this fault."""
        return (
            self.verb in (record.verb, "*")
            and self.resource in (record.resource, "*")
            and all(
                expected is None or expected == actual
                for expected, actual in (
                    (self.group, record.group),
                    (self.namespace, record.namespace),
                    (self.name, record.name),
                    (self.subresource, record.subresource),
                )
            )
        )

    def error(self, resource: str, group: str, name: str | None) -> errors.ApiError:
        """The Status failure this fault answers with."""
        status = self.status or 500
        if status == 409:
            return errors.conflict(resource, group, name or "", "injected fault")
        if status == 429:
            return errors.too_many_requests(1)
        if status == 404:
            return errors.not_found(resource, group, name or "")
        if status == 500:
            return errors.internal_error("injected fault")
        reasons = {
            400: "BadRequest",
            401: "Unauthorized",
            403: "Forbidden",
            410: "Expired",
            422: "Invalid",
            503: "ServiceUnavailable",
            504: "Timeout",
        }
        return errors.ApiError(status, reasons.get(status, "InternalError"), f"injected fault ({status})")


class FaultBook:
    """Pending faults, consumed by matching requests in order of injection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Arm a fault."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, record: RequestRecord) -> Fault | None:
        """The first fault matching this request, counting one use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(record):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None


class RequestLog:
    """Append-only request log with thread-safe snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        """Record a served request."""
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        """A copy of the log."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()
