"""Field errors exactly as kube-apiserver words them (``k8s.io/apimachinery/pkg/util/validation/field``).

A :class:`FieldCause` is one ``StatusCause`` of a 422 ``Invalid`` response: ``field`` is the
``field.Path`` string, ``message`` is ``ErrorBody()`` (type, rendered bad value, detail), ``reason``
the ``CauseType``. The rendering follows Kubernetes 1.35+: simple values with Go's ``%v``/``%q``,
everything else as JSON, and no value at all for "omitted" ones (CEL failures on objects and lists).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

# The field string kube prints for a nil *field.Path (errors about the whole object).
NIL_PATH: Final = "<nil>"


class _Omitted:
    """Marker for ``field.OmitValueType{}``: the error body names no value."""

    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Final = _Omitted()

_TYPE_TEXT: Final = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTooFew": "Too few",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
    "FieldValueTooShort": "Too short",
}
# These error types never print their bad value.
_VALUELESS_TYPES: Final = frozenset(
    {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "FieldValueTooShort", "InternalError"}
)
# Errors that make kube skip CEL rules (``hasBlockingErr`` in the customresource strategy).
BLOCKING_REASONS: Final = frozenset(
    {
        "FieldValueNotSupported",
        "FieldValueRequired",
        "FieldValueTooLong",
        "FieldValueTooMany",
        "FieldValueTypeInvalid",
    }
)


@dataclass(frozen=True)
class FieldCause:
    """One field error of an ``Invalid`` response.

    Attributes:
        field: the field path as kube prints it (``spec.replicas``, ``spec.items[0].name``, ``<nil>``).
        message: the error body, e.g. ``Invalid value: -1: spec.replicas in body should be ...``.
        reason: the cause type, e.g. ``FieldValueInvalid`` or ``FieldValueRequired``.
    """

    field: str
    message: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SchemaError(Exception):
    """The object failed CRD schema admission; kube answers 422 ``Invalid`` with these causes."""

    def __init__(self, causes: list[FieldCause]) -> None:
        super().__init__("; ".join(str(cause) for cause in causes))
        self.causes = causes

    def message(self, kind: str, group: str, name: str) -> str:
        """The ``Status`` message kube-apiserver sends for these causes.

        Args:
            kind: the object's kind, e.g. ``LeaderGroup``.
            group: the API group, e.g. ``leadergroup.dev`` (empty for the core group).
            name: the object's name.

        Returns:
            ``LeaderGroup.leadergroup.dev "x" is invalid: <cause>`` or ``... is invalid: [<c1>, <c2>]``;
            duplicate cause texts are printed once, as ``ErrorList.ToAggregate`` does.
        """
        qualified_kind = f"{kind}.{group}" if group else kind
        texts = list(dict.fromkeys(str(cause) for cause in self.causes))
        if not texts:
            return f"{qualified_kind} {go_quote(name)} is invalid"
        joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        return f"{qualified_kind} {go_quote(name)} is invalid: {joined}"


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``/``%q`` for the strings that occur in objects."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def go_float(number: float) -> str:
    """Go's ``%v`` for a float64: shortest form, ``1`` not ``1.0``, exponent from 1e21 on."""
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if math.isnan(number):
        return "NaN"
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    text = repr(number)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{int(exponent.lstrip('+-')):02d}"
    return text


def go_number(number: int | float) -> str:
    """``%v`` of an int64 or a float64."""
    return str(number) if isinstance(number, int) else go_float(number)


def _json_ready(value: Any) -> Any:
    # Go marshals float64(2) as 2, Python as 2.0.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    return value


def go_json(value: Any, *, sort_keys: bool = True) -> str:
    """Go's ``json.Marshal`` of a decoded JSON value (HTML-escaped; keys sorted as for a Go map).

    ``sort_keys=False`` keeps the dicts' order, for values that are Go structs (fields in declaration order).
    """
    text = json.dumps(_json_ready(value), sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_value(value: Any) -> str:
    """How ``ErrorBody`` prints a bad value: ``%v`` for numbers and bools, ``%q`` for strings, else JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


def make_cause(field: str, reason: str, value: Any = OMITTED, detail: str = "") -> FieldCause:
    """Build a cause the way ``field.Error.ErrorBody`` renders it.

    Args:
        field: the field path string; empty means the nil path (``<nil>``).
        reason: the cause type (``FieldValueInvalid`` ...).
        value: the bad value, or :data:`OMITTED`.
        detail: the detail text appended after ``: ``.

    Returns:
        The cause with its fully rendered message.
    """
    body = _TYPE_TEXT[reason]
    if reason not in _VALUELESS_TYPES and value is not OMITTED:
        body = f"{body}: {render_value(value)}"
    if detail:
        body = f"{body}: {detail}"
    return FieldCause(field=field or NIL_PATH, message=body, reason=reason)


def invalid(field: str, value: Any, detail: str) -> FieldCause:
    """``field.Invalid``."""
    return make_cause(field, "FieldValueInvalid", value, detail)


def type_invalid(field: str, value: Any, detail: str) -> FieldCause:
    """``field.TypeInvalid``."""
    return make_cause(field, "FieldValueTypeInvalid", value, detail)


def required(field: str, detail: str = "") -> FieldCause:
    """``field.Required``."""
    return make_cause(field, "FieldValueRequired", detail=detail)


def forbidden(field: str, detail: str) -> FieldCause:
    """``field.Forbidden``."""
    return make_cause(field, "FieldValueForbidden", detail=detail)


def duplicate(field: str, value: Any) -> FieldCause:
    """``field.Duplicate``."""
    return make_cause(field, "FieldValueDuplicate", value)


def not_supported(field: str, value: Any, supported: list[str]) -> FieldCause:
    """``field.NotSupported`` with its quoted list of supported values."""
    detail = "supported values: " + ", ".join(go_quote(item) for item in supported) if supported else ""
    return make_cause(field, "FieldValueNotSupported", value, detail)


def too_long(field: str, max_length: int) -> FieldCause:
    """``field.TooLong``: the value is never printed."""
    unit = "byte" if max_length == 1 else "bytes"
    return make_cause(field, "FieldValueTooLong", detail=f"may not be more than {max_length} {unit}")


def too_many(field: str, actual: int, maximum: int) -> FieldCause:
    """``field.TooMany`` for maxItems and maxProperties."""
    unit = "item" if maximum == 1 else "items"
    return make_cause(field, "FieldValueTooMany", actual, f"must have at most {maximum} {unit}")


def child_path(parent: str, name: str) -> str:
    """``field.Path.Child``."""
    return f"{parent}.{name}" if parent else name


def index_path(parent: str, index: int) -> str:
    """``field.Path.Index``."""
    return f"{parent}[{index}]"


def key_path(parent: str, key: str) -> str:
    """``field.Path.Key``."""
    return f"{parent}[{key}]"
