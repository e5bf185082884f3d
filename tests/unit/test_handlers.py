"""The handlers' own decisions (the rest of their behaviour is tested end to end in tests/integration)."""

from __future__ import annotations

import kopf
import pytest

from leadergroup import handlers
from leadergroup.handlers import is_new_group
from leadergroup.kube.liveness import WatchBook
from leadergroup.metrics import WatchCollector


def test_a_created_group_with_no_status_is_new() -> None:
    assert is_new_group(kopf.Reason.CREATE, kopf.Body({"metadata": {"name": "g"}}))


def test_a_group_reconciled_before_is_not_new_to_a_restarted_operator() -> None:
    body = kopf.Body({"metadata": {"name": "g"}, "status": {"observedGeneration": 4}})
    assert not is_new_group(kopf.Reason.CREATE, body)


def test_an_update_or_resume_is_never_new() -> None:
    for reason in (kopf.Reason.UPDATE, kopf.Reason.RESUME):
        assert not is_new_group(reason, kopf.Body({"metadata": {"name": "g"}}))


def test_the_liveness_probe_fails_while_a_watch_hears_nothing_for_twice_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    book = WatchBook(idle_seconds=40, clock=lambda: now[0])
    monkeypatch.setattr(handlers, "WATCHES", book)
    owner = object()
    book.started("leases", "team-a", owner)
    book.started("leadergroups", "", "kopf")
    now[0] += 80
    assert handlers.watches_alive() == 2
    book.heard("leadergroups", "", "kopf")
    now[0] += 1
    with pytest.raises(kopf.PermanentError, match=r"leases in team-a \(81s\)"):
        handlers.watches_alive()
    book.heard("leases", "team-a", owner)  # re-established: alive again
    assert handlers.watches_alive() == 2


def test_watch_restarts_are_exported_by_resource_and_reason() -> None:
    book = WatchBook()
    book.restarted("pods", "idle")
    book.restarted("pods", "idle")
    book.restarted("leadergroups", "server-closed")
    [family] = WatchCollector(book).collect()
    samples = {
        (s.labels["resource"], s.labels["reason"]): s.value
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert family.name == "leadergroup_watch_restarts"
    assert samples == {("pods", "idle"): 2, ("leadergroups", "server-closed"): 1}
