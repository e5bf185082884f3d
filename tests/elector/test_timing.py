from __future__ import annotations

import random

import pytest

from leadergroup.elector.timing import (
    ElectionTiming,
    InvalidDurationError,
    InvalidTimingError,
    parse_duration,
    validate_timing,
)


class TestParseDuration:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("15s", 15.0),
            ("1m30s", 90.0),
            ("500ms", 0.5),
            ("1h", 3600.0),
            ("1.5s", 1.5),
            ("2m", 120.0),
            ("15", 15.0),
            ("2.5", 2.5),
            ("0", 0.0),
            ("1h2m3s4ms", 3723.004),
            (" 10s ", 10.0),
        ],
    )
    def test_go_syntax_and_plain_seconds(self, text: str, seconds: float) -> None:
        assert parse_duration(text) == pytest.approx(seconds)

    @pytest.mark.parametrize("text", ["", "s", "15x", "1m30", "abc", "1.2.3s", "nan", "inf", "+", "-", " + "])
    def test_rejects_garbage(self, text: str) -> None:
        with pytest.raises(InvalidDurationError):
            parse_duration(text)


class TestValidation:
    def test_defaults_are_client_gos(self) -> None:
        timing = ElectionTiming()
        assert (timing.lease_duration, timing.renew_deadline, timing.retry_period) == (15, 10, 2)
        assert timing.lease_duration_seconds == 15

    @pytest.mark.parametrize(("ld", "rd", "rp"), [(15, 10, 2), (60, 15, 5), (3, 2, 1), (2, 1.5, 1.2)])
    def test_valid(self, ld: float, rd: float, rp: float) -> None:
        validate_timing(ld, rd, rp)

    @pytest.mark.parametrize(
        ("ld", "rd", "rp", "rule"),
        [
            (10, 10, 2, "lease duration must be greater than renew deadline"),
            (5, 10, 2, "lease duration must be greater than renew deadline"),
            (15, 2.4, 2, "renew deadline must be greater than 1.2 x retry period"),
            (15, 2, 2, "renew deadline must be greater than 1.2 x retry period"),
            (15, 10, 0.5, "retry period must be at least 1s"),
            (0, 10, 2, "lease duration must be at least 1s"),
            (15.5, 10, 2, "whole number of seconds"),
        ],
    )
    def test_invalid_names_values_and_rule(self, ld: float, rd: float, rp: float, rule: str) -> None:
        with pytest.raises(InvalidTimingError) as raised:
            ElectionTiming(ld, rd, rp)
        message = str(raised.value)
        assert rule in message
        assert f"lease duration {ld:g}s" in message
        assert f"renew deadline {rd:g}s" in message
        assert f"retry period {rp:g}s" in message
        assert isinstance(raised.value, ValueError)

    def test_acquire_delay_is_jittered_between_one_and_two_point_two_retry_periods(self) -> None:
        timing = ElectionTiming(15, 10, 2)
        rng = random.Random(7)
        delays = [timing.next_acquire_delay(rng) for _ in range(2000)]
        assert min(delays) >= 2.0
        assert max(delays) < 4.4
        # The jitter really spreads: both ends of the range are visited.
        assert min(delays) < 2.1
        assert max(delays) > 4.3
        assert timing.max_poll_interval == pytest.approx(4.4)
