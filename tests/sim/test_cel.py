"""CEL rules (x-kubernetes-validations) as kube-apiserver evaluates and reports them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from leadergroup.sim.cel import CelRuleError, check_rules, compile_expression
from leadergroup.sim.field_errors import SchemaError
from leadergroup.sim.schema import admit

JsonDict = dict[str, Any]
CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "leadergroup.yaml"


def resource(spec: Any, name: str = "w", **metadata: Any) -> JsonDict:
    return {
        "apiVersion": "example.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name, **metadata},
        "spec": spec,
    }


def with_rules(rules: list[JsonDict], **properties: JsonDict) -> JsonDict:
    """A root schema whose spec has ``properties`` and carries ``rules``."""
    return {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": properties, "x-kubernetes-validations": rules}
        },
    }


def causes_of(schema: JsonDict, obj: JsonDict, old: JsonDict | None = None) -> list[tuple[str, str, str]]:
    with pytest.raises(SchemaError) as caught:
        admit(schema, obj, old, kind="Widget", name=obj["metadata"]["name"])
    return [(cause.field, cause.message, cause.reason) for cause in caught.value.causes]


def admitted(schema: JsonDict, obj: JsonDict, old: JsonDict | None = None) -> JsonDict:
    return admit(schema, obj, old, kind="Widget", name=obj["metadata"]["name"])


INT = {"type": "integer"}
STRING = {"type": "string"}


class TestFailures:
    def test_object_rule_failure_omits_the_value(self) -> None:
        schema = with_rules([{"rule": "self.a > self.b", "message": "a must exceed b"}], a=INT, b=INT)
        assert causes_of(schema, resource({"a": 1, "b": 2})) == [
            ("spec", "Invalid value: a must exceed b", "FieldValueInvalid")
        ]
        assert admitted(schema, resource({"a": 3, "b": 2}))["spec"] == {"a": 3, "b": 2}

    def test_scalar_rule_failure_prints_the_value(self) -> None:
        schema = with_rules(
            [],
            name={
                "type": "string",
                "x-kubernetes-validations": [
                    {"rule": "self.startsWith('lg-')", "message": "must start with lg-"}
                ],
            },
        )
        assert causes_of(schema, resource({"name": "x"})) == [
            ("spec.name", 'Invalid value: "x": must start with lg-', "FieldValueInvalid")
        ]

    def test_default_message_names_the_rule(self) -> None:
        schema = with_rules([{"rule": "  self.a == 1  "}], a=INT)
        assert causes_of(schema, resource({"a": 2}))[0][1] == "Invalid value: failed rule: self.a == 1"

    def test_message_expression_wins_and_falls_back_to_message_when_it_fails(self) -> None:
        schema = with_rules(
            [
                {"rule": "self.a < 10", "messageExpression": "'a is ' + string(self.a)", "message": "static"},
                {"rule": "self.a < 5", "messageExpression": "self.missing", "message": "static fallback"},
            ],
            a=INT,
        )
        assert [cause[1] for cause in causes_of(schema, resource({"a": 12}))] == [
            "Invalid value: a is 12",
            "Invalid value: static fallback",
        ]

    def test_field_path_and_reasons(self) -> None:
        schema = with_rules(
            [
                {
                    "rule": "self.a > 0",
                    "message": "positive",
                    "fieldPath": ".a",
                    "reason": "FieldValueForbidden",
                },
                {
                    "rule": "has(self.b)",
                    "message": "b is needed",
                    "fieldPath": ".b",
                    "reason": "FieldValueRequired",
                },
                {"rule": "false", "reason": "FieldValueDuplicate"},
                {"rule": "false", "message": "m", "fieldPath": ".labels['app.kubernetes.io/name']"},
            ],
            a=INT,
            b=INT,
            labels={"type": "object", "additionalProperties": STRING},
        )
        assert causes_of(schema, resource({"a": 0})) == [
            ("spec.a", "Forbidden: positive", "FieldValueForbidden"),
            ("spec.b", "Required value: b is needed", "FieldValueRequired"),
            ("spec", "Duplicate value", "FieldValueDuplicate"),
            ("spec.labels[app.kubernetes.io/name]", "Invalid value: m", "FieldValueInvalid"),
        ]

    def test_runtime_errors_are_reported_with_the_type_and_the_rule(self) -> None:
        schema = with_rules(
            [{"rule": "self.missing > 1"}, {"rule": "self.a / 0 > 1", "message": "div"}], a=INT
        )
        assert causes_of(schema, resource({"a": 1})) == [
            (
                "spec",
                'Invalid value: "object": no such key: missing evaluating rule: self.missing > 1',
                "FieldValueInvalid",
            ),
            ("spec", 'Invalid value: "object": division by zero evaluating rule: div', "FieldValueInvalid"),
        ]

    def test_rules_on_list_items_and_map_values_get_their_paths(self) -> None:
        positive = {
            "type": "integer",
            "x-kubernetes-validations": [{"rule": "self > 0", "message": "positive"}],
        }
        schema = with_rules(
            [],
            items={"type": "array", "items": positive},
            byName={"type": "object", "additionalProperties": positive},
        )
        assert causes_of(schema, resource({"items": [1, -1], "byName": {"x": 0}})) == [
            ("spec.items[1]", "Invalid value: -1: positive", "FieldValueInvalid"),
            ("spec.byName[x]", "Invalid value: 0: positive", "FieldValueInvalid"),
        ]

    def test_null_values_are_not_validated(self) -> None:
        nullable = {"type": "string", "nullable": True, "x-kubernetes-validations": [{"rule": "self == 'x'"}]}
        assert admitted(with_rules([], v=nullable), resource({"v": None}))["spec"] == {"v": None}


class TestRootAndTypes:
    def test_root_rules_see_name_but_not_namespace(self) -> None:
        schema = {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.metadata.name.startsWith('ok')", "message": "bad name"},
                {"rule": "self.metadata.namespace == 'default'"},
            ],
        }
        causes = causes_of(schema, resource({}, name="no", namespace="default"))
        assert causes == [
            ("<nil>", "Invalid value: bad name", "FieldValueInvalid"),
            (
                "<nil>",
                'Invalid value: "object": no such key: namespace evaluating rule: '
                "self.metadata.namespace == 'default'",
                "FieldValueInvalid",
            ),
        ]

    def test_numbers_are_doubles_and_date_times_are_timestamps(self) -> None:
        schema = with_rules(
            [
                {"rule": "self.ratio == 2.0", "message": "ratio"},
                {"rule": "self.since < timestamp('2030-01-01T00:00:00Z')", "message": "since"},
            ],
            ratio={"type": "number"},
            since={"type": "string", "format": "date-time"},
        )
        assert admitted(schema, resource({"ratio": 2, "since": "2026-07-24T12:00:00.000000Z"}))
        assert [c[1] for c in causes_of(schema, resource({"ratio": 3, "since": "2031-01-01T00:00:00Z"}))] == [
            "Invalid value: ratio",
            "Invalid value: since",
        ]

    @pytest.mark.parametrize(
        "rule",
        [
            "self.s.lowerAscii() == 'abc'",
            "self.s.upperAscii() == 'ABC'",
            "self.s.split('b') == ['A', 'c']",
            "self.s.substring(1) == 'bc'",
            "self.s.indexOf('c') == 2",
            "self.l.isSorted() && self.l.sum() == 6",
            "self.l.max() == 3 && self.l.min() == 1",
            "['x', 'y'].join('-') == 'x-y'",
            "' a '.trim() == 'a'",
            "self.s.replace('b', '') == 'Ac'",
            "self.s.matches('^A') && self.s.contains('b') && self.s.endsWith('c')",
            "self.l.all(x, x > 0) && self.l.exists(x, x == 2) && size(self.l) == 3 && 2 in self.l",
            "has(self.s) && !has(self.missing)",
        ],
    )
    def test_kube_library_functions(self, rule: str) -> None:
        schema = with_rules([{"rule": rule}], s=STRING, l={"type": "array", "items": INT}, missing=STRING)
        assert admitted(schema, resource({"s": "Abc", "l": [1, 2, 3]}))

    def test_default_values_are_visible_to_rules(self) -> None:
        schema = with_rules([{"rule": "self.n == 3", "message": "n"}], n={"type": "integer", "default": 3})
        assert admitted(schema, resource({}))["spec"] == {"n": 3}


class TestTransitionRules:
    IMMUTABLE = with_rules(
        [],
        lock={
            "type": "string",
            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "lock is immutable"}],
        },
    )

    def test_transition_rules_are_skipped_on_create_and_enforced_on_update(self) -> None:
        old = admitted(self.IMMUTABLE, resource({"lock": "a"}))
        assert admitted(self.IMMUTABLE, resource({"lock": "a"}), old)
        assert causes_of(self.IMMUTABLE, resource({"lock": "b"}), old) == [
            ("spec.lock", 'Invalid value: "b": lock is immutable', "FieldValueInvalid")
        ]

    def test_transition_rules_are_skipped_when_the_field_is_new(self) -> None:
        assert admitted(self.IMMUTABLE, resource({"lock": "b"}), resource({}))

    def test_optional_old_self_runs_on_create(self) -> None:
        schema = with_rules(
            [],
            lock={
                "type": "string",
                "x-kubernetes-validations": [
                    {
                        "rule": "oldSelf.hasValue() ? self == oldSelf.value() : self.startsWith('new-')",
                        "optionalOldSelf": True,
                        "message": "m",
                    }
                ],
            },
        )
        assert causes_of(schema, resource({"lock": "x"}))[0][0] == "spec.lock"
        assert admitted(schema, resource({"lock": "new-x"}))
        assert admitted(schema, resource({"lock": "new-x"}), resource({"lock": "new-x"}))
        assert (
            causes_of(schema, resource({"lock": "new-y"}), resource({"lock": "new-x"}))[0][0] == "spec.lock"
        )

    def test_map_list_items_correlate_with_old_items_by_key(self) -> None:
        item = {
            "type": "object",
            "properties": {"name": STRING, "port": INT},
            "x-kubernetes-validations": [{"rule": "self.port == oldSelf.port", "message": "port is fixed"}],
        }
        schema = with_rules(
            [],
            ports={
                "type": "array",
                "items": item,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
        )
        old = resource({"ports": [{"name": "a", "port": 1}]})
        assert admitted(
            schema, resource({"ports": [{"name": "b", "port": 9}, {"name": "a", "port": 1}]}), old
        )
        assert causes_of(
            schema, resource({"ports": [{"name": "b", "port": 9}, {"name": "a", "port": 2}]}), old
        ) == [("spec.ports[1]", "Invalid value: port is fixed", "FieldValueInvalid")]

    def test_unchanged_values_ratchet_rules_without_old_self(self) -> None:
        schema = with_rules(
            [],
            limit={
                "type": "integer",
                "x-kubernetes-validations": [{"rule": "self < 10", "message": "small"}],
            },
            other=INT,
        )
        old = resource({"limit": 50, "other": 1})
        assert admitted(schema, resource({"limit": 50, "other": 2}), old)
        assert causes_of(schema, resource({"limit": 51, "other": 2}), old)[0][0] == "spec.limit"


class TestBrokenRules:
    @pytest.mark.parametrize("rule", ["self.a ==", "self.?a", "self.a.noSuchFunction()", "self.a + 1"])
    def test_rules_kube_would_refuse_raise(self, rule: str) -> None:
        schema = with_rules([{"rule": rule}], a=INT)
        with pytest.raises(CelRuleError):
            admitted(schema, resource({"a": 1}))

    def test_check_rules_reports_bad_field_paths(self) -> None:
        with pytest.raises(CelRuleError, match="does not refer to a valid field"):
            check_rules(with_rules([{"rule": "true", "fieldPath": ".nope"}], a=INT))

    def test_programs_are_compiled_once_per_rule_text(self) -> None:
        assert compile_expression("self.a > 1") is compile_expression("self.a > 1")


@pytest.fixture(scope="module")
def schema() -> JsonDict:
    """The LeaderGroup CRD's schema; all its rules compile."""
    crd = yaml.safe_load(CRD_PATH.read_text())
    version: JsonDict = crd["spec"]["versions"][0]
    openapi: JsonDict = version["schema"]["openAPIV3Schema"]
    check_rules(openapi)
    return openapi


