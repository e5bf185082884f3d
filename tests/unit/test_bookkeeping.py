"""Kopf's bookkeeping for LeaderGroups: the handled essence in memory, the progress only while retrying."""

from __future__ import annotations

import copy
from typing import Any

import kopf

from leadergroup import constants
from leadergroup.bookkeeping import RememberedDiffBase, RetriesOnlyProgress

MARKER = f"{constants.GROUP}/kopf-managed"


def group(uid: str = "uid-1", replicas: int = 3, annotations: dict[str, str] | None = None) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": f"{constants.GROUP}/{constants.VERSION}",
            "kind": constants.KIND,
            "metadata": {"name": "g", "namespace": "ns", "uid": uid, "annotations": annotations or {}},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": 1},
        }
    )


def pod() -> kopf.Body:
    return kopf.Body(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "uid-p"}, "spec": {}}
    )


class TestRememberedDiffBase:
    def test_a_group_not_handled_by_this_process_has_no_essence(self) -> None:
        assert RememberedDiffBase().fetch(body=group()) is None

    def test_the_stored_essence_comes_back_and_the_patch_stays_empty(self) -> None:
        storage, body, patch = RememberedDiffBase(), group(), kopf.Patch()
        essence = storage.build(body=body)
        storage.store(body=body, patch=patch, essence=essence)
        assert not patch
        assert storage.fetch(body=body) == essence == {"spec": {"replicas": 3}}
        assert storage.fetch(body=group(uid="uid-2")) is None

    def test_a_spec_change_differs_from_the_stored_essence(self) -> None:
        storage = RememberedDiffBase()
        storage.store(body=group(), patch=kopf.Patch(), essence=storage.build(body=group()))
        assert storage.fetch(body=group(replicas=1)) != storage.build(body=group(replicas=1))

    def test_the_annotation_an_older_operator_kept_it_in_is_not_part_of_the_essence(self) -> None:
        legacy = {f"{constants.GROUP}/last-handled-configuration": '{"spec":{}}', "team": "a"}
        essence = RememberedDiffBase().build(body=group(annotations=legacy))
        assert essence["metadata"]["annotations"] == {"team": "a"}

    def test_other_kinds_are_neither_built_nor_kept(self) -> None:
        storage = RememberedDiffBase()
        assert storage.build(body=pod()) == {}
        storage.store(body=pod(), patch=kopf.Patch(), essence=kopf.BodyEssence({"spec": {"x": 1}}))
        assert storage.fetch(body=pod()) is None
        assert len(storage) == 0

    def test_a_deleted_group_is_forgotten_and_a_late_store_does_not_revive_it(self) -> None:
        storage, body = RememberedDiffBase(), group()
        storage.store(body=body, patch=kopf.Patch(), essence=storage.build(body=body))
        storage.forget("uid-1")
        assert storage.fetch(body=body) is None
        storage.store(body=body, patch=kopf.Patch(), essence=storage.build(body=body))
        assert len(storage) == 0

    def test_the_essence_is_kopfs_own_without_copying_status_and_system_metadata(self) -> None:
        """From the trimmed body it equals Kopf's essence of the whole one; the body stays as it was."""
        body = group(annotations={"team": "a", "kubectl.kubernetes.io/last-applied-configuration": "{}"})
        body["metadata"].update(
            {"labels": {"app": "x"}, "managedFields": [{"manager": "kubectl"}], "resourceVersion": "7"}
        )
        body["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        before = copy.deepcopy(dict(body))
        essence = RememberedDiffBase().build(body=body)
        assert essence == kopf.AnnotationsDiffBaseStorage().build(body=body)
        assert essence == {
            "spec": {"replicas": 3},
            "metadata": {"labels": {"app": "x"}, "annotations": {"team": "a"}},
        }
        essence["metadata"]["labels"]["app"] = "changed"
        essence["spec"]["replicas"] = 0
        assert dict(body) == before

    def test_extra_fields_are_picked_from_the_whole_body(self) -> None:
        essence = RememberedDiffBase().build(body=group(), extra_fields=[("status", "observedGeneration")])
        assert essence == {"spec": {"replicas": 3}, "status": {"observedGeneration": 1}}


def store_then_purge(
    storage: kopf.AnnotationsProgressStorage, body: kopf.Body, *, succeeded: bool
) -> kopf.Patch:
    """What Kopf does with a handler's progress in one processing cycle."""
    patch = kopf.Patch()
    record: Any = {"started": "2026-12-02T00:00:00", "success": succeeded, "failure": False, "retries": 1}
    storage.store(key=kopf.HandlerId("reconcile_group"), record=record, body=body, patch=patch)
    if succeeded:
        storage.purge(key=kopf.HandlerId("reconcile_group"), body=body, patch=patch)
    return patch


class TestRetriesOnlyProgress:
    def test_a_handler_that_succeeds_at_once_writes_nothing(self) -> None:
        kopfs_own = store_then_purge(
            kopf.AnnotationsProgressStorage(prefix=constants.GROUP), group(), succeeded=True
        )
        assert kopfs_own == {"metadata": {"annotations": {MARKER: "yes"}}}, "what this storage undoes"
        assert not store_then_purge(RetriesOnlyProgress(prefix=constants.GROUP), group(), succeeded=True)

    def test_a_retry_keeps_its_progress_and_the_marker(self) -> None:
        patch = store_then_purge(RetriesOnlyProgress(prefix=constants.GROUP), group(), succeeded=False)
        assert set(patch["metadata"]["annotations"]) == {MARKER, f"{constants.GROUP}/reconcile_group"}

    def test_success_after_a_retry_removes_the_progress_it_left(self) -> None:
        retried = group(annotations={MARKER: "yes", f"{constants.GROUP}/reconcile_group": "{}"})
        patch = store_then_purge(RetriesOnlyProgress(prefix=constants.GROUP), retried, succeeded=True)
        assert patch["metadata"]["annotations"] == {f"{constants.GROUP}/reconcile_group": None}
