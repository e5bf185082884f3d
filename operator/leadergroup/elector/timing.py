"""Election timing: the three durations of client-go's ``LeaderElectionConfig``, validated as it does."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from leadergroup import constants

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


class InvalidTimingError(ValueError):
    """The election durations break one of client-go's rules (the message names the values and the rule)."""


class InvalidDurationError(ValueError):
    """A duration string is neither Go duration syntax (``1m30s``) nor a plain number of seconds."""


def parse_duration(text: str) -> float:
    """Seconds from Go's duration syntax (``15s``, ``1m30s``, ``500ms``, ``1.5h``) or plain seconds (``15``).

    Raises:
        InvalidDurationError: the text is not a duration.
    """
    value = text.strip()
    if not value:
        raise InvalidDurationError("empty duration")
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise InvalidDurationError(f"invalid duration {text!r}")
        return seconds
    sign = 1.0
    if value[0] in "+-":
        sign = -1.0 if value[0] == "-" else 1.0
        value = value[1:]
    if not value:  # a sign alone: Go's ParseDuration rejects it too
        raise InvalidDurationError(f"invalid duration {text!r} (expected e.g. 15s, 1m30s, 500ms or 15)")
    if value == "0":
        return 0.0
    position = 0
    total = 0.0
    while position < len(value):
        match = _DURATION_PART.match(value, position)
        if match is None:
            raise InvalidDurationError(f"invalid duration {text!r} (expected e.g. 15s, 1m30s, 500ms or 15)")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """A short human form, ``15s`` or ``1.5s``."""
    return f"{seconds:g}s"


@dataclass(frozen=True)
class ElectionTiming:
    """How long a Lease lasts, how long a leader keeps trying to renew it, and how often anyone tries.

    Attributes:
        lease_duration: seconds a candidate waits, from the last change it observed in the Lease record,
            before it may take the Lease over. Written into the Lease as ``leaseDurationSeconds``, so it must
            be a whole number of seconds.
        renew_deadline: seconds after the last successful renewal (measured from when that request was
            sent) at which the leader gives up leadership.
        retry_period: seconds between attempts; candidates wait ``retry_period * [1, 2.2)``.
    """

    lease_duration: float = float(constants.DEFAULT_LEASE_DURATION)
    renew_deadline: float = float(constants.DEFAULT_RENEW_DEADLINE)
    retry_period: float = float(constants.DEFAULT_RETRY_PERIOD)

    def __post_init__(self) -> None:
        validate_timing(self.lease_duration, self.renew_deadline, self.retry_period)

    @property
    def lease_duration_seconds(self) -> int:
        """The value written into ``spec.leaseDurationSeconds``."""
        return int(self.lease_duration)

    @property
    def max_poll_interval(self) -> float:
        """The longest a candidate waits between two attempts: ``RP * (1 + JitterFactor)`` = 2.2 RP."""
        return self.retry_period * (1.0 + constants.JITTER_FACTOR)

    def next_acquire_delay(self, rng: random.Random | None = None) -> float:
        """How long a candidate waits before its next attempt: ``RP * [1, 1 + JitterFactor)`` as client-go."""
        fraction = (rng or random).random()
        return self.retry_period + (self.max_poll_interval - self.retry_period) * fraction

    def describe(self) -> str:
        """``lease 15s, renew deadline 10s, retry 2s``."""
        return (
            f"lease {format_duration(self.lease_duration)}, renew deadline "
            f"{format_duration(self.renew_deadline)}, retry {format_duration(self.retry_period)}"
        )


def validate_timing(lease_duration: float, renew_deadline: float, retry_period: float) -> None:
    """Check client-go's rules: ``LD > RD > 1.2 * RP``, all at least 1 s, LD a whole number of seconds.

    Raises:
        InvalidTimingError: naming the values and the rule they break.
    """
    values = (
        f"(lease duration {format_duration(lease_duration)}, renew deadline "
        f"{format_duration(renew_deadline)}, retry period {format_duration(retry_period)})"
    )
    for label, value in (
        ("lease duration", lease_duration),
        ("renew deadline", renew_deadline),
        ("retry period", retry_period),
    ):
        if not math.isfinite(value) or value < 1:
            raise InvalidTimingError(f"{label} must be at least 1s {values}")
    if lease_duration != int(lease_duration):
        raise InvalidTimingError(
            f"lease duration must be a whole number of seconds, the Lease stores it as an integer {values}"
        )
    if lease_duration <= renew_deadline:
        raise InvalidTimingError(f"lease duration must be greater than renew deadline {values}")
    if renew_deadline <= constants.JITTER_FACTOR * retry_period:
        raise InvalidTimingError(
            f"renew deadline must be greater than {constants.JITTER_FACTOR:g} x retry period {values}"
        )
