"""The requests of the differential test: each sent alike to the real API server and to the emulator.

This module has the built-in kinds' cases and the runner's vocabulary; ``differential_crd_cases`` those of
CustomResourceDefinitions, custom resources and the invalid-LeaderGroup corpus.

A case runs its ``setup`` (whatever it answers), then its ``probe``, whose answer is compared; ``{ns}`` is
a fresh namespace of the case's own and ``{group}`` the API group of the case's own CustomResourceDefinition
(``WIDGET_CRD``, cluster-scoped, so each case gets a group no other run uses). ``compare`` says what of the
answer must be equal: see ``tests/integration/test_differential.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Step:
    """One HTTP request."""

    method: str
    path: str
    body: Any = None
    query: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # Keep the answer's metadata.uid as {<remember>} and its resourceVersion as {<remember>_rv}.
    remember: str | None = None


@dataclass(frozen=True)
class Case:
    """Requests sent to both backends; the probe's answer is compared on ``compare``."""

    id: str
    setup: tuple[Step, ...]
    probe: Step
    compare: tuple[str, ...] = ("status", "reason", "fields")
    # Poll the probe (up to 60 s) until its status is this one: what a controller does eventually.
    until_status: int | None = None
    needs_crd: bool = False


CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/{group}/v1/namespaces/{ns}/widgets"
LEADERGROUPS = "/apis/leadergroup.dev/v1alpha1/namespaces/{ns}/leadergroups"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{ns}/deployments"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"


def leadergroup(name: str = "lg", **spec: Any) -> dict[str, Any]:
    """A minimal valid LeaderGroup."""
    return {
        "apiVersion": "leadergroup.dev/v1alpha1",
        "kind": "LeaderGroup",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example/app:1"}]}}, **spec},
    }


def deployment(name: str = "web", **spec: Any) -> dict[str, Any]:
    """A minimal Deployment."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            **spec,
        },
    }


def configmap(name: str, **metadata: Any) -> dict[str, Any]:
    """A ConfigMap."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **metadata},
        "data": {"a": "1"},
    }


