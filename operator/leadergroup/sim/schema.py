"""CRD schema admission for the API emulator: what kube-apiserver does to a custom resource on write.

:func:`admit` takes a CRD version's ``schema.openAPIV3Schema`` and a whole object (apiVersion, kind,
metadata, spec, status) and, in kube's order:

1. prunes unknown fields (:mod:`leadergroup.sim.schema_prune`; the root's apiVersion/kind/metadata
   are kept, the API server owns them), drops disallowed nulls and applies ``default`` values;
2. validates the result against the OpenAPI schema (:mod:`leadergroup.sim.schema_validate`), ratcheting
   unchanged fields on updates; the root's ``metadata`` is validated only as far as the schema
   specifies it, as kube does;
3. checks ``x-kubernetes-embedded-resource`` apiVersion/kind and ``x-kubernetes-list-type`` set/map
   uniqueness (:mod:`leadergroup.sim.schema_lists`; list invariants an old object already broke are
   not enforced on its updates);
4. evaluates the CEL rules (:mod:`leadergroup.sim.cel`), unless step 2 or 3 found a "blocking" error
   (wrong type, missing required field, unsupported enum value, too long, too many), in which case
   kube adds ``<nil>: Invalid value: null: some validation rules were not checked ...`` instead.

Any failure raises :class:`SchemaError`, whose causes and :meth:`SchemaError.message` carry
kube-apiserver's exact texts (Kubernetes 1.35+ rendering of values). Status subresource writes go
through the same function with the stored object as ``old``: ratcheting then ignores the unchanged
spec, as kube's status strategy (which validates only ``status``) would.

Not done: validation of the root's ObjectMeta (name format, labels ...: the API server's job) and of
embedded resources' metadata; ``fieldValidation`` (``Strict``/``Warn``) is left to the server, which
can get the pruned paths from :func:`unknown_fields`; ``int32``/``int64``/``float``/``double``
range checks of numeric formats; ``uniqueItems`` and ``patternProperties`` (structural schemas forbid
them); the CEL cost budget. See :mod:`leadergroup.sim.cel` for the CEL subset.
"""

from __future__ import annotations

from typing import Any, Final

from leadergroup.sim.cel import CelRuleError, check_rules, has_rules, validate_rules
from leadergroup.sim.field_errors import BLOCKING_REASONS, FieldCause, SchemaError, invalid
from leadergroup.sim.schema_lists import embedded_resource_errors, list_errors
from leadergroup.sim.schema_prune import apply_defaults, prune_nulls, pruned
from leadergroup.sim.schema_validate import NO_OLD, validate_value

__all__ = ["CelRuleError", "FieldCause", "SchemaError", "admit", "unknown_fields"]

JsonDict = dict[str, Any]

RULES_NOT_CHECKED: Final = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)

# Per schema object: whether it has CEL rules (and they all compiled). Keeps the schema alive so its
# id() cannot be reused by another dict while cached.
_schema_rules: dict[int, tuple[JsonDict, bool]] = {}


def _schema_has_rules(schema: JsonDict) -> bool:
    cached = _schema_rules.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    check_rules(schema)
    answer = has_rules(schema)
    if len(_schema_rules) > 256:
        _schema_rules.clear()
    _schema_rules[id(schema)] = (schema, answer)
    return answer


def admit(
    openapi_schema: JsonDict,
    obj: JsonDict,
    old: JsonDict | None,
    *,
    kind: str,
    name: str,
    replicas_paths: tuple[str, ...] = (),
) -> JsonDict:
    """Prune unknown fields, apply defaults, validate, evaluate CEL rules.

    Args:
        openapi_schema: the CRD version's ``schema.openAPIV3Schema``.
        obj: the object being written (not modified).
        old: the stored object on update (also for ``/status`` writes), None on create.
        kind: the object's kind (for the caller's error message; kube reports it there).
        name: the object's name (likewise).
        replicas_paths: where a ``/scale`` subresource reads replicas (``.spec.replicas``): kube checks
            that they are non-negative integers.

    Returns:
        A new dict: the pruned and defaulted object.

    Raises:
        SchemaError: the object is invalid; ``causes`` are kube's field errors.
        CelRuleError: a CEL rule of the schema does not compile (kube would have refused the CRD).
    """
    del kind, name  # part of the server's call shape; the message is built by SchemaError.message
    result: JsonDict = pruned(obj, openapi_schema)
    prune_nulls(result, openapi_schema)
    apply_defaults(result, openapi_schema)
    causes = validation_causes(openapi_schema, result, old, replicas_paths)
    if causes:
        raise SchemaError(causes)
    return result


def validation_causes(
    openapi_schema: JsonDict, obj: JsonDict, old: JsonDict | None, replicas_paths: tuple[str, ...] = ()
) -> list[FieldCause]:
    """Every validation failure of an already pruned and defaulted object, in kube's order."""
    old_value: Any = NO_OLD if old is None else old
    causes = validate_value(obj, openapi_schema, old_value)
    causes.extend(embedded_resource_errors(openapi_schema, obj))
    if old is None or not list_errors(openapi_schema, old):
        causes.extend(list_errors(openapi_schema, obj))
    causes.extend(cause for path in replicas_paths if (cause := _replicas_cause(obj, path)))
    if _schema_has_rules(openapi_schema):
        if any(cause.reason in BLOCKING_REASONS for cause in causes):
            causes.append(invalid("", None, RULES_NOT_CHECKED))
        else:
            causes.extend(validate_rules(openapi_schema, obj, old_value))
    return causes


_GO_TYPES = {
    str: "string",
    bool: "bool",
    float: "float64",
    dict: "map[string]interface {}",
    list: "[]interface {}",
}


def _replicas_cause(obj: JsonDict, path: str) -> FieldCause | None:
    """The check kube makes of a scale subresource's replicas field (``NestedInt64``, then the sign)."""
    value: Any = obj
    for part in path.lstrip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        shown = value if not isinstance(value, bool) else str(value).lower()
        detail = f"{path} accessor error: {shown} is of the type {_GO_TYPES.get(type(value), 'unknown')}"
        return invalid(path, 0, f"{detail}, expected int64")
    if value < 0:
        return invalid(path, value, "should be a non-negative integer")
    if value > 2**31 - 1:
        return invalid(path, value, f"should be less than or equal to {2**31 - 1}")
    return None


def unknown_fields(openapi_schema: JsonDict, obj: JsonDict) -> list[str]:
    """The paths pruning would drop, sorted, as kube lists them for ``fieldValidation=Warn|Strict``.

    kube's texts: a warning ``unknown field "spec.foo"``, or for ``Strict`` a 400 BadRequest
    ``strict decoding error: unknown field "spec.foo", unknown field "spec.bar"``.
    """
    found: list[str] = []
    pruned(obj, openapi_schema, unknown=found)
    return sorted(found)