@pytest.mark.skipif(not CRD_PATH.exists(), reason="crds/leadergroup.yaml not written yet")
class TestLeaderGroupCrd:
    @staticmethod
    def group(spec: JsonDict, name: str = "elector") -> JsonDict:
        template = {"spec": {"containers": [{"name": "app", "image": "example/app:1"}]}}
        return {
            "apiVersion": "leadergroup.dev/v1alpha1",
            "kind": "LeaderGroup",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": template, **spec},
        }

    def admit(self, schema: JsonDict, obj: JsonDict, old: JsonDict | None = None) -> JsonDict:
        return admit(schema, obj, old, kind="LeaderGroup", name=obj["metadata"]["name"])

    def test_defaults(self, schema: JsonDict) -> None:
        spec = self.admit(schema, self.group({}))["spec"]
        assert spec["replicas"] == 3
        assert spec["election"] == {
            "leaseDurationSeconds": 15,
            "renewDeadlineSeconds": 10,
            "retryPeriodSeconds": 2,
        }

    @pytest.mark.parametrize(
        ("election", "phrase"),
        [
            (
                {"leaseDurationSeconds": 10, "renewDeadlineSeconds": 10},
                "leaseDurationSeconds must be greater",
            ),
            (
                {"renewDeadlineSeconds": 6, "retryPeriodSeconds": 5},
                "renewDeadlineSeconds must be greater than 1.2",
            ),
        ],
    )
    def test_election_timing_rules(self, schema: JsonDict, election: JsonDict, phrase: str) -> None:
        with pytest.raises(SchemaError) as caught:
            self.admit(schema, self.group({"election": election}))
        [cause] = caught.value.causes
        assert cause.field == "spec.election"
        assert cause.message.startswith(f"Invalid value: {phrase}")
        assert 'LeaderGroup.leadergroup.dev "elector" is invalid: spec.election: Invalid value: ' in (
            caught.value.message("LeaderGroup", "leadergroup.dev", "elector")
        )

    def test_lock_name_is_immutable(self, schema: JsonDict) -> None:
        old = self.admit(schema, self.group({"lockName": "test"}))
        assert (
            self.admit(schema, self.group({"lockName": "test", "replicas": 5}), old)["spec"]["replicas"] == 5
        )
        with pytest.raises(SchemaError) as caught:
            self.admit(schema, self.group({"lockName": "other"}), old)
        assert [cause.field for cause in caught.value.causes] == ["spec"]
        assert "lockName is immutable" in caught.value.causes[0].message

    def test_replicas_bounds(self, schema: JsonDict) -> None:
        with pytest.raises(SchemaError) as caught:
            self.admit(schema, self.group({"replicas": 0}))
        assert [(cause.field, cause.message) for cause in caught.value.causes] == [
            ("spec.replicas", "Invalid value: 0: spec.replicas in body should be greater than or equal to 1")
        ]
