from __future__ import annotations

import datetime
from typing import Any

import pytest

from leadergroup.elector.record import (
    InvalidMicroTimeError,
    LeaderElectionRecord,
    format_micro_time,
    parse_micro_time,
)

UTC = datetime.UTC


class TestMicroTime:
    def test_always_six_fractional_digits_even_on_a_whole_second(self) -> None:
        moment = datetime.datetime(2026, 7, 24, 12, 0, 0, tzinfo=UTC)
        assert format_micro_time(moment) == "2026-07-24T12:00:00.000000Z"

    def test_converts_to_utc(self) -> None:
        moment = datetime.datetime(
            2026, 7, 24, 14, 30, 5, 42, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        )
        assert format_micro_time(moment) == "2026-07-24T12:30:05.000042Z"

    def test_rejects_naive_datetimes(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            format_micro_time(datetime.datetime(2026, 7, 24, 12, 0, 0))

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-07-24T12:00:00.000000Z", datetime.datetime(2026, 7, 24, 12, 0, 0, tzinfo=UTC)),
            ("2026-07-24T12:00:00Z", datetime.datetime(2026, 7, 24, 12, 0, 0, tzinfo=UTC)),
            ("2026-07-24T12:00:00.5Z", datetime.datetime(2026, 7, 24, 12, 0, 0, 500000, tzinfo=UTC)),
            ("2026-07-24T12:00:00.123456789Z", datetime.datetime(2026, 7, 24, 12, 0, 0, 123456, tzinfo=UTC)),
            ("2026-07-24T14:00:00.000001+02:00", datetime.datetime(2026, 7, 24, 12, 0, 0, 1, tzinfo=UTC)),
            ("2026-07-24T12:00:00+00:00", datetime.datetime(2026, 7, 24, 12, 0, 0, tzinfo=UTC)),
            ("2026-07-24t12:00:00z", datetime.datetime(2026, 7, 24, 12, 0, 0, tzinfo=UTC)),
            ("2026-07-24T12:00:00", datetime.datetime(2026, 7, 24, 12, 0, 0, tzinfo=UTC)),
        ],
    )
    def test_parses_leniently(self, text: str, expected: datetime.datetime) -> None:
        assert parse_micro_time(text) == expected

    @pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-07-24"])
    def test_rejects_non_timestamps(self, text: str) -> None:
        with pytest.raises(InvalidMicroTimeError):
            parse_micro_time(text)

    def test_round_trip(self) -> None:
        moment = datetime.datetime(2026, 1, 2, 3, 4, 5, 60708, tzinfo=UTC)
        assert parse_micro_time(format_micro_time(moment)) == moment


class TestRecord:
    def test_reads_client_go_lease(self) -> None:
        lease = {
            "spec": {
                "holderIdentity": "a",
                "leaseDurationSeconds": 60,
                "acquireTime": "2026-07-24T11:00:00.123456Z",
                "renewTime": "2026-07-24T11:59:58.654321Z",
                "leaseTransitions": 4,
            }
        }
        record = LeaderElectionRecord.from_lease(lease)
        assert record.holder_identity == "a"
        assert record.lease_duration_seconds == 60
        assert record.acquire_time == datetime.datetime(2026, 7, 24, 11, 0, 0, 123456, tzinfo=UTC)
        assert record.renew_time == datetime.datetime(2026, 7, 24, 11, 59, 58, 654321, tzinfo=UTC)
        assert record.lease_transitions == 4

    def test_missing_fields_read_as_client_go_reads_them(self) -> None:
        assert LeaderElectionRecord.from_lease({"metadata": {"name": "x"}}) == LeaderElectionRecord()
        assert LeaderElectionRecord.from_lease({"spec": {"renewTime": "garbage"}}).renew_time is None

    def test_apply_keeps_everything_else(self) -> None:
        lease: dict[str, Any] = {
            "metadata": {"name": "l", "resourceVersion": "7", "labels": {"x": "y"}},
            "spec": {"strategy": "OldestEmulationVersion", "preferredHolder": "b", "holderIdentity": "old"},
        }
        moment = datetime.datetime(2026, 7, 24, 12, 0, 0, tzinfo=UTC)
        updated = LeaderElectionRecord("a", 15, moment, moment, 2).apply_to(lease)
        assert updated["metadata"] == lease["metadata"]
        assert updated["spec"] == {
            "strategy": "OldestEmulationVersion",
            "preferredHolder": "b",
            "holderIdentity": "a",
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-07-24T12:00:00.000000Z",
            "renewTime": "2026-07-24T12:00:00.000000Z",
            "leaseTransitions": 2,
        }
        assert lease["spec"]["holderIdentity"] == "old", "the input must not be modified"
