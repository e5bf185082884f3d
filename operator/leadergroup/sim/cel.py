"""``x-kubernetes-validations`` (CEL rules) of CRD schemas, evaluated with cel-python (``celpy``).

Follows ``apiextensions-apiserver/pkg/apiserver/schema/cel/validation.go`` (Kubernetes 1.35+ wording):

* every rule runs with ``self`` bound to the value at its schema node; null values are not validated;
  at the resource root (and at ``x-kubernetes-embedded-resource`` objects) ``self`` sees ``apiVersion``,
  ``kind``, ``metadata.name`` and ``metadata.generateName`` only (kube hides the rest of the metadata,
  ``metadata.namespace`` included);
* transition rules (those that reference ``oldSelf``) run only on updates where the node has a
  correlated old value (object fields and map values by key, items of ``x-kubernetes-list-type: map``
  lists by key), unless ``optionalOldSelf: true``, where ``oldSelf`` is an optional value
  (``oldSelf.hasValue()``, ``oldSelf.value()``, ``oldSelf.orValue(x)``);
* ratcheting: on updates, failures of rules that do not use ``oldSelf`` are dropped where the node (or
  its nearest correlated ancestor) is unchanged;
* a failing rule gives ``<path>: Invalid value: <value>: <message>``, where the value is omitted for
  objects and lists and printed for scalars; the message is ``messageExpression``'s result, else
  ``message``, else ``failed rule: <rule>``; ``fieldPath`` (``.a.b``, ``['key']``) extends the path;
  ``reason`` picks ``FieldValueForbidden``/``Required``/``Duplicate``/``Invalid``;
* a rule that fails at run time (``no such key``, division by zero ...) gives
  ``Invalid value: "<type>": <error> evaluating rule: <rule>``.

Values are typed by the schema: ``integer`` → int, ``number`` → double (also for ``2``), ``string`` with
``format: date-time`` → timestamp, objects → maps. Programs are compiled once per rule text.

Supported beyond celpy's standard library (Kubernetes extension libraries): ``lowerAscii``,
``upperAscii``, ``trim``, ``replace``, ``split``, ``join``, ``substring``, ``charAt``, ``indexOf``,
``lastIndexOf`` (strings and lists), ``isSorted``, ``sum``, ``min``, ``max`` and the optional
accessors above. **Not evaluated**: optional syntax (``self.?field``, ``optional.of``), the
quantity/URL/IP/CIDR/semver/format/regex-``find`` libraries, ``sets.*``, ``duration``/``byte`` formats as
CEL types, type checking at compile time and the cost budget (no rule is ever cut off for cost). A rule
using an unknown function or variable, one that does not parse, or one that yields a non-bool raises
:class:`CelRuleError` (kube would have refused such a CRD); call :func:`check_rules` when a CRD is
registered to find them early.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import celpy
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from leadergroup.sim.cel_functions import KUBE_FUNCTIONS, OptionalValue
from leadergroup.sim.cel_values import CelRuleError, parse_field_path, to_cel
from leadergroup.sim.field_errors import (
    OMITTED,
    FieldCause,
    child_path,
    duplicate,
    forbidden,
    index_path,
    invalid,
    key_path,
    required,
)
from leadergroup.sim.schema_prune import EMBEDDED_RESOURCE, additional_schema
from leadergroup.sim.schema_validate import NO_OLD, correlated_items, list_map_key, same_json

JsonDict = dict[str, Any]

__all__ = ["CelRuleError", "check_rules", "compile_expression", "has_rules", "validate_rules"]

VALIDATIONS: Final = "x-kubernetes-validations"
_MAX_MESSAGE_BYTES: Final = 5 * 1024


@dataclass(frozen=True)
class CompiledExpression:
    """A CEL program and what kube needs to know about it."""

    source: str
    program: celpy.Runner
    uses_old_self: bool


_ENVIRONMENT: Final = celpy.Environment()


@lru_cache(maxsize=2048)
def compile_expression(source: str) -> CompiledExpression:
    """Parse ``source`` once; later calls with the same text reuse the program.

    Raises:
        CelRuleError: the expression does not parse.
    """
    try:
        ast = _ENVIRONMENT.compile(source)
    except CELParseError as error:
        raise CelRuleError(f"rule compile error: {source!r}: {error}") from error
    uses_old_self = any(
        tree.data == "ident" and tree.children and str(tree.children[0]) == "oldSelf"
        for tree in ast.iter_subtrees()
    )
    program = _ENVIRONMENT.program(ast, functions=KUBE_FUNCTIONS)
    return CompiledExpression(source=source, program=program, uses_old_self=uses_old_self)


def check_rules(schema: JsonDict) -> None:
    """Compile every rule, message expression and fieldPath of a schema (what kube does on CRD create).

    Raises:
        CelRuleError: for the first rule that does not compile or names a field the schema lacks.
    """
    for rule in schema.get(VALIDATIONS) or []:
        compile_expression(rule["rule"])
        if rule.get("messageExpression"):
            compile_expression(rule["messageExpression"])
        if rule.get("fieldPath"):
            parse_field_path(rule["fieldPath"], schema)
    nested: list[JsonDict] = list((schema.get("properties") or {}).values())
    nested.extend(branch for branch in schema.get("allOf") or [] if isinstance(branch, dict))
    for child in (schema.get("items"), additional_schema(schema)):
        if isinstance(child, dict):
            nested.append(child)
    for child in nested:
        check_rules(child)


def has_rules(schema: JsonDict | None) -> bool:
    """Whether any node of the schema carries ``x-kubernetes-validations``."""
    if not schema:
        return False
    if schema.get(VALIDATIONS):
        return True
    children: list[Any] = [
        *(schema.get("properties") or {}).values(),
        schema.get("items"),
        additional_schema(schema),
        *(schema.get("allOf") or []),
    ]
    return any(isinstance(child, dict) and has_rules(child) for child in children)


def validate_rules(schema: JsonDict, obj: Any, old: Any = NO_OLD) -> list[FieldCause]:
    """Evaluate every CEL rule of ``schema`` against the resource ``obj`` (and ``old`` on updates).

    Args:
        schema: the version's ``openAPIV3Schema``.
        obj: the pruned, defaulted resource.
        old: the stored resource on updates, else :data:`NO_OLD`.

    Returns:
        The failures, as field causes.

    Raises:
        CelRuleError: a rule kube would not have accepted (see the module docstring).
    """
    walker = _RuleWalker()
    root_old = NO_OLD if old is None else old
    walker.walk(obj, schema, root_old, "", unchanged=False, resource_root=True)
    return walker.causes


def _type_name(schema: JsonDict, resource_root: bool) -> str:
    declared = schema.get("type")
    if resource_root:
        return "object"
    return declared if isinstance(declared, str) else ""


def _unchanged(value: Any, old: Any, parent_unchanged: bool) -> bool:
    # A node without a correlated old value ratchets with its nearest correlated ancestor.
    return parent_unchanged if old is NO_OLD else same_json(value, old)


class _RuleWalker:
    """One walk over an object; memoises the CEL form of each value so every subtree converts once."""

    def __init__(self) -> None:
        self.causes: list[FieldCause] = []
        self._converted: dict[tuple[int, bool], Any] = {}

    def cel_value(self, value: Any, schema: JsonDict, resource_root: bool) -> Any:
        key = (id(value), resource_root)
        if key not in self._converted:
            self._converted[key] = to_cel(value, schema, resource_root=resource_root, memo=self._converted)
        return self._converted[key]

    def walk(
        self,
        value: Any,
        schema: JsonDict,
        old: Any,
        path: str,
        *,
        unchanged: bool,
        resource_root: bool = False,
    ) -> None:
        if value is None:
            return
        old = NO_OLD if old is None else old
        unchanged = _unchanged(value, old, unchanged)
        resource_root = resource_root or bool(schema.get(EMBEDDED_RESOURCE))
        for rule in schema.get(VALIDATIONS) or []:
            self._evaluate(rule, value, schema, old, path, unchanged, resource_root)
        for branch in schema.get("allOf") or []:
            if isinstance(branch, dict):
                self.walk(value, branch, old, path, unchanged=unchanged)
        if isinstance(value, list):
            self._walk_items(value, schema, old, path, unchanged)
        elif isinstance(value, dict):
            self._walk_fields(value, schema, old, path, unchanged)

    def _walk_items(self, items: list[Any], schema: JsonDict, old: Any, path: str, unchanged: bool) -> None:
        item_schema = schema.get("items")
        if not isinstance(item_schema, dict):
            return
        old_by_key = correlated_items(schema, old)
        keys = schema.get("x-kubernetes-list-map-keys") or []
        for index, item in enumerate(items):
            old_item = NO_OLD
            if old_by_key is not None:
                old_item = old_by_key.get(list_map_key(item, keys) or (), NO_OLD)
            self.walk(item, item_schema, old_item, index_path(path, index), unchanged=unchanged)

    def _walk_fields(self, value: JsonDict, schema: JsonDict, old: Any, path: str, unchanged: bool) -> None:
        old_map: JsonDict = old if isinstance(old, dict) else {}
        additional = additional_schema(schema)
        properties: JsonDict = schema.get("properties") or {}
        for key, item in value.items():
            if key in properties:
                self.walk(
                    item,
                    properties[key],
                    old_map.get(key, NO_OLD),
                    child_path(path, key),
                    unchanged=unchanged,
                )
            elif additional is not None:
                self.walk(
                    item, additional, old_map.get(key, NO_OLD), key_path(path, key), unchanged=unchanged
                )

    def _evaluate(
        self,
        rule: JsonDict,
        value: Any,
        schema: JsonDict,
        old: Any,
        path: str,
        unchanged: bool,
        resource_root: bool,
    ) -> None:
        compiled = compile_expression(rule["rule"])
        optional_old_self = bool(rule.get("optionalOldSelf"))
        if compiled.uses_old_self and old is NO_OLD and not optional_old_self:
            return
        activation: dict[str, Any] = {"self": self.cel_value(value, schema, resource_root)}
        if old is not NO_OLD:
            activation["oldSelf"] = to_cel(old, schema, resource_root=resource_root)
        if optional_old_self:
            rule_activation = {**activation, "oldSelf": OptionalValue(activation.get("oldSelf"))}
        else:
            rule_activation = activation
        rule_text = _rule_error_string(rule)
        try:
            result = compiled.program.evaluate(rule_activation)
        except CELEvalError as error:
            detail = _eval_error_detail(error, rule_text)
            self.causes.append(invalid(path, _type_name(schema, resource_root), detail))
            return
        if not isinstance(result, celtypes.BoolType):
            raise CelRuleError(f"rule compile error: {rule['rule']!r} must be a bool, not {result!r}")
        if result:
            return
        if not compiled.uses_old_self and unchanged:
            return  # ratcheted: kube turns the failure into a warning
        field = path
        if rule.get("fieldPath"):
            field = child_path(path, parse_field_path(rule["fieldPath"], schema))
        detail = _message_expression_result(rule, activation) or _rule_message_or_default(rule)
        shown = OMITTED if isinstance(value, dict | list) or resource_root else value
        self.causes.append(_cause_for_reason(rule.get("reason"), field, shown, detail))


def _cause_for_reason(reason: str | None, field: str, value: Any, detail: str) -> FieldCause:
    if reason == "FieldValueForbidden":
        return forbidden(field, detail)
    if reason == "FieldValueRequired":
        return required(field, detail)
    if reason == "FieldValueDuplicate":
        return duplicate(field, value)
    return invalid(field, value, detail)


def _rule_error_string(rule: JsonDict) -> str:
    message = str(rule.get("message") or "").strip()
    return message or str(rule["rule"]).strip()


def _rule_message_or_default(rule: JsonDict) -> str:
    message = str(rule.get("message") or "").strip()
    return message or f"failed rule: {_rule_error_string(rule)}"


def _message_expression_result(rule: JsonDict, activation: dict[str, Any]) -> str | None:
    source = rule.get("messageExpression")
    if not source:
        return None
    try:
        result = compile_expression(source).program.evaluate(activation)
    except CELEvalError:
        return None  # kube logs the failure and falls back to message
    if not isinstance(result, str):
        return None
    text = str(result).strip()
    if not text or "\n" in text or len(text.encode()) > _MAX_MESSAGE_BYTES:
        return None
    return text


def _eval_error_detail(error: CELEvalError, rule_text: str) -> str:
    summary = str(error.args[0]) if error.args else str(error)
    cause = error.args[1] if len(error.args) > 1 else None
    if summary.startswith("undeclared reference"):
        raise CelRuleError(f"rule compile error: {rule_text!r}: {summary[:200]}") from error
    if cause is TypeError and "overload" in summary:
        return (
            "'no such overload': call arguments did not match a supported operator, function or macro "
            f"signature for rule: {rule_text}"
        )
    if summary.startswith("no such member in mapping: "):
        summary = "no such key: " + summary.removeprefix("no such member in mapping: ").strip("'")
    elif cause is ZeroDivisionError:
        summary = "division by zero" if "divide" in summary else "modulus by zero"
    elif cause is IndexError:
        summary = "index out of bounds"
    return f"{summary} evaluating rule: {rule_text}"
