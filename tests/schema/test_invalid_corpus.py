"""The bad-input corpus: every invalid LeaderGroup is refused where the user sees it, in actionable words.

"rejected" cases must fail the CRD's schema admission (the emulator applies the CRD's openAPIV3Schema and
CEL rules the way kube-apiserver does) with kube's message; "stalled" cases must pass admission and then be
refused by ``LeaderGroup.from_body``. Every rejected case is refused by ``from_body`` too, for clusters whose
CRD was installed without validation.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from leadergroup import constants
from leadergroup.model import LeaderGroup, SpecError

REPO = Path(__file__).parents[2]
CORPUS: list[dict[str, Any]] = yaml.safe_load(
    (REPO / "tests" / "data" / "invalid_leadergroups.yaml").read_text()
)
CRD = yaml.safe_load((REPO / "crds" / "leadergroup.yaml").read_text())
OPENAPI_SCHEMA: dict[str, Any] = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
SAMPLES = sorted((REPO / "manifests" / "samples").glob("*.yaml"))


def cases(expect: str) -> list[Any]:
    return [pytest.param(case, id=case["case"]) for case in CORPUS if case["expect"] == expect]


def schema_admission() -> ModuleType:
    try:
        # Written concurrently by the emulator's author: skip until it exists.
        import leadergroup.sim.schema as schema
    except ImportError:
        pytest.skip("leadergroup.sim.schema (the emulator's CRD schema admission) does not exist yet")
    return schema


def admit(obj: dict[str, Any]) -> dict[str, Any]:
    admitted: dict[str, Any] = schema_admission().admit(
        OPENAPI_SCHEMA, copy.deepcopy(obj), None, kind=constants.KIND, name=obj["metadata"]["name"]
    )
    return admitted


def as_stored(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server hands it to the operator: namespaced, with a uid."""
    stored = copy.deepcopy(obj)
    stored["metadata"].setdefault("namespace", "default")
    stored["metadata"].setdefault("uid", "6a1e2f4c-0000-4000-8000-000000000001")
    return stored


class TestCorpusShape:
    def test_has_enough_cases_of_each_kind(self) -> None:
        assert len(CORPUS) >= 24
        assert len(cases("rejected")) >= 12 and len(cases("stalled")) >= 6

    def test_entries_are_complete_and_unique(self) -> None:
        assert len({case["case"] for case in CORPUS}) == len(CORPUS)
        for case in CORPUS:
            assert set(case) == {"case", "why", "expect", "message", "object"}, case["case"]
            assert case["expect"] in {"rejected", "stalled"}, case["case"]
            assert case["message"] and case["why"], case["case"]
            assert case["object"]["apiVersion"] == constants.API_VERSION, case["case"]
            assert case["object"]["kind"] == constants.KIND, case["case"]


class TestStalled:
    @pytest.mark.parametrize("case", cases("stalled"))
    def test_the_operator_says_what_to_fix(self, case: dict[str, Any]) -> None:
        with pytest.raises(SpecError) as caught:
            LeaderGroup.from_body(as_stored(case["object"]))
        assert case["message"] in caught.value.message

    @pytest.mark.parametrize("case", cases("stalled"))
    def test_the_api_server_accepts_it_and_the_operator_still_refuses(self, case: dict[str, Any]) -> None:
        admitted = admit(case["object"])
        with pytest.raises(SpecError) as caught:
            LeaderGroup.from_body(as_stored(admitted))
        assert case["message"] in caught.value.message


class TestRejected:
    @pytest.mark.parametrize("case", cases("rejected"))
    def test_the_api_server_refuses_it_with_the_message(self, case: dict[str, Any]) -> None:
        schema = schema_admission()
        with pytest.raises(schema.SchemaError) as caught:
            admit(case["object"])
        message = caught.value.message(constants.KIND, constants.GROUP, case["object"]["metadata"]["name"])
        assert case["message"] in message

    @pytest.mark.parametrize("case", cases("rejected"))
    def test_the_operator_refuses_it_too_without_crd_validation(self, case: dict[str, Any]) -> None:
        with pytest.raises(SpecError):
            LeaderGroup.from_body(as_stored(case["object"]))


class TestSamplesAreValid:
    @pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
    def test_the_operator_accepts_the_sample(self, path: Path) -> None:
        LeaderGroup.from_body(as_stored(yaml.safe_load(path.read_text())))

    @pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
    def test_the_api_server_accepts_the_sample_and_fills_defaults(self, path: Path) -> None:
        sample = yaml.safe_load(path.read_text())
        admitted = admit(sample)
        defaults = {"releaseOnHolderDeletion": True, "releaseOnElectorExit": True}
        assert admitted["spec"]["failover"] == {**defaults, **sample["spec"].get("failover", {})}
        assert set(admitted["spec"]["election"]) == {
            "leaseDurationSeconds",
            "renewDeadlineSeconds",
            "retryPeriodSeconds",
        }
        LeaderGroup.from_body(as_stored(admitted))
