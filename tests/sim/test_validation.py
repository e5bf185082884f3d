"""ObjectMeta validation on every kind, Lease spec validation and CEL rules checked when a CRD is written."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.sim.conftest import CRD_PATH, LEASES, WIDGETS, Api, lease, widget, widget_crd

from leadergroup.sim import Emulator

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
QUALIFIED_NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def owner(name: str = "o", uid: str = "1234", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": uid, **extra}


async def causes_of(api: Api, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    reply = await api.post(path, body)
    assert reply.status == 422, reply.body
    assert reply.body["reason"] == "Invalid"
    causes: list[dict[str, Any]] = reply.body["details"]["causes"]
    return causes


async def test_invalid_label_key_and_value(api: Api) -> None:
    causes = await causes_of(
        api, CONFIGMAPS, {"metadata": {"name": "c", "labels": {"bad key": "ok", "app": "x" * 64}}}
    )
    assert causes == [
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.labels",
            "message": f'Invalid value: "{"x" * 64}": must be no more than 63 characters',
        },
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.labels",
            "message": f'Invalid value: "bad key": name part {QUALIFIED_NAME_RULE}',
        },
    ]


async def test_invalid_label_value_characters(api: Api) -> None:
    causes = await causes_of(api, LEASES, lease("a", labels={"app": "-x-"}))
    assert causes == [
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.labels",
            "message": f'Invalid value: "-x-": {LABEL_VALUE_RULE}',
        }
    ]


async def test_label_key_prefix_must_be_a_dns_subdomain(api: Api) -> None:
    causes = await causes_of(api, LEASES, lease("a", labels={"Example.com/app": "x"}))
    assert [cause["message"] for cause in causes] == [
        'Invalid value: "Example.com/app": prefix part a lowercase RFC 1123 subdomain must consist of lower '
        "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'example.com', regex used for validation is "
        r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ]


async def test_valid_labels_and_annotations_are_accepted(api: Api) -> None:
    metadata = {
        "name": "c",
        "labels": {"app.kubernetes.io/name": "x", "empty": "", "a": "A_b.c-1"},
        "annotations": {"Example.com/Key": "anything at all: ü", "kopf.zalando.org/last-handled": "{}"},
    }
    assert (await api.post(CONFIGMAPS, {"metadata": metadata})).status == 201


async def test_invalid_annotation_key(api: Api) -> None:
    causes = await causes_of(api, CONFIGMAPS, {"metadata": {"name": "c", "annotations": {"a/b/c": "x"}}})
    assert causes[0]["field"] == "metadata.annotations"
    assert causes[0]["message"].startswith('Invalid value: "a/b/c": a qualified name must consist of')


async def test_annotations_are_limited_to_256_kib_in_total(api: Api) -> None:
    annotations = {"a": "x" * (128 * 1024), "b": "x" * (128 * 1024)}
    causes = await causes_of(api, CONFIGMAPS, {"metadata": {"name": "c", "annotations": annotations}})
    assert causes == [
        {
            "reason": "FieldValueTooLong",
            "field": "metadata.annotations",
            "message": "Too long: may not be more than 262144 bytes",
        }
    ]
    annotations["b"] = "x" * (128 * 1024 - 2)  # exactly at the limit, keys included
    assert (await api.post(CONFIGMAPS, {"metadata": {"name": "c", "annotations": annotations}})).status == 201


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("uid", 'Invalid value: "": must not be empty'),
        ("name", 'Invalid value: "": must not be empty'),
        ("kind", 'Invalid value: "": must not be empty'),
        ("apiVersion", 'Invalid value: "": version must not be empty'),
    ],
)
async def test_owner_reference_fields_are_required(api: Api, missing: str, message: str) -> None:
    reference = owner()
    del reference[missing]
    causes = await causes_of(api, CONFIGMAPS, {"metadata": {"name": "c", "ownerReferences": [reference]}})
    # kube's path has no list index here.
    assert causes == [
        {"reason": "FieldValueInvalid", "field": f"metadata.ownerReferences.{missing}", "message": message}
    ]


async def test_only_one_owner_reference_may_be_the_controller(api: Api) -> None:
    references = [owner("a", "1", controller=True), owner("b", "2", controller=True)]
    causes = await causes_of(api, CONFIGMAPS, {"metadata": {"name": "c", "ownerReferences": references}})
    assert len(causes) == 1 and causes[0]["field"] == "metadata.ownerReferences"
    assert causes[0]["message"].endswith(
        'Only one reference can have Controller set to true. Found "true" in references for ConfigMap/a and '
        "ConfigMap/b"
    )
    assert causes[0]["message"].startswith('Invalid value: [{"apiVersion":"v1","kind":"ConfigMap","name":"a"')


async def test_core_events_cannot_own_objects(api: Api) -> None:
    reference = {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "1"}
    causes = await causes_of(api, CONFIGMAPS, {"metadata": {"name": "c", "ownerReferences": [reference]}})
    assert causes[0]["message"].endswith("/v1, Kind=Event is disallowed from being an owner")


async def test_invalid_finalizer_name(api: Api) -> None:
    causes = await causes_of(api, CONFIGMAPS, {"metadata": {"name": "c", "finalizers": ["not valid"]}})
    assert causes[0]["field"] == "metadata.finalizers"


async def test_metadata_is_validated_on_updates_and_for_custom_resources(
    emulator: Emulator, api: Api
) -> None:
    emulator.load_crds(widget_crd())
    await api.ok("POST", WIDGETS, widget("w"))
    reply = await api.patch(f"{WIDGETS}/w", {"metadata": {"labels": {"a": "b c"}}})
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "metadata.labels"
    assert reply.body["message"].startswith(
        'Widget.example.com "w" is invalid: metadata.labels: Invalid value'
    )
    reply = await api.post(WIDGETS, widget("v", metadata={"name": "v", "ownerReferences": [{"uid": "1"}]}))
    assert reply.status == 422


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"leaseDurationSeconds": 0},
            "spec.leaseDurationSeconds",
            "Invalid value: 0: must be greater than 0",
        ),
        (
            {"leaseTransitions": -1},
            "spec.leaseTransitions",
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            {"preferredHolder": "x"},
            "spec.preferredHolder",
            "Forbidden: may only be specified if `strategy` is defined",
        ),
        (
            {"strategy": "Newest"},
            "spec.strategy.strategy",
            'Unsupported value: "Newest": supported values: "OldestEmulationVersion"',
        ),
    ],
)
async def test_lease_spec_validation(api: Api, spec: dict[str, Any], field: str, message: str) -> None:
    body = {"metadata": {"name": "a"}, "spec": {"holderIdentity": "x", **spec}}
    assert await causes_of(api, LEASES, body) == [
        {"reason": message_reason(message), "field": field, "message": message}
    ]


def message_reason(message: str) -> str:
    return {
        "Invalid value": "FieldValueInvalid",
        "Forbidden": "FieldValueForbidden",
        "Unsupported value": "FieldValueNotSupported",
    }[message.split(":")[0]]


async def test_lease_spec_is_validated_on_update(api: Api) -> None:
    created = await api.ok("POST", LEASES, {"metadata": {"name": "a"}, "spec": {"leaseDurationSeconds": 15}})
    reply = await api.patch(f"{LEASES}/a", {"spec": {"leaseDurationSeconds": -5}})
    assert reply.status == 422
    assert reply.body["message"] == (
        'Lease.coordination.k8s.io "a" is invalid: spec.leaseDurationSeconds: Invalid value: -5: '
        "must be greater than 0"
    )
    current = await api.ok("GET", f"{LEASES}/a")
    assert current["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def crd_with_rule(rule: dict[str, Any]) -> dict[str, Any]:
    crd = widget_crd()
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["x-kubernetes-validations"] = [rule]
    return crd


async def test_crd_with_a_rule_that_does_not_compile_is_invalid(api: Api) -> None:
    reply = await api.post(CRD_PATH, crd_with_rule({"rule": "self.size >", "message": "m"}))
    assert reply.status == 422
    cause = reply.body["details"]["causes"][0]
    assert cause["field"] == (
        "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    )
    assert cause["message"].startswith(
        'Invalid value: {"Rule":"self.size \\u003e","Message":"m","MessageExpression":"","Reason":null,'
        '"FieldPath":"","OptionalOldSelf":null}: compilation failed'
    )
    assert (await api.get(f"{CRD_PATH}/widgets.example.com")).status == 404
    assert (await api.get(WIDGETS)).status == 404  # not served


async def test_crd_with_a_bad_message_expression_or_field_path_is_invalid(api: Api) -> None:
    reply = await api.post(CRD_PATH, crd_with_rule({"rule": "true", "messageExpression": "'a' +"}))
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"].endswith(
        "x-kubernetes-validations[0].messageExpression"
    )
    reply = await api.post(CRD_PATH, crd_with_rule({"rule": "true", "fieldPath": ".nope"}))
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"].endswith("x-kubernetes-validations[0].fieldPath")


async def test_crd_update_with_a_rule_that_does_not_compile_is_invalid(emulator: Emulator, api: Api) -> None:
    stored = emulator.load_crds(crd_with_rule({"rule": "self.size >= 0"}))[0]
    broken = copy.deepcopy(stored)
    spec_schema = broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["x-kubernetes-validations"] = [{"rule": "self.size >= )"}]
    reply = await api.put(f"{CRD_PATH}/widgets.example.com", broken)
    assert reply.status == 422
    current = await api.ok("GET", f"{CRD_PATH}/widgets.example.com")
    assert current["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


async def test_crd_with_a_rule_selecting_an_undefined_field_is_invalid(api: Api) -> None:
    reply = await api.post(CRD_PATH, crd_with_rule({"rule": "self.nothing > 1"}))
    assert reply.status == 422
    (cause,) = reply.body["details"]["causes"]
    assert (
        cause["field"] == "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    )
    assert cause["message"].endswith(
        "compilation failed: ERROR: <input>:1:5: undefined field 'nothing'\n | self.nothing > 1\n | ....^"
    )


async def test_crd_with_an_untyped_object_or_a_mistyped_default_is_invalid(api: Api) -> None:
    untyped = crd_with_rule({"rule": "true"})
    spec = untyped["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    del spec["type"]
    reply = await api.post(CRD_PATH, untyped)
    assert reply.status == 422 and reply.body["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "field": "spec.validation.openAPIV3Schema.properties[spec].type",
            "message": "Required value: must not be empty for specified object fields",
        }
    ]
    mistyped = crd_with_rule({"rule": "true"})
    spec = mistyped["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["size"]["default"] = "x"
    reply = await api.post(CRD_PATH, mistyped)
    assert reply.status == 422 and reply.body["details"]["causes"][0]["field"] == (
        "spec.validation.openAPIV3Schema.properties[spec].properties[size].default"
    )
