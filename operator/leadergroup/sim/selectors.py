"""Label and field selectors with kube's syntax (``a=b,c!=d,e in (f,g),!h``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from leadergroup.sim.errors import bad_request

Selector = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQ_RE = re.compile(r"^(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)$")
_EXISTS_RE = re.compile(r"^(?P<neg>!)?\s*(?P<key>[^\s!=(),]+)$")


@dataclass(frozen=True)
class Requirement:
    """One comma-separated term of a selector: ``key op values``."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, value: str | None) -> bool:
        """Whether a label/field value (None when absent) satisfies this term."""
        if self.op == "exists":
            return value is not None
        if self.op == "!exists":
            return value is None
        if self.op in ("=", "in"):
            return value is not None and value in self.values
        # "!=" and "notin" also match objects without the key, as in kube.
        return value is None or value not in self.values


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    terms.append("".join(current).strip())
    return [term for term in terms if term]


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse a label selector; raise a 400 ApiError on bad syntax."""
    requirements = []
    for term in _split_terms(text):
        if match := _SET_RE.match(term):
            values = frozenset(value.strip() for value in match["values"].split(",") if value.strip())
            if not values:
                # kube's parser reads `()` as the set holding the empty value.
                values = frozenset({""})
            requirements.append(Requirement(match["key"], match["op"], values))
        elif match := _EQ_RE.match(term):
            op = "!=" if match["op"] == "!=" else "="
            requirements.append(Requirement(match["key"], op, frozenset({match["value"]})))
        elif match := _EXISTS_RE.match(term):
            requirements.append(Requirement(match["key"], "!exists" if match["neg"] else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {term!r}: found unexpected token")
    return requirements


def parse_field_selector(
    text: str, supported: tuple[str, ...], *, generic_message: bool = False
) -> list[Requirement]:
    """Parse a field selector (only ``=``, ``==``, ``!=``); unsupported fields → 400, as in kube."""
    requirements = []
    for term in _split_terms(text):
        match = _EQ_RE.match(term)
        if not match:
            raise bad_request(f"invalid selector: {text!r}; can't understand {term!r}")
        key = match["key"]
        if key not in ("metadata.name", "metadata.namespace", *supported):
            if not supported and generic_message:
                # Kinds with no field selectors of their own answer with apimachinery's generic words.
                raise bad_request(
                    f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"'
                )
            raise bad_request(f"field label not supported: {key}")
        op = "!=" if match["op"] == "!=" else "="
        requirements.append(Requirement(key, op, frozenset({match["value"]})))
    return requirements


def _field_value(obj: Mapping[str, Any], dotted: str) -> str | None:
    value: Any = obj
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    if value is None:
        # kube compares absent fields as the empty string for field selectors.
        return ""
    return str(value)


def compile_selectors(
    label_selector: str | None,
    field_selector: str | None,
    supported_fields: tuple[str, ...] = (),
    *,
    generic_message: bool = False,
) -> Selector:
    """One predicate for both selectors; ``lambda _: True`` when neither is given.

    ``generic_message``: the kind has no field selectors of its own (a built-in without a conversion
    function): an unknown field is refused with apimachinery's generic words.
    """
    labels = parse_label_selector(label_selector) if label_selector else []
    fields = (
        parse_field_selector(field_selector, supported_fields, generic_message=generic_message)
        if field_selector
        else []
    )

    def matches(obj: Mapping[str, Any]) -> bool:
        object_labels = (obj.get("metadata") or {}).get("labels") or {}
        if not all(req.matches(object_labels.get(req.key)) for req in labels):
            return False
        return all(req.matches(_field_value(obj, req.key)) for req in fields)

    return matches


def match_labels_selector(selector: Mapping[str, Any] | None) -> str:
    """A ``metav1.LabelSelector`` (matchLabels/matchExpressions) as a selector string (for /scale)."""
    if not selector:
        return ""
    terms = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        op, key, values = expression.get("operator"), expression.get("key"), expression.get("values") or []
        if op in ("In", "NotIn"):
            terms.append(f"{key} {op.lower()} ({','.join(values)})")
        elif op == "Exists":
            terms.append(key)
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)
