"""Field validation kube-apiserver applies to built-in kinds: ObjectMeta (every kind) and Lease specs.

Follows ``k8s.io/apimachinery/pkg/api/validation/objectmeta.go``, ``.../apis/meta/v1/validation``,
``k8s.io/apimachinery/pkg/util/validation`` and ``pkg/apis/coordination/validation``, with their
wording, so a client that parses a 422 sees what a cluster would send. Name validation lives in
``objects.name_causes``; the rest of each kind's spec is not validated (see docs/testing.md).
"""

from __future__ import annotations

import re
from typing import Any, Final

from leadergroup.sim.field_errors import FieldCause, forbidden, go_json, invalid, not_supported, too_long

JsonDict = dict[str, Any]

TOTAL_ANNOTATION_SIZE_LIMIT: Final = 256 * 1024
_QUALIFIED_NAME_MAX_LENGTH: Final = 63
_LABEL_VALUE_MAX_LENGTH: Final = 63
_DNS1123_SUBDOMAIN_MAX_LENGTH: Final = 253
_QUALIFIED_NAME_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RE: Final = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_FMT: Final = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_RE: Final = re.compile(f"^{_LABEL_VALUE_FMT}$")
_DNS1123_SUBDOMAIN_FMT: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN_RE: Final = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
_QUALIFIED_NAME_ERROR: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_ERROR: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_ERROR: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character"
)
# Kinds that may not own anything (apimachinery's BannedOwners): core v1 Events.
_BANNED_OWNERS: Final = {("", "v1", "Event")}
_LEASE_STRATEGIES: Final = ["OldestEmulationVersion"]


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    # utilvalidation.RegexError, double spaces included: "(e.g. 'a',  or 'b', regex used ...)".
    quoted = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {quoted}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def dns1123_subdomain_errors(value: str) -> list[str]:
    """``IsDNS1123Subdomain``."""
    errors = []
    if len(value) > _DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(_max_len_error(_DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_ERROR, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def qualified_name_errors(value: str) -> list[str]:
    """``IsQualifiedName``: an optional DNS subdomain prefix and '/', then a name of at most 63 characters."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend(f"prefix part {message}" for message in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_ERROR, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > _QUALIFIED_NAME_MAX_LENGTH:
        errors.append("name part " + _max_len_error(_QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.match(name):
        errors.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_ERROR, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """``IsValidLabelValue``."""
    errors = []
    if len(value) > _LABEL_VALUE_MAX_LENGTH:
        errors.append(_max_len_error(_LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.match(value):
        errors.append(_regex_error(_LABEL_VALUE_ERROR, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def _string_map(value: Any) -> dict[str, str]:
    # Non-string keys cannot come out of JSON; non-string values are a decoding error (400) upstream.
    return {str(key): item for key, item in value.items() if isinstance(item, str)} if value else {}


def _labels(labels: dict[str, str]) -> list[FieldCause]:
    causes: list[FieldCause] = []
    for key in sorted(labels):
        causes.extend(invalid("metadata.labels", key, message) for message in qualified_name_errors(key))
        causes.extend(
            invalid("metadata.labels", labels[key], message) for message in label_value_errors(labels[key])
        )
    return causes


def _annotations(annotations: dict[str, str]) -> list[FieldCause]:
    causes: list[FieldCause] = []
    for key in sorted(annotations):
        # Annotation keys are qualified names in any letter case.
        causes.extend(
            invalid("metadata.annotations", key, message) for message in qualified_name_errors(key.lower())
        )
    size = sum(len(key.encode()) + len(value.encode()) for key, value in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def _go_struct_json(reference: Any) -> Any:
    # ErrorBody prints a bad struct as JSON in Go field order (not sorted), omitting empty optionals.
    if not isinstance(reference, dict):
        return reference
    ordered = {key: reference.get(key, "") for key in ("apiVersion", "kind", "name", "uid")}
    ordered.update({key: reference[key] for key in ("controller", "blockOwnerDeletion") if key in reference})
    return ordered


def _owner_references(references: list[Any]) -> list[FieldCause]:
    path = "metadata.ownerReferences"
    causes: list[FieldCause] = []
    first_controller = ""
    rendered = go_json([_go_struct_json(ref) for ref in references], sort_keys=False)
    for reference in references:
        ref = reference if isinstance(reference, dict) else {}
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        # schema.ParseGroupVersion: "v1" is the core group; more than one '/' parses to nothing.
        parts = api_version.split("/")
        group, version = (
            ("", parts[0]) if len(parts) == 1 else (parts[0], parts[1]) if len(parts) == 2 else ("", "")
        )
        # kube's paths here carry no index: every cause names metadata.ownerReferences.<field>.
        if not version:
            causes.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        if not kind:
            causes.append(invalid(f"{path}.kind", kind, "must not be empty"))
        for field in ("name", "uid"):
            if not ref.get(field):
                causes.append(invalid(f"{path}.{field}", str(ref.get(field) or ""), "must not be empty"))
        if (group, version, kind) in _BANNED_OWNERS:
            value = go_json(_go_struct_json(ref), sort_keys=False)
            causes.append(
                FieldCause(
                    path,
                    f"Invalid value: {value}: {group}/{version}, Kind={kind} is disallowed from being "
                    "an owner",
                    "FieldValueInvalid",
                )
            )
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name') or ''}"
            if first_controller:
                causes.append(
                    FieldCause(
                        path,
                        f"Invalid value: {rendered}: Only one reference can have Controller set to true. "
                        f'Found "true" in references for {first_controller} and {current}',
                        "FieldValueInvalid",
                    )
                )
            else:
                first_controller = current
    return causes


def _finalizers(finalizers: list[Any]) -> list[FieldCause]:
    causes: list[FieldCause] = []
    for finalizer in finalizers:
        text = str(finalizer)
        causes.extend(
            invalid("metadata.finalizers", text, message) for message in qualified_name_errors(text)
        )
    return causes


def metadata_causes(metadata: JsonDict) -> list[FieldCause]:
    """What ``ValidateObjectMeta`` finds wrong with labels, annotations, ownerReferences and finalizers."""
    causes = _labels(_string_map(metadata.get("labels")))
    causes.extend(_annotations(_string_map(metadata.get("annotations"))))
    references = metadata.get("ownerReferences")
    if isinstance(references, list):
        causes.extend(_owner_references(references))
    finalizers = metadata.get("finalizers")
    if isinstance(finalizers, list):
        causes.extend(_finalizers(finalizers))
    return causes


def lease_causes(lease: JsonDict) -> list[FieldCause]:
    """``ValidateLeaseSpec``."""
    spec = lease.get("spec")
    if not isinstance(spec, dict):
        return []
    causes: list[FieldCause] = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if isinstance(transitions, int) and transitions < 0:
        causes.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if isinstance(strategy, str):
        if "/" not in strategy:
            if strategy not in _LEASE_STRATEGIES:
                # kube appends "strategy" to a path that already ends in it.
                causes.append(not_supported("spec.strategy.strategy", strategy, _LEASE_STRATEGIES))
        else:
            causes.extend(
                invalid("spec.strategy", strategy, message) for message in qualified_name_errors(strategy)
            )
    if spec.get("preferredHolder") and not strategy:
        causes.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return causes


def as_status_causes(causes: list[FieldCause]) -> list[JsonDict]:
    """The ``details.causes`` entries of a 422 for these causes."""
    return [{"reason": cause.reason, "message": cause.message, "field": cause.field} for cause in causes]


__all__ = [
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "as_status_causes",
    "dns1123_subdomain_errors",
    "label_value_errors",
    "lease_causes",
    "metadata_causes",
    "qualified_name_errors",
]
