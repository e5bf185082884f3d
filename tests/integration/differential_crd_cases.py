"""Differential cases of CustomResourceDefinitions, custom resources and the invalid-LeaderGroup corpus.

The cases' CRD is ``widgets.{group}``: a group of each case's own, since CRDs are cluster-scoped.
"""

from __future__ import annotations

from typing import Any

import yaml
from tests.integration.differential_cases import (
    CRDS_PATH,
    LEADERGROUPS,
    MERGE,
    REPO,
    STRATEGIC,
    WIDGETS,
    Case,
    Step,
)


def _widget_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "x-kubernetes-validations": [
                    {"rule": "self.size <= self.limit", "message": "size must not exceed limit"}
                ],
                "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "limit": {"type": "integer", "default": 10},
                    "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            },
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
        },
    }


def widget_crd(schema: dict[str, Any] | None = None, **version: Any) -> dict[str, Any]:
    """The cases' CRD: ``widgets.{group}``, namespaced, with a status subresource."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.{group}"},
        "spec": {
            "group": "{group}",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": schema or _widget_schema()},
                    **version,
                }
            ],
        },
    }


def _with_spec_property(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    schema = _widget_schema()
    schema["properties"]["spec"]["properties"][name] = prop
    return widget_crd(schema)


def widget(name: str = "w", **spec: Any) -> dict[str, Any]:
    """A Widget of the case's group."""
    return {
        "apiVersion": "{group}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": 1, **spec},
    }


CREATE_CRD = Step("POST", CRDS_PATH, widget_crd())


def crd_cases() -> list[Case]:
    breaking_default = _widget_schema()
    breaking_default["properties"]["spec"]["default"] = {"size": 20}
    not_compiling = _widget_schema()
    not_compiling["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "self.size >"}]
    unknown_field_rule = _widget_schema()
    unknown_field_rule["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "self.nothing > 1"}]
    no_type = _widget_schema()
    del no_type["properties"]["spec"]["type"]
    wrong_name = widget_crd()
    wrong_name["metadata"]["name"] = "gadgets.{group}"
    no_storage = widget_crd(storage=False)
    return [
        Case("crd-valid", (), CREATE_CRD, ("status", "reason", "body:spec.names")),
        Case(
            "crd-established",
            (CREATE_CRD,),
            Step("GET", CRDS_PATH + "/widgets.{group}"),
            ("status", "body:status.acceptedNames", "body:status.storedVersions"),
        ),
        Case(
            "crd-default-breaks-cel",
            (),
            Step("POST", CRDS_PATH, widget_crd(breaking_default)),
            ("status", "reason", "causes"),
        ),
        Case(
            "crd-rule-does-not-compile",
            (),
            Step("POST", CRDS_PATH, widget_crd(not_compiling)),
            ("status", "reason", "fields"),
        ),
        Case(
            "crd-rule-names-unknown-field",
            (),
            Step("POST", CRDS_PATH, widget_crd(unknown_field_rule)),
            ("status", "reason", "fields"),
        ),
        Case(
            "crd-structural-missing-type",
            (),
            Step("POST", CRDS_PATH, widget_crd(no_type)),
            ("status", "reason", "causes"),
        ),
        Case(
            "crd-default-wrong-type",
            (),
            Step("POST", CRDS_PATH, _with_spec_property("count", {"type": "integer", "default": "x"})),
            ("status", "reason", "fields"),
        ),
        Case("crd-name-mismatch", (), Step("POST", CRDS_PATH, wrong_name), ("status", "reason", "causes")),
        Case(
            # The message prints kube's internal Go struct of the versions: not worth copying.
            "crd-no-storage-version",
            (),
            Step("POST", CRDS_PATH, no_storage),
            ("status", "reason", "fields"),
        ),
    ]


def custom_resource_cases() -> list[Case]:
    crd = (CREATE_CRD,)
    return [
        Case("cr-defaults", crd, Step("POST", WIDGETS, widget()), ("status", "body:spec"), needs_crd=True),
        Case(
            "cr-cel-rule",
            crd,
            Step("POST", WIDGETS, widget(size=11)),
            ("status", "reason", "causes"),
            needs_crd=True,
        ),
        Case(
            "cr-schema-errors",
            crd,
            Step("POST", WIDGETS, widget(size=0, color="green", tags=["a", "b", "c"])),
            ("status", "reason", "fields"),
            needs_crd=True,
        ),
        Case(
            "cr-wrong-type",
            crd,
            Step("POST", WIDGETS, widget(size="big")),
            ("status", "reason", "causes"),
            needs_crd=True,
        ),
        Case(
            "cr-preserve-unknown",
            crd,
            Step("POST", WIDGETS, widget(free={"any": {"thing": 1}})),
            ("status", "body:spec.free"),
            needs_crd=True,
        ),
        Case(
            "cr-status-ignored-on-create",
            crd,
            Step("POST", WIDGETS, {**widget(), "status": {"phase": "Up"}}),
            ("status", "body:status"),
            needs_crd=True,
        ),
        Case(
            "cr-status-subresource-only-status",
            (*crd, Step("POST", WIDGETS, widget())),
            Step(
                "PATCH",
                WIDGETS + "/w/status",
                {"spec": {"size": 5}, "status": {"phase": "Up"}},
                content_type=MERGE,
            ),
            ("status", "body:spec.size", "body:status", "body:metadata.generation"),
            needs_crd=True,
        ),
        Case(
            "cr-spec-write-bumps-generation",
            (*crd, Step("POST", WIDGETS, widget())),
            Step("PATCH", WIDGETS + "/w", {"spec": {"size": 2}}, content_type=MERGE),
            ("status", "body:metadata.generation"),
            needs_crd=True,
        ),
        Case(
            "cr-strategic-merge-refused",
            (*crd, Step("POST", WIDGETS, widget())),
            Step("PATCH", WIDGETS + "/w", {"spec": {"size": 2}}, content_type=STRATEGIC),
            ("status", "reason"),
            needs_crd=True,
        ),
        Case(
            "cr-put-without-resource-version",
            (*crd, Step("POST", WIDGETS, widget())),
            Step("PUT", WIDGETS + "/w", widget()),
            ("status", "reason", "causes"),
            needs_crd=True,
        ),
    ]


def invalid_corpus_cases() -> list[Case]:
    corpus = yaml.safe_load((REPO / "tests" / "data" / "invalid_leadergroups.yaml").read_text())
    return [
        Case(
            f"leadergroup-{entry['case']}",
            (),
            Step("POST", LEADERGROUPS, entry["object"]),
            ("status", "reason", "causes"),
        )
        for entry in corpus
        if entry["expect"] == "rejected"
    ]