def lease(name: str = "lock") -> dict[str, Any]:
    """A Lease."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
    }


def _field_validation_cases() -> list[Case]:
    typo_lg = leadergroup(replicaz=3)
    typo_deploy = deployment(replicaz=3)
    nested = deployment()
    nested["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    meta_typo = leadergroup()
    meta_typo["metadata"]["labelz"] = {"a": "b"}
    cases = []
    for directive in ("Strict", "Warn", "Ignore", ""):
        query = {"fieldValidation": directive} if directive else {}
        suffix = directive.lower() or "default"
        cases += [
            Case(
                f"unknown-field-leadergroup-{suffix}",
                (),
                Step("POST", LEADERGROUPS, typo_lg, query),
                ("status", "reason", "message", "warnings", "body:spec.replicaz"),
            ),
            Case(
                f"unknown-field-deployment-{suffix}",
                (),
                Step("POST", DEPLOYMENTS, typo_deploy, query),
                ("status", "reason", "message", "warnings", "body:spec.replicaz"),
            ),
        ]
    cases += [
        Case(
            "unknown-field-nested-strict",
            (),
            Step("POST", DEPLOYMENTS, nested, {"fieldValidation": "Strict"}),
            ("status", "reason", "message"),
        ),
        Case(
            "unknown-field-metadata-strict",
            (),
            Step("POST", LEADERGROUPS, meta_typo, {"fieldValidation": "Strict"}),
            ("status", "reason", "message"),
        ),
        Case(
            "unknown-field-patch-strict",
            (Step("POST", DEPLOYMENTS, deployment()),),
            Step(
                "PATCH",
                DEPLOYMENTS + "/web",
                {"spec": {"replicaz": 2}},
                {"fieldValidation": "Strict"},
                content_type=STRATEGIC,
            ),
            ("status", "reason", "message"),
        ),
        Case(
            "field-validation-bogus",
            (),
            Step("POST", LEADERGROUPS, leadergroup(), {"fieldValidation": "Bogus"}),
            ("status", "reason"),
        ),
    ]
    return cases


def _concurrency_cases() -> list[Case]:
    create = Step("POST", CONFIGMAPS, configmap("c"))
    stale = configmap("c", resourceVersion="1")
    return [
        Case("create-existing", (create,), create, ("status", "reason", "message")),
        Case(
            "put-stale-resource-version",
            (create,),
            Step("PUT", CONFIGMAPS + "/c", stale),
            ("status", "reason", "message"),
        ),
        Case(
            "patch-stale-resource-version",
            (create,),
            Step("PATCH", CONFIGMAPS + "/c", {"metadata": {"resourceVersion": "1"}}, content_type=MERGE),
            ("status", "reason", "message"),
        ),
        Case(
            "put-lease-without-resource-version",
            (Step("POST", LEASES, lease()),),
            Step("PUT", LEASES + "/lock", lease()),
            ("status", "reason", "causes"),
        ),
        Case(
            "put-configmap-without-resource-version",
            (create,),
            Step("PUT", CONFIGMAPS + "/c", configmap("c")),
            ("status",),
        ),
        Case(
            "patch-missing",
            (),
            Step("PATCH", CONFIGMAPS + "/none", {"data": {}}, content_type=MERGE),
            ("status", "reason", "message"),
        ),
        Case(
            "delete-precondition-uid",
            (create,),
            Step(
                "DELETE",
                CONFIGMAPS + "/c",
                {"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}},
            ),
            ("status", "reason"),
        ),
        Case(
            "json-patch-failed-test",
            (create,),
            Step(
                "PATCH",
                CONFIGMAPS + "/c",
                [{"op": "test", "path": "/data/a", "value": "2"}],
                content_type=JSON_PATCH,
            ),
            ("status", "reason"),
        ),
        Case(
            "lease-invalid-duration",
            (),
            Step("POST", LEASES, {**lease(), "spec": {"leaseDurationSeconds": 0}}),
            ("status", "reason", "causes"),
        ),
        Case(
            "name-invalid",
            (),
            Step("POST", CONFIGMAPS, configmap("Not_Valid")),
            ("status", "reason", "causes"),
        ),
        Case(
            "namespace-missing",
            (),
            Step("POST", "/api/v1/namespaces/nowhere-{ns}/configmaps", configmap("c")),
            ("status", "reason"),
        ),
    ]


def _watch_and_selector_cases() -> list[Case]:
    create = Step("POST", CONFIGMAPS, configmap("c", labels={"app": "x"}))
    watch = {"watch": "1", "timeoutSeconds": "2"}
    return [
        Case(
            "watch-resumes-after-a-resource-version",
            (
                Step("POST", LEASES, lease(), remember="lease"),
                Step("PATCH", LEASES + "/lock", {"spec": {"holderIdentity": "b"}}, content_type=MERGE),
                Step("DELETE", LEASES + "/lock"),
            ),
            Step("GET", LEASES, query={**watch, "resourceVersion": "{lease_rv}"}),
            ("status", "watch"),
        ),
        Case(
            "watch-too-new",
            (),
            Step("GET", LEASES, query={"watch": "1", "timeoutSeconds": "10", "resourceVersion": "999999999"}),
            ("status", "watch"),
        ),
        Case(
            # Leases: the controller manager puts a kube-root-ca.crt ConfigMap into every namespace.
            "watch-from-zero-lists-what-exists",
            (Step("POST", LEASES, lease()),),
            Step("GET", LEASES, query={**watch, "resourceVersion": "0"}),
            ("status", "watch"),
        ),
        Case(
            "label-selector-matches",
            (create, Step("POST", CONFIGMAPS, configmap("d"))),
            Step("GET", CONFIGMAPS, query={"labelSelector": "app=x"}),
            ("status", "items"),
        ),
        Case(
            "label-selector-invalid",
            (),
            Step("GET", CONFIGMAPS, query={"labelSelector": "app=="}),
            ("status", "reason"),
        ),
        Case(
            "label-selector-empty-set",
            (),
            Step("GET", CONFIGMAPS, query={"labelSelector": "app in ()"}),
            ("status", "reason"),
        ),
        Case(
            "field-selector-name",
            (create,),
            Step("GET", CONFIGMAPS, query={"fieldSelector": "metadata.name=c"}),
            ("status", "items"),
        ),
        Case(
            "field-selector-unsupported",
            (),
            Step("GET", CONFIGMAPS, query={"fieldSelector": "data.a=1"}),
            ("status", "reason", "message"),
        ),
        Case(
            "field-selector-unsupported-custom",
            (),
            Step("GET", LEADERGROUPS, query={"fieldSelector": "spec.replicas=3"}),
            ("status", "reason"),
        ),
    ]


def _lifecycle_cases() -> list[Case]:
    owner = Step("POST", CONFIGMAPS, configmap("owner"), remember="owner_uid")
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "{owner_uid}"}
    dependent = Step("POST", CONFIGMAPS, configmap("dependent", ownerReferences=[reference]))
    return [
        Case(
            "garbage-collection",
            (owner, dependent, Step("DELETE", CONFIGMAPS + "/owner")),
            Step("GET", CONFIGMAPS + "/dependent"),
            ("status", "reason"),
            until_status=404,
        ),
        Case(
            "finalizer-keeps-object",
            (
                Step("POST", CONFIGMAPS, configmap("f", finalizers=["example.com/hold"])),
                Step("DELETE", CONFIGMAPS + "/f"),
            ),
            Step("GET", CONFIGMAPS + "/f"),
            ("status", "body:metadata.finalizers", "has:metadata.deletionTimestamp"),
        ),
        Case(
            "deployment-defaults",
            (),
            Step("POST", DEPLOYMENTS, deployment()),
            (
                "status",
                "body:spec.strategy",
                "body:spec.revisionHistoryLimit",
                "body:spec.progressDeadlineSeconds",
                "body:spec.template.spec.containers[0].imagePullPolicy",
            ),
        ),
        Case(
            "deployment-selector-immutable",
            (Step("POST", DEPLOYMENTS, deployment()),),
            Step(
                "PATCH",
                DEPLOYMENTS + "/web",
                {"spec": {"selector": {"matchLabels": {"app": "other"}}}},
                content_type=MERGE,
            ),
            ("status", "reason", "fields"),
        ),
        Case(
            "server-side-apply-creates",
            (),
            Step(
                "PATCH",
                CONFIGMAPS + "/applied",
                configmap("applied"),
                {"fieldManager": "diff"},
                content_type=APPLY,
            ),
            ("status", "body:data"),
        ),
        Case(
            "server-side-apply-updates",
            (Step("POST", CONFIGMAPS, configmap("c")),),
            Step(
                "PATCH",
                CONFIGMAPS + "/c",
                {**configmap("c"), "data": {"b": "2"}},
                {"fieldManager": "diff"},
                content_type=APPLY,
            ),
            ("status", "has:data.b"),
        ),
        Case(
            "server-side-apply-removes-what-it-no-longer-sets",
            (
                Step(
                    "PATCH",
                    CONFIGMAPS + "/applied",
                    {**configmap("applied"), "data": {"a": "1", "b": "2"}},
                    {"fieldManager": "diff"},
                    content_type=APPLY,
                ),
            ),
            Step(
                "PATCH",
                CONFIGMAPS + "/applied",
                {**configmap("applied"), "data": {"a": "1"}},
                {"fieldManager": "diff"},
                content_type=APPLY,
            ),
            ("status", "body:data"),
        ),
        Case(
            "server-side-apply-without-manager",
            (),
            Step("PATCH", CONFIGMAPS + "/applied", configmap("applied"), content_type=APPLY),
            ("status", "reason", "causes"),
        ),
    ]


def all_cases() -> list[Case]:
    """Every case, in a stable order."""
    from tests.integration.differential_crd_cases import (
        crd_cases,
        custom_resource_cases,
        invalid_corpus_cases,
    )

    return [
        *crd_cases(),
        *custom_resource_cases(),
        *invalid_corpus_cases(),
        *_field_validation_cases(),
        *_concurrency_cases(),
        *_watch_and_selector_cases(),
        *_lifecycle_cases(),
    ]


def substitute(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with ``{ns}``, ``{group}``, ``{owner_uid}``... replaced."""
    if isinstance(value, str):
        for key, replacement in names.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, dict):
        return {substitute(key, names): substitute(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, names) for item in value]
    return value
