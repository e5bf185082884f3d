"""The parts of Kubernetes' CEL extension libraries (strings, lists, optionals) that celpy lacks."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, Final

from celpy import celtypes
from celpy.evaluation import CELEvalError

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class OptionalValue:
    """CEL's ``optional_type``: the ``oldSelf`` of rules with ``optionalOldSelf: true``."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"optional.of({self.value!r})" if self.value is not None else "optional.none()"


def _string(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")
    return text


def _index_error(index: int) -> CELEvalError:
    return CELEvalError(f"index out of range: {index}", IndexError, (index,))


def _lower_ascii(text: Any) -> celtypes.StringType:
    return celtypes.StringType(_string(text).translate(_ASCII_LOWER))


def _upper_ascii(text: Any) -> celtypes.StringType:
    return celtypes.StringType(_string(text).translate(_ASCII_UPPER))


def _trim(text: Any) -> celtypes.StringType:
    return celtypes.StringType(_string(text).strip())


def _replace(text: Any, old: Any, new: Any, limit: Any = -1) -> celtypes.StringType:
    count = int(limit)
    return celtypes.StringType(_string(text).replace(_string(old), _string(new), count if count >= 0 else -1))


def _split(text: Any, separator: Any, limit: Any = -1) -> celtypes.ListType:
    source, sep, count = _string(text), _string(separator), int(limit)
    if count == 0:
        return celtypes.ListType([])
    if sep == "":
        parts = list(source) if count < 0 else [*source[: count - 1], source[count - 1 :]] if source else []
    else:
        parts = source.split(sep, count - 1 if count > 0 else -1)
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


def _join(items: Any, separator: Any = "") -> celtypes.StringType:
    return celtypes.StringType(_string(separator).join(_string(item) for item in items))


def _substring(text: Any, start: Any, end: Any = None) -> Any:
    source = _string(text)
    first = int(start)
    last = len(source) if end is None else int(end)
    if first < 0 or first > len(source):
        return _index_error(first)
    if last < first or last > len(source):
        return _index_error(last)
    return celtypes.StringType(source[first:last])


def _char_at(text: Any, index: Any) -> Any:
    source, position = _string(text), int(index)
    if position < 0 or position > len(source):
        return _index_error(position)
    return celtypes.StringType(source[position : position + 1])


def _index_of(haystack: Any, needle: Any, start: Any = 0) -> Any:
    offset = int(start)
    if isinstance(haystack, str):
        if offset < 0 or offset > len(haystack):
            return _index_error(offset)
        return celtypes.IntType(haystack.find(_string(needle), offset))
    for position, item in enumerate(haystack):
        if position >= offset and item == needle:
            return celtypes.IntType(position)
    return celtypes.IntType(-1)


def _last_index_of(haystack: Any, needle: Any) -> Any:
    if isinstance(haystack, str):
        return celtypes.IntType(haystack.rfind(_string(needle)))
    for position in range(len(haystack) - 1, -1, -1):
        if haystack[position] == needle:
            return celtypes.IntType(position)
    return celtypes.IntType(-1)


def _is_sorted(items: Any) -> celtypes.BoolType:
    return celtypes.BoolType(all(items[i] <= items[i + 1] for i in range(len(items) - 1)))


def _sum(items: Any) -> Any:
    # An empty list sums to int 0, as in kube's lists library.
    return functools.reduce(operator.add, items) if items else celtypes.IntType(0)


def _extreme(pick: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def extreme(items: Any) -> Any:
        if not items:
            return CELEvalError("min/max called on an empty list", ValueError, ())
        return pick(items)

    return extreme


def _has_value(optional: Any) -> celtypes.BoolType:
    if not isinstance(optional, OptionalValue):
        raise TypeError("hasValue() needs an optional value")
    return celtypes.BoolType(optional.value is not None)


def _value(optional: Any) -> Any:
    if not isinstance(optional, OptionalValue):
        raise TypeError("value() needs an optional value")
    if optional.value is None:
        return CELEvalError("optional.none() dereference", ValueError, ())
    return optional.value


def _or_value(optional: Any, default: Any) -> Any:
    if not isinstance(optional, OptionalValue):
        raise TypeError("orValue() needs an optional value")
    return default if optional.value is None else optional.value


KUBE_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii,
    "trim": _trim,
    "replace": _replace,
    "split": _split,
    "join": _join,
    "substring": _substring,
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _extreme(min),
    "max": _extreme(max),
    "hasValue": _has_value,
    "value": _value,
    "orValue": _or_value,
}
