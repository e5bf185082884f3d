"""CRD schema admission: pruning, defaulting, OpenAPI validation and kube's exact error texts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from leadergroup.sim.field_errors import SchemaError, go_float, go_quote, invalid, required
from leadergroup.sim.schema import admit, unknown_fields

JsonDict = dict[str, Any]


def resource(spec: Any = None, **extra: Any) -> JsonDict:
    """A custom resource with the given spec (omitted when None)."""
    obj: JsonDict = {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}}
    if spec is not None:
        obj["spec"] = spec
    obj.update(extra)
    return obj


def root(spec_schema: JsonDict, **extra: Any) -> JsonDict:
    """A root schema whose spec is ``spec_schema``."""
    return {"type": "object", "properties": {"spec": spec_schema, **extra}}


def obj_schema(**properties: JsonDict) -> JsonDict:
    return {"type": "object", "properties": properties}


def causes_of(schema: JsonDict, obj: JsonDict, old: JsonDict | None = None) -> list[tuple[str, str, str]]:
    """The (field, message, reason) of every cause; fails the test when the object is admitted."""
    with pytest.raises(SchemaError) as caught:
        admit(schema, obj, old, kind="Widget", name="w")
    return [(cause.field, cause.message, cause.reason) for cause in caught.value.causes]


def only_cause(schema: JsonDict, obj: JsonDict, old: JsonDict | None = None) -> tuple[str, str, str]:
    causes = causes_of(schema, obj, old)
    assert len(causes) == 1, causes
    return causes[0]


class TestPruning:
    def test_unknown_fields_are_dropped_and_known_ones_kept(self) -> None:
        schema = root(obj_schema(size=obj_schema(min={"type": "integer"})))
        admitted = admit(
            schema,
            resource({"size": {"min": 1, "max": 2}, "colour": "red"}, extra=1),
            None,
            kind="Widget",
            name="w",
        )
        assert admitted["spec"] == {"size": {"min": 1}}
        assert "extra" not in admitted

    def test_root_type_meta_and_metadata_are_kept_untouched(self) -> None:
        metadata = {"name": "w", "labels": {"a": "b"}, "whatever": 1}
        admitted = admit(root(obj_schema()), resource({}, metadata=metadata), None, kind="Widget", name="w")
        assert admitted["metadata"] == metadata
        assert (admitted["apiVersion"], admitted["kind"]) == ("example.dev/v1", "Widget")

    def test_input_is_not_modified(self) -> None:
        obj = resource({"junk": {"deep": [1]}})
        before = copy.deepcopy(obj)
        admit(
            root({"type": "object", "properties": {"n": {"type": "integer", "default": 1}}}),
            obj,
            None,
            kind="Widget",
            name="w",
        )
        assert obj == before

    def test_preserve_unknown_fields_keeps_unknown_but_prunes_specified_properties(self) -> None:
        schema = root(
            {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"known": obj_schema(a={"type": "string"})},
            }
        )
        admitted = admit(
            schema,
            resource({"free": {"x": [1, {"y": 2}]}, "known": {"a": "s", "b": "t"}}),
            None,
            kind="Widget",
            name="w",
        )
        assert admitted["spec"] == {"free": {"x": [1, {"y": 2}]}, "known": {"a": "s"}}

    def test_embedded_resource_keeps_type_meta_and_object_meta_fields_only(self) -> None:
        schema = root(
            obj_schema(
                inner={
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"data": {"type": "string"}},
                }
            )
        )
        inner = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "bogus": 1},
            "data": "d",
            "other": 2,
        }
        admitted = admit(schema, resource({"inner": inner}), None, kind="Widget", name="w")
        assert admitted["spec"]["inner"] == {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c"},
            "data": "d",
        }

    def test_map_values_are_pruned_by_additional_properties(self) -> None:
        schema = root(
            obj_schema(
                byName={"type": "object", "additionalProperties": obj_schema(port={"type": "integer"})}
            )
        )
        admitted = admit(
            schema, resource({"byName": {"a": {"port": 1, "x": 2}}}), None, kind="Widget", name="w"
        )
        assert admitted["spec"]["byName"] == {"a": {"port": 1}}

    def test_unknown_fields_lists_pruned_paths_sorted(self) -> None:
        schema = root(obj_schema(items={"type": "array", "items": obj_schema(name={"type": "string"})}))
        paths = unknown_fields(schema, resource({"zeta": 1, "items": [{"name": "a", "bad": 1}]}, top=1))
        assert paths == ["spec.items[0].bad", "spec.zeta", "top"]


class TestNullsAndDefaults:
    def test_missing_fields_get_defaults_and_given_values_win(self) -> None:
        schema = root(
            obj_schema(replicas={"type": "integer", "default": 3}, mode={"type": "string", "default": "fast"})
        )
        admitted = admit(schema, resource({"mode": "slow"}), None, kind="Widget", name="w")
        assert admitted["spec"] == {"mode": "slow", "replicas": 3}

    def test_empty_object_default_creates_the_object_and_applies_nested_defaults(self) -> None:
        election = {
            "type": "object",
            "default": {},
            "properties": {
                "lease": {"type": "integer", "default": 15},
                "renew": {"type": "integer", "default": 10},
            },
        }
        admitted = admit(root(obj_schema(election=election)), resource({}), None, kind="Widget", name="w")
        assert admitted["spec"] == {"election": {"lease": 15, "renew": 10}}

    def test_defaults_apply_inside_list_items_and_map_values(self) -> None:
        port = obj_schema(port={"type": "integer"}, protocol={"type": "string", "default": "TCP"})
        schema = root(
            obj_schema(
                ports={"type": "array", "items": port}, named={"type": "object", "additionalProperties": port}
            )
        )
        admitted = admit(
            schema,
            resource({"ports": [{"port": 80}], "named": {"web": {"port": 8080}}}),
            None,
            kind="Widget",
            name="w",
        )
        assert admitted["spec"]["ports"] == [{"port": 80, "protocol": "TCP"}]
        assert admitted["spec"]["named"]["web"] == {"port": 8080, "protocol": "TCP"}

    def test_null_without_default_is_dropped_nullable_kept_defaulted_replaced(self) -> None:
        schema = root(
            obj_schema(
                plain={"type": "string"},
                nullable={"type": "string", "nullable": True},
                defaulted={"type": "string", "default": "d"},
            )
        )
        admitted = admit(
            schema,
            resource({"plain": None, "nullable": None, "defaulted": None}),
            None,
            kind="Widget",
            name="w",
        )
        assert admitted["spec"] == {"nullable": None, "defaulted": "d"}

    def test_null_list_item_is_a_type_error(self) -> None:
        schema = root(obj_schema(names={"type": "array", "items": {"type": "string"}}))
        assert only_cause(schema, resource({"names": ["a", None]})) == (
            "spec.names[1]",
            'Invalid value: "null": spec.names[1] in body must be of type string: "null"',
            "FieldValueTypeInvalid",
        )


class TestTypes:
    @pytest.mark.parametrize(
        ("declared", "value", "actual"),
        [
            ("integer", "3", "string"),
            ("integer", 1.5, "number"),
            ("integer", True, "boolean"),
            ("number", "1", "string"),
            ("string", 5, "integer"),
            ("boolean", "true", "string"),
            ("object", [1], "array"),
            ("array", {"a": 1}, "object"),
        ],
    )
    def test_wrong_type_is_reported_like_kube(self, declared: str, value: Any, actual: str) -> None:
        schema = root(obj_schema(field={"type": declared}))
        assert only_cause(schema, resource({"field": value})) == (
            "spec.field",
            f'Invalid value: "{actual}": spec.field in body must be of type {declared}: "{actual}"',
            "FieldValueTypeInvalid",
        )

    @pytest.mark.parametrize(("declared", "value"), [("integer", 2.0), ("number", 2), ("number", 2.5)])
    def test_integral_floats_are_integers_and_integers_are_numbers(self, declared: str, value: Any) -> None:
        admitted = admit(
            root(obj_schema(field={"type": declared})),
            resource({"field": value}),
            None,
            kind="Widget",
            name="w",
        )
        assert admitted["spec"]["field"] == value

    def test_int_or_string_accepts_both_and_rejects_others(self) -> None:
        schema = root(obj_schema(port={"x-kubernetes-int-or-string": True}))
        for value in (8080, "http"):
            assert (
                admit(schema, resource({"port": value}), None, kind="Widget", name="w")["spec"]["port"]
                == value
            )
        assert only_cause(schema, resource({"port": True})) == (
            "spec.port",
            'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
            "FieldValueTypeInvalid",
        )


class TestValueValidation:
    def test_required(self) -> None:
        schema = root({"type": "object", "required": ["template"], "properties": {"template": obj_schema()}})
        assert only_cause(schema, resource({})) == ("spec.template", "Required value", "FieldValueRequired")

    def test_required_at_the_root(self) -> None:
        schema = {"type": "object", "required": ["spec"], "properties": {"spec": obj_schema()}}
        assert only_cause(schema, resource()) == ("spec", "Required value", "FieldValueRequired")

    def test_enum(self) -> None:
        schema = root(
            obj_schema(mode={"type": "string", "enum": ["a", "b"]}, level={"type": "integer", "enum": [1, 2]})
        )
        assert causes_of(schema, resource({"mode": "c", "level": 3})) == [
            ("spec.mode", 'Unsupported value: "c": supported values: "a", "b"', "FieldValueNotSupported"),
            ("spec.level", 'Unsupported value: 3: supported values: "1", "2"', "FieldValueNotSupported"),
        ]

    @pytest.mark.parametrize(
        ("bounds", "value", "message"),
        [
            ({"minimum": 1}, -1, "Invalid value: -1: spec.n in body should be greater than or equal to 1"),
            (
                {"minimum": 1, "exclusiveMinimum": True},
                1,
                "Invalid value: 1: spec.n in body should be greater than 1",
            ),
            ({"maximum": 100}, 101, "Invalid value: 101: spec.n in body should be less than or equal to 100"),
            (
                {"maximum": 5, "exclusiveMaximum": True},
                5,
                "Invalid value: 5: spec.n in body should be less than 5",
            ),
            ({"multipleOf": 5}, 7, "Invalid value: 7: spec.n in body should be a multiple of 5"),
        ],
    )
    def test_numeric_bounds(self, bounds: JsonDict, value: int, message: str) -> None:
        schema = root(obj_schema(n={"type": "integer", **bounds}))
        assert only_cause(schema, resource({"n": value})) == ("spec.n", message, "FieldValueInvalid")

    def test_float_bounds_print_like_go(self) -> None:
        schema = root(obj_schema(ratio={"type": "number", "maximum": 1.5}))
        assert only_cause(schema, resource({"ratio": 2.25}))[1] == (
            "Invalid value: 2.25: spec.ratio in body should be less than or equal to 1.5"
        )

    def test_string_length_and_pattern(self) -> None:
        schema = root(
            obj_schema(
                long={"type": "string", "maxLength": 3},
                short={"type": "string", "minLength": 2},
                dns={"type": "string", "pattern": "^[a-z]+$"},
            )
        )
        assert causes_of(schema, resource({"long": "abcd", "short": "a", "dns": "A_1"})) == [
            ("spec.long", "Too long: may not be more than 3 bytes", "FieldValueTooLong"),
            (
                "spec.short",
                'Invalid value: "a": spec.short in body should be at least 2 chars long',
                "FieldValueInvalid",
            ),
            (
                "spec.dns",
                "Invalid value: \"A_1\": spec.dns in body should match '^[a-z]+$'",
                "FieldValueInvalid",
            ),
        ]

    def test_max_length_counts_characters_and_singular_byte(self) -> None:
        schema = root(obj_schema(one={"type": "string", "maxLength": 1}))
        assert admit(schema, resource({"one": "é"}), None, kind="Widget", name="w")["spec"]["one"] == "é"
        assert only_cause(schema, resource({"one": "ab"}))[1] == "Too long: may not be more than 1 byte"

    def test_item_and_property_counts(self) -> None:
        schema = root(
            obj_schema(
                few={"type": "array", "items": {"type": "integer"}, "minItems": 2},
                many={"type": "array", "items": {"type": "integer"}, "maxItems": 1},
                sparse={"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1},
                crowded={"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1},
            )
        )
        assert causes_of(
            schema, resource({"few": [1], "many": [1, 2], "sparse": {}, "crowded": {"a": "", "b": ""}})
        ) == [
            (
                "spec.few",
                "Invalid value: 1: spec.few in body should have at least 2 items",
                "FieldValueInvalid",
            ),
            ("spec.many", "Too many: 2: must have at most 1 item", "FieldValueTooMany"),
            (
                "spec.sparse",
                "Invalid value: 0: spec.sparse in body should have at least 1 properties",
                "FieldValueInvalid",
            ),
            ("spec.crowded", "Too many: 2: must have at most 1 item", "FieldValueTooMany"),
        ]

    def test_map_values_are_validated_with_dotted_paths(self) -> None:
        schema = root(
            obj_schema(labels={"type": "object", "additionalProperties": {"type": "string", "maxLength": 2}})
        )
        assert only_cause(schema, resource({"labels": {"app": "long"}}))[0] == "spec.labels.app"

    @pytest.mark.parametrize(
        ("format_name", "good", "bad"),
        [
            ("date-time", "2026-07-24T12:00:00.000000Z", "yesterday"),
            ("date", "2026-07-24", "2026-13-01"),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", "not-a-uuid"),
            ("ipv4", "10.0.0.1", "10.0.0.256"),
            ("ipv6", "fe80::1", "10.0.0.1"),
            ("cidr", "10.0.0.0/8", "10.0.0.0"),
            ("byte", "aGVsbG8=", "***"),
            ("k8s-short-name", "my-name", "My_Name"),
        ],
    )
    def test_formats(self, format_name: str, good: str, bad: str) -> None:
        schema = root(obj_schema(value={"type": "string", "format": format_name}))
        assert (
            admit(schema, resource({"value": good}), None, kind="Widget", name="w")["spec"]["value"] == good
        )
        assert only_cause(schema, resource({"value": bad})) == (
            "spec.value",
            f"Invalid value: {go_quote(bad)}: spec.value in body must be of type {format_name}: "
            f"{go_quote(bad)}",
            "FieldValueTypeInvalid",
        )

    def test_unknown_formats_are_not_checked(self) -> None:
        schema = root(obj_schema(value={"type": "string", "format": "my-own-format"}))
        assert admit(schema, resource({"value": "anything"}), None, kind="Widget", name="w")["spec"]["value"]

    def test_nullable_allows_null(self) -> None:
        schema = root(obj_schema(items={"type": "array", "items": {"type": "string", "nullable": True}}))
        assert admit(schema, resource({"items": [None]}), None, kind="Widget", name="w")["spec"]["items"] == [
            None
        ]

    def test_any_of_failure_is_a_nil_path_error_plus_the_branch_errors(self) -> None:
        schema = root(obj_schema(v={"anyOf": [{"type": "integer"}, {"type": "string"}]}))
        assert causes_of(schema, resource({"v": True})) == [
            (
                "<nil>",
                'Invalid value: "": "spec.v" must validate at least one schema (anyOf)',
                "FieldValueInvalid",
            ),
            (
                "spec.v",
                'Invalid value: "boolean": spec.v in body must be of type integer: "boolean"',
                "FieldValueTypeInvalid",
            ),
        ]


class TestListsAndEmbedded:
    def test_set_duplicates(self) -> None:
        schema = root(
            obj_schema(tags={"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"})
        )
        assert only_cause(schema, resource({"tags": ["a", "b", "a", "a"]})) == (
            "spec.tags[2]",
            'Duplicate value: "a"',
            "FieldValueDuplicate",
        )

    def test_set_of_numbers_does_not_confuse_true_and_one(self) -> None:
        schema = root(
            obj_schema(
                tags={
                    "type": "array",
                    "x-kubernetes-list-type": "set",
                    "items": {"x-kubernetes-preserve-unknown-fields": True},
                }
            )
        )
        assert admit(schema, resource({"tags": [1, True]}), None, kind="Widget", name="w")["spec"][
            "tags"
        ] == [1, True]

    def test_map_list_duplicate_keys(self) -> None:
        port = {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}
        schema = root(
            obj_schema(
                ports={
                    "type": "array",
                    "items": port,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                }
            )
        )
        assert only_cause(
            schema, resource({"ports": [{"name": "web", "port": 1}, {"name": "web", "port": 2}]})
        ) == ("spec.ports[1]", 'Duplicate value: {"name":"web"}', "FieldValueDuplicate")

    def test_list_invariant_broken_by_the_old_object_is_not_enforced(self) -> None:
        schema = root(
            obj_schema(tags={"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"})
        )
        old = resource({"tags": ["a", "a"]})
        assert admit(schema, resource({"tags": ["a", "a", "b"]}), old, kind="Widget", name="w")

    def test_embedded_resource_needs_api_version_and_kind(self) -> None:
        schema = root(
            obj_schema(
                inner={
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                }
            )
        )
        assert causes_of(schema, resource({"inner": {"metadata": {"name": "x"}}})) == [
            ("spec.inner.apiVersion", "Required value", "FieldValueRequired"),
            ("spec.inner.kind", "Required value", "FieldValueRequired"),
        ]


class TestRatcheting:
    def test_unchanged_invalid_field_passes_an_update_and_a_changed_one_fails(self) -> None:
        schema = root(obj_schema(name={"type": "string", "maxLength": 3}, size={"type": "integer"}))
        old = resource({"name": "toolong", "size": 1})
        assert admit(schema, resource({"name": "toolong", "size": 2}), old, kind="Widget", name="w")
        assert only_cause(schema, resource({"name": "toolong!", "size": 2}), old)[0] == "spec.name"

    def test_map_list_items_ratchet_by_key(self) -> None:
        item = {
            "type": "object",
            "properties": {"name": {"type": "string"}, "port": {"type": "integer", "maximum": 10}},
        }
        schema = root(
            obj_schema(
                ports={
                    "type": "array",
                    "items": item,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                }
            )
        )
        old = resource({"ports": [{"name": "a", "port": 99}]})
        reordered = resource({"ports": [{"name": "b", "port": 1}, {"name": "a", "port": 99}]})
        assert admit(schema, reordered, old, kind="Widget", name="w")

    def test_atomic_list_items_do_not_ratchet_individually(self) -> None:
        schema = root(obj_schema(ports={"type": "array", "items": {"type": "integer", "maximum": 10}}))
        old = resource({"ports": [99]})
        assert only_cause(schema, resource({"ports": [1, 99]}), old)[0] == "spec.ports[1]"


class TestMessages:
    def test_single_cause_message(self) -> None:
        error = SchemaError(
            [invalid("spec.replicas", -1, "spec.replicas in body should be greater than or equal to 1")]
        )
        assert error.message("LeaderGroup", "leadergroup.dev", "x") == (
            'LeaderGroup.leadergroup.dev "x" is invalid: spec.replicas: Invalid value: -1: '
            "spec.replicas in body should be greater than or equal to 1"
        )

    def test_several_causes_are_bracketed_and_deduplicated(self) -> None:
        error = SchemaError([required("spec.a"), required("spec.b"), required("spec.a")])
        assert error.message("Widget", "", "w") == (
            'Widget "w" is invalid: [spec.a: Required value, spec.b: Required value]'
        )

    def test_blocking_error_skips_rules_with_kubes_note(self) -> None:
        schema = root(
            {
                "type": "object",
                "required": ["n"],
                "properties": {"n": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.n > 0"}],
            }
        )
        assert causes_of(schema, resource({})) == [
            ("spec.n", "Required value", "FieldValueRequired"),
            (
                "<nil>",
                "Invalid value: null: some validation rules were not checked because the object was invalid; "
                "correct the existing errors to complete validation",
                "FieldValueInvalid",
            ),
        ]

    def test_non_blocking_error_still_runs_rules(self) -> None:
        schema = root(
            {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 5}},
                "x-kubernetes-validations": [{"rule": "self.n > 3", "message": "n must exceed 3"}],
            }
        )
        assert [cause[0] for cause in causes_of(schema, resource({"n": 1}))] == ["spec.n", "spec"]

    @pytest.mark.parametrize(
        ("number", "text"), [(1.0, "1"), (1.5, "1.5"), (1e21, "1e+21"), (-2.0, "-2"), (1e-7, "1e-07")]
    )
    def test_go_float_formatting(self, number: float, text: str) -> None:
        assert go_float(number) == text

    def test_go_quote_escapes_like_strconv_quote(self) -> None:
        assert go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'
