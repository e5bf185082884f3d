"""The leader election record as it lives in a Lease's spec, and the MicroTime wire format.

client-go reads and writes five fields of ``coordination.k8s.io/v1`` Lease ``spec``: ``holderIdentity``,
``leaseDurationSeconds``, ``acquireTime``, ``renewTime`` and ``leaseTransitions``. Everything else on the
Lease (labels, ownerReferences, ``spec.strategy``, ``spec.preferredHolder``, ...) is someone else's and is
carried over untouched when the record is written.
"""

from __future__ import annotations

import copy
import datetime
import re
from dataclasses import dataclass
from typing import Any

_MICRO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


class InvalidMicroTimeError(ValueError):
    """A timestamp in the Lease is not RFC 3339."""


def format_micro_time(moment: datetime.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, always 6 fractional digits, as Kubernetes' MicroTime.

    ``datetime.isoformat()`` drops the fraction when it is zero and writes ``+00:00``; API servers accept
    that, but client-go's own form is this one and other tools compare strings.
    """
    if moment.tzinfo is None:
        raise ValueError("MicroTime needs an aware datetime (got a naive one)")
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str) -> datetime.datetime:
    """Parse a MicroTime or Time leniently: any fraction length (nanoseconds are truncated), ``Z`` or offset.

    A timestamp without zone is taken as UTC.

    Raises:
        InvalidMicroTimeError: the text is not an RFC 3339 timestamp.
    """
    match = _MICRO_TIME.match(text.strip())
    if match is None:
        raise InvalidMicroTimeError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    microseconds = int((fraction or "0")[:6].ljust(6, "0"))
    tz: datetime.tzinfo = datetime.UTC
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = datetime.timezone(offset if zone[0] == "+" else -offset)
    try:
        moment = datetime.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), microseconds, tzinfo=tz
        )
    except ValueError as error:
        raise InvalidMicroTimeError(f"not a valid timestamp: {text!r} ({error})") from error
    return moment.astimezone(datetime.UTC)


@dataclass(frozen=True)
class LeaderElectionRecord:
    """client-go's ``LeaderElectionRecord`` over a Lease: who holds it, since when, for how long.

    Missing fields read as client-go reads them: empty holder, zero duration, no times, zero transitions.
    """

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: datetime.datetime | None = None
    renew_time: datetime.datetime | None = None
    lease_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: dict[str, Any]) -> LeaderElectionRecord:
        """Read the record from a Lease object (unparseable timestamps read as absent)."""
        spec = lease.get("spec") or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=_int_or_zero(spec.get("leaseDurationSeconds")),
            acquire_time=_time_or_none(spec.get("acquireTime")),
            renew_time=_time_or_none(spec.get("renewTime")),
            lease_transitions=_int_or_zero(spec.get("leaseTransitions")),
        )

    def to_spec_fields(self) -> dict[str, Any]:
        """The five spec fields, in client-go's wire form (it always writes all five)."""
        return {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "acquireTime": format_micro_time(self.acquire_time) if self.acquire_time else None,
            "renewTime": format_micro_time(self.renew_time) if self.renew_time else None,
            "leaseTransitions": self.lease_transitions,
        }

    def apply_to(self, lease: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``lease`` carrying this record; every other field (and ``resourceVersion``) kept."""
        updated = copy.deepcopy(lease)
        spec = updated.setdefault("spec", {})
        for key, value in self.to_spec_fields().items():
            if value is None:
                spec.pop(key, None)
            else:
                spec[key] = value
        return updated

    def new_lease(self, namespace: str, name: str) -> dict[str, Any]:
        """A Lease body holding this record, for create-if-missing."""
        return self.apply_to(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {},
            }
        )


def _int_or_zero(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _time_or_none(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_micro_time(value)
    except InvalidMicroTimeError:
        return None
