"""The handlers' own decisions (the rest of their behaviour is tested end to end in tests/integration)."""

from __future__ import annotations

import kopf

from leadergroup.handlers import is_new_group


def test_a_created_group_with_no_status_is_new() -> None:
    assert is_new_group(kopf.Reason.CREATE, kopf.Body({"metadata": {"name": "g"}}))


def test_a_group_reconciled_before_is_not_new_to_a_restarted_operator() -> None:
    body = kopf.Body({"metadata": {"name": "g"}, "status": {"observedGeneration": 4}})
    assert not is_new_group(kopf.Reason.CREATE, body)


def test_an_update_or_resume_is_never_new() -> None:
    for reason in (kopf.Reason.UPDATE, kopf.Reason.RESUME):
        assert not is_new_group(reason, kopf.Body({"metadata": {"name": "g"}}))
