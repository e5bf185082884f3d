"""The CRD in crds/leadergroup.yaml and the pydantic models describe the same API, so they cannot drift.

Walks the CRD's openAPIV3Schema side by side with ``model_json_schema(by_alias=True)``: same fields, types,
formats, bounds, enums, required fields and defaults. Also checks the CRD is structural (a real API server
refuses it otherwise) and that its CEL rules agree with the model's checks.
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy.adapter import json_to_cel
from pydantic import BaseModel
from tests.support.cluster import project_crds

from leadergroup import constants
from leadergroup.model import (
    ELECTOR_CONTAINER_MESSAGE,
    LEASE_LONGER_THAN_RENEW_MESSAGE,
    LOCK_NAME_IMMUTABLE_MESSAGE,
    RENEW_LONGER_THAN_RETRIES_MESSAGE,
    ElectionSpec,
    LeaderGroupSpec,
    LeaderGroupStatus,
)
from leadergroup.model.template import DNS1123_LABEL, MAX_CONTAINERS
from leadergroup.sim.crd_defaults import default_causes

CRD_PATH = Path(__file__).parents[2] / "crds" / "leadergroup.yaml"
CRD: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
VERSION: dict[str, Any] = CRD["spec"]["versions"][0]
ROOT: dict[str, Any] = VERSION["schema"]["openAPIV3Schema"]
SPEC = ROOT["properties"]["spec"]
STATUS = ROOT["properties"]["status"]
# Where the model deliberately stops: the pod template stays a dict, checked by leadergroup.model.template.
OPAQUE_IN_MODEL = {"spec.template"}
# Bounds implied by the CRD's integer formats, which the models spell out.
FORMAT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (None, None)}
COMPARED_KEYWORDS = ("enum", "pattern", "maxLength", "minLength", "maxItems", "minItems", "maxProperties")
Schema = dict[str, Any]


def model_schema(model: type[BaseModel]) -> tuple[Schema, Schema]:
    schema = model.model_json_schema(by_alias=True)
    return schema, schema.get("$defs", {})


def resolve(node: Schema, defs: Schema) -> Schema:
    """Inline $ref and drop the null member that pydantic adds for optional fields."""
    if "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    if "anyOf" in node:
        members = [member for member in node["anyOf"] if member.get("type") != "null"]
        rest = {key: value for key, value in node.items() if key != "anyOf"}
        if len(members) == 1:
            return resolve({**members[0], **rest}, defs)
        return {**rest, "anyOf": [resolve(member, defs) for member in members]}
    return node


def integer_bounds(crd: Schema) -> tuple[int | None, int | None]:
    implied = FORMAT_BOUNDS.get(crd.get("format", ""), (None, None))
    return crd.get("minimum", implied[0]), crd.get("maximum", implied[1])


def compare(crd: Schema, model: Schema, defs: Schema, path: str, problems: list[str]) -> None:
    model = resolve(model, defs)
    if path in OPAQUE_IN_MODEL:
        if model.get("type") != "object" or model.get("additionalProperties") is False:
            problems.append(f"{path}: the model should keep an open dict here")
        return
    if crd.get("x-kubernetes-int-or-string"):
        member_types = sorted(member.get("type", "?") for member in model.get("anyOf", []))
        if member_types != ["integer", "string"]:
            problems.append(
                f"{path}: int-or-string in the CRD, {member_types or model.get('type')} in the model"
            )
        return
    if crd.get("type") != model.get("type"):
        problems.append(f"{path}: type {crd.get('type')} in the CRD, {model.get('type')} in the model")
        return
    for keyword in COMPARED_KEYWORDS:
        if crd.get(keyword) != model.get(keyword):
            problems.append(
                f"{path}: {keyword} {crd.get(keyword)!r} in the CRD, {model.get(keyword)!r} in the model"
            )
    if crd["type"] == "string" and crd.get("format") != model.get("format"):
        problems.append(f"{path}: format {crd.get('format')} in the CRD, {model.get('format')} in the model")
    if crd["type"] == "integer":
        model_bounds = (model.get("minimum"), model.get("maximum"))
        if integer_bounds(crd) != model_bounds:
            problems.append(f"{path}: bounds {integer_bounds(crd)} in the CRD, {model_bounds} in the model")
    if crd["type"] == "array":
        compare(crd["items"], model["items"], defs, f"{path}[]", problems)
    if crd["type"] == "object" and "properties" in crd:
        compare_object(crd, model, defs, path, problems)
    elif crd["type"] == "object" and "additionalProperties" in crd:
        compare(
            crd["additionalProperties"], model.get("additionalProperties", {}), defs, f"{path}{{}}", problems
        )


def compare_object(crd: Schema, model: Schema, defs: Schema, path: str, problems: list[str]) -> None:
    crd_fields, model_fields = set(crd["properties"]), set(model.get("properties", {}))
    if crd_fields != model_fields:
        problems.append(
            f"{path}: only in the CRD {crd_fields - model_fields}, "
            f"only in the model {model_fields - crd_fields}"
        )
    if set(crd.get("required", [])) != set(model.get("required", [])):
        problems.append(
            f"{path}: required {crd.get('required', [])} in the CRD, {model.get('required', [])} in the model"
        )
    for name in sorted(crd_fields & model_fields):
        crd_field, model_field = crd["properties"][name], model["properties"][name]
        compare(crd_field, model_field, defs, f"{path}.{name}", problems)
        compare_default(crd_field, resolve(model_field, defs), f"{path}.{name}", problems)


def nested_defaults(crd: Schema) -> dict[str, Any]:
    return {
        name: field["default"] for name, field in (crd.get("properties") or {}).items() if "default" in field
    }


def compare_default(crd: Schema, model: Schema, path: str, problems: list[str]) -> None:
    default = crd.get("default")
    if default == {} or (isinstance(default, dict) and default and default == nested_defaults(crd)):
        # `default: {}` on an object: the API server fills it from the nested defaults (or the default spells
        # them out, where CEL rules read them); pydantic builds the same object with a default_factory,
        # which JSON schema cannot show.
        if "default" in model:
            problems.append(f"{path}: the model should default to the object of its nested defaults")
    elif crd.get("default") != model.get("default"):
        problems.append(
            f"{path}: default {crd.get('default')!r} in the CRD, {model.get('default')!r} in the model"
        )


@pytest.mark.parametrize(
    ("crd", "model", "path"), [(SPEC, LeaderGroupSpec, "spec"), (STATUS, LeaderGroupStatus, "status")]
)
def test_crd_and_model_agree(crd: Schema, model: type[BaseModel], path: str) -> None:
    schema, defs = model_schema(model)
    problems: list[str] = []
    compare(crd, schema, defs, path, problems)
    assert problems == []


def test_object_defaults_build_the_nested_defaults() -> None:
    # What the API server stores for `election: {}` is what the model builds when election is absent.
    spec = LeaderGroupSpec.model_validate(
        {"template": {"spec": {"containers": [{"name": "a", "image": "i"}]}}}
    )
    for field in ("election", "failover", "placement", "flapping"):
        assert SPEC["properties"][field]["default"] in ({}, nested_defaults(SPEC["properties"][field]))
        nested = getattr(spec, field)
        assert nested == type(nested).model_validate({})
        assert nested == type(nested).model_validate(SPEC["properties"][field]["default"])


def test_every_default_satisfies_the_rules_it_meets() -> None:
    # kube-apiserver checks each default against the CEL rules as it stands, nested defaults unfilled:
    # `election.default: {}` was refused by the first real install (tests/integration/test_crd_defaults.py).
    assert [default_causes(crd) for crd in project_crds()] == [[] for _ in project_crds()]


def test_the_walk_notices_drift() -> None:
    # Guard against a comparison that passes by comparing nothing.
    drifted = yaml.safe_load(yaml.safe_dump(SPEC))
    drifted["properties"]["replicas"]["default"] = 4
    drifted["properties"]["election"]["properties"]["retryPeriodSeconds"]["minimum"] = 0
    drifted["properties"]["extra"] = {"type": "string"}
    schema, defs = model_schema(LeaderGroupSpec)
    problems: list[str] = []
    compare(drifted, schema, defs, "spec", problems)
    assert len(problems) == 3


def test_template_checks_follow_the_crd() -> None:
    containers = SPEC["properties"]["template"]["properties"]["spec"]["properties"]["containers"]
    assert containers["maxItems"] == MAX_CONTAINERS
    assert containers["items"]["properties"]["name"]["pattern"] == DNS1123_LABEL.pattern
    assert containers["items"]["required"] == ["name", "image"]


class TestNames:
    def test_api_coordinates_match_the_constants(self) -> None:
        names = CRD["spec"]["names"]
        assert CRD["spec"]["group"] == constants.GROUP
        assert VERSION["name"] == constants.VERSION
        assert (names["kind"], names["plural"], names["singular"]) == (
            constants.KIND,
            constants.PLURAL,
            constants.SINGULAR,
        )
        assert names["shortNames"] == [constants.SHORT_NAME]
        assert CRD["metadata"]["name"] == f"{constants.PLURAL}.{constants.GROUP}"
        assert CRD["spec"]["scope"] == "Namespaced"

    def test_printer_columns(self) -> None:
        columns = {column["name"]: column for column in VERSION["additionalPrinterColumns"]}
        assert [name.upper() for name in columns] == ["HOLDER", "READY", "STATUS", "TRANSITIONS", "AGE"]
        assert columns["Holder"]["jsonPath"] == ".status.holder"
        assert columns["Ready"]["jsonPath"] == ".status.ready"
        assert columns["Status"]["jsonPath"] == ".status.state"
        assert (columns["Transitions"]["jsonPath"], columns["Transitions"]["type"]) == (
            ".status.leaseTransitions",
            "integer",
        )
        assert (columns["Age"]["jsonPath"], columns["Age"]["type"]) == (".metadata.creationTimestamp", "date")

    def test_status_is_a_subresource(self) -> None:
        assert VERSION["subresources"]["status"] == {}


def walk(node: Schema, path: str = "") -> list[tuple[str, Schema]]:
    found = [(path, node)]
    for name, child in node.get("properties", {}).items():
        found += walk(child, f"{path}.{name}")
    if "items" in node:
        found += walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += walk(node["additionalProperties"], f"{path}{{}}")
    return found


class TestStructural:
    @pytest.mark.parametrize(("path", "node"), walk(ROOT), ids=lambda value: str(value)[:60])
    def test_every_node_is_typed_and_described(self, path: str, node: Schema) -> None:
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
        assert not {"$ref", "$defs", "definitions", "anyOf", "oneOf", "allOf"} & set(node), path
        assert not ("properties" in node and "additionalProperties" in node), path
        is_map_value = path.endswith("{}")
        if path not in ("", ".metadata") and not is_map_value:
            assert node.get("description"), f"{path} has no description for kubectl explain"

    def test_list_map_keys_are_required_or_defaulted(self) -> None:
        for path, node in walk(ROOT):
            if node.get("x-kubernetes-list-type") == "map":
                item = node["items"]
                for key in node["x-kubernetes-list-map-keys"]:
                    assert key in item.get("required", []) or "default" in item["properties"][key], (
                        path,
                        key,
                    )

    def test_strings_and_maps_that_cel_reads_are_bounded(self) -> None:
        # Unbounded inputs make the API server's CEL cost estimate exceed its budget.
        assert SPEC["properties"]["lockName"]["maxLength"] <= 253
        labels = SPEC["properties"]["template"]["properties"]["metadata"]["properties"]["labels"]
        assert labels["maxProperties"] and labels["additionalProperties"]["maxLength"]


def rules(node: Schema) -> dict[str, str]:
    return {rule["rule"]: rule["message"] for rule in node.get("x-kubernetes-validations", [])}


@functools.cache
def compiled(rule: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def evaluate(rule: str, **activation: Any) -> bool:
    program = compiled(rule)
    return bool(program.evaluate({key: json_to_cel(value) for key, value in activation.items()}))


class TestCelRules:
    def test_messages_are_the_models_words(self) -> None:
        assert sorted(rules(SPEC["properties"]["election"]).values()) == sorted(
            [LEASE_LONGER_THAN_RENEW_MESSAGE, RENEW_LONGER_THAN_RETRIES_MESSAGE]
        )
        assert list(rules(SPEC).values()) == [LOCK_NAME_IMMUTABLE_MESSAGE, ELECTOR_CONTAINER_MESSAGE]

    def test_every_rule_compiles(self) -> None:
        for _, node in walk(ROOT):
            for rule in rules(node):
                celpy.Environment().compile(rule)

    def test_election_rules_judge_timings_like_the_model(self) -> None:
        election_rules = rules(SPEC["properties"]["election"])
        for lease, renew, retry in itertools.product(range(1, 14), repeat=3):
            timings = {
                "leaseDurationSeconds": lease,
                "renewDeadlineSeconds": renew,
                "retryPeriodSeconds": retry,
            }
            admitted = all(evaluate(rule, self=timings) for rule in election_rules)
            try:
                ElectionSpec.model_validate(timings)
                accepted = True
            except ValueError:
                accepted = False
            assert admitted == accepted, timings

    @pytest.mark.parametrize(
        ("old", "new", "allowed"),
        [
            ({}, {}, True),
            ({"lockName": "a"}, {"lockName": "a"}, True),
            ({"lockName": "a"}, {"lockName": "b"}, False),
            ({}, {"lockName": "a"}, False),
            ({"lockName": "a"}, {}, False),
        ],
    )
    def test_lock_name_is_immutable(self, old: Schema, new: Schema, allowed: bool) -> None:
        rule = next(rule for rule in rules(SPEC) if "lockName" in rule)
        assert evaluate(rule, self=new, oldSelf=old) is allowed

    @pytest.mark.parametrize(
        ("failover", "allowed"),
        [
            ({}, True),
            ({"electorContainer": "app"}, True),
            ({"electorContainer": "elector"}, True),
            ({"electorContainer": "typo"}, False),
        ],
    )
    def test_elector_container_names_a_container(self, failover: Schema, allowed: bool) -> None:
        rule = next(rule for rule in rules(SPEC) if "electorContainer" in rule)
        containers = [{"name": "app", "image": "a"}, {"name": "elector", "image": "e"}]
        spec = {"failover": failover, "template": {"spec": {"containers": containers}}}
        assert evaluate(rule, self=spec) is allowed
        try:
            LeaderGroupSpec.model_validate(spec)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted is allowed, "the model agrees with the CRD"

    @pytest.mark.parametrize(
        ("name", "labels", "allowed"),
        [
            ("elector", None, True),
            ("elector", {"app": "x"}, True),
            ("elector", {"leadergroup.dev/group": "elector"}, True),
            ("elector", {"leadergroup.dev/group": "other"}, False),
            ("a" * 64, None, False),
        ],
    )
    def test_root_rules(self, name: str, labels: dict[str, str] | None, allowed: bool) -> None:
        template: Schema = {"spec": {}} if labels is None else {"metadata": {"labels": labels}, "spec": {}}
        obj = {"metadata": {"name": name}, "spec": {"template": template}}
        assert all(evaluate(rule, self=obj) for rule in rules(ROOT)) is allowed
