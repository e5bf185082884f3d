"""String ``format`` checks of CRD schemas (the formats kube-apiserver keeps; it strips every other one).

Checked: ``date-time``/``datetime``, ``date``, ``uuid``/``uuid3``/``uuid4``/``uuid5``, ``ipv4``, ``ipv6``,
``cidr``, ``mac``, ``hostname``, ``email``, ``byte``, ``uri``, ``duration``, ``bsonobjectid``,
``hexcolor``, ``rgbcolor``, ``ssn``, ``isbn``/``isbn10``/``isbn13``, ``creditcard``, ``password``,
``k8s-short-name``, ``k8s-long-name``. The checks follow go-openapi's ``strfmt`` closely but not
byte for byte: ``email``, ``uri``, ``hostname`` and ``duration`` are simplified regular expressions.
Unknown formats are not checked, as in kube.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
from collections.abc import Callable
from typing import Final


def _matcher(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    compiled = re.compile(pattern, flags)
    return lambda text: compiled.fullmatch(text) is not None


_DATE_TIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?"
)
_DNS_LABEL: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_HOST_LABEL: Final = r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?"
_HOSTNAME: Final = re.compile(rf"{_HOST_LABEL}(\.{_HOST_LABEL})*")


def _is_date_time(text: str) -> bool:
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        dt.datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    try:
        return len(text) == 10 and dt.date.fromisoformat(text) is not None
    except ValueError:
        return False


def _is_ip(version: int) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        return address.version == version

    return check


def _is_cidr(text: str) -> bool:
    if "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _isbn10(digits: str) -> bool:
    if not re.fullmatch(r"\d{9}[\dX]", digits):
        return False
    total = sum((10 - index) * (10 if char == "X" else int(char)) for index, char in enumerate(digits))
    return total % 11 == 0


def _isbn13(digits: str) -> bool:
    if not re.fullmatch(r"\d{13}", digits):
        return False
    total = sum(int(char) * (1 if index % 2 == 0 else 3) for index, char in enumerate(digits))
    return total % 10 == 0


def _isbn_digits(text: str) -> str:
    return re.sub(r"[\s-]", "", text)


_CREDIT_CARD: Final = re.compile(
    r"(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}"
    r"|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})"
)

_CHECKS: Final[dict[str, Callable[[str], bool]]] = {
    "datetime": _is_date_time,
    "date": _is_date,
    "uuid": _matcher(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I),
    "uuid3": _matcher(r"[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I),
    "uuid4": _matcher(r"[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}", re.I),
    "uuid5": _matcher(r"[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}", re.I),
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "cidr": _is_cidr,
    "mac": _matcher(
        r"([0-9a-f]{2}([:-]))(?:[0-9a-f]{2}\2){4}[0-9a-f]{2}(?:(?:\2[0-9a-f]{2}){2}|(?:\2[0-9a-f]{2}){14})?"
        r"|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}(?:\.[0-9a-f]{4}(?:\.[0-9a-f]{4}){4}|\.[0-9a-f]{4})?",
        re.I,
    ),
    "hostname": lambda text: len(text) <= 255 and _HOSTNAME.fullmatch(text) is not None,
    "email": _matcher(r"[^@\s<>]+@[^@\s<>]+"),
    "byte": _is_base64,
    "uri": _matcher(r"([a-zA-Z][a-zA-Z0-9+.-]*:\S+|/\S*)"),
    "duration": _matcher(
        r"(\s*[-+]?\d+(\.\d+)?\s*(ns|us|µs|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?"
        r"|minutes?|hours?|days?|weeks?)\s*)+"
    ),
    "bsonobjectid": _matcher(r"[0-9a-fA-F]{24}"),
    "hexcolor": _matcher(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})"),
    "rgbcolor": _matcher(r"rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)"),
    "ssn": _matcher(r"\d{3}[- ]?\d{2}[- ]?\d{4}"),
    "isbn": lambda text: _isbn10(_isbn_digits(text)) or _isbn13(_isbn_digits(text)),
    "isbn10": lambda text: _isbn10(_isbn_digits(text)),
    "isbn13": lambda text: _isbn13(_isbn_digits(text)),
    "creditcard": lambda text: _CREDIT_CARD.fullmatch(re.sub(r"\D", "", text)) is not None,
    "password": lambda text: True,
    "k8s-short-name": lambda text: len(text) <= 63 and re.fullmatch(_DNS_LABEL, text) is not None,
    "k8s-long-name": lambda text: (
        len(text) <= 253 and re.fullmatch(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*", text) is not None
    ),
}


def format_is_checked(format_name: str) -> bool:
    """Whether kube keeps (and this module checks) the string format ``format_name``."""
    return _normalized(format_name) in _CHECKS


def _normalized(format_name: str) -> str:
    # go-openapi's registry compares format names without dashes; the k8s-* names keep theirs.
    return format_name if format_name.startswith("k8s-") else format_name.replace("-", "")


def string_matches_format(format_name: str, text: str) -> bool:
    """Whether ``text`` is a valid ``format_name`` string; unknown formats always match."""
    check = _CHECKS.get(_normalized(format_name))
    return True if check is None else check(text)
