"""SpecError and the translation of pydantic's errors into messages a user can act on."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails


class SpecError(Exception):
    """A LeaderGroup the operator cannot act on.

    The operator reports it as a ``Stalled`` condition; the message is meant for the user.

    Attributes:
        message: Field path and problem, such as
            ``spec.replicas: Input should be greater than or equal to 1``.
    """

    def __init__(self, message: str) -> None:
        """Keep the user-facing message."""
        super().__init__(message)
        self.message = message


class NestedFieldError(ValueError):
    """A validator's complaint about a field below the one it validates.

    Pydantic reports a validator's error at the validated field; ``subpath`` (such as ``.spec.containers[1]``)
    lets the message point at the exact field inside it.
    """

    def __init__(self, subpath: str, problem: str) -> None:
        """Keep where below the validated field the problem is, and what it is."""
        super().__init__(problem)
        self.subpath = subpath
        self.problem = problem


# Pydantic's words for these name Python types ("instance of ElectionSpec"); users write YAML.
_PLAIN_WORDS = {
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
    "dict_type": "Input should be an object",
    "list_type": "Input should be a list",
}
# Pydantic names the member of a union it tried in the error location; they are not field names.
_UNION_MEMBER_TAGS = frozenset({"int", "str", "bool", "float", "list", "dict", "none"})


def describe_validation_error(error: ValidationError, prefix: str) -> str:
    """Turn pydantic's errors into one entry per field: ``spec.replicas: <problem>``.

    Args:
        error: The error pydantic raised.
        prefix: The path of the validated object inside the whole body, such as ``spec``.

    Returns:
        The problems, separated by ``; ``, in the order pydantic found them.
    """
    problems: dict[str, list[str]] = {}
    for detail in error.errors(include_url=False):
        path, problem = _locate(prefix, detail)
        problems.setdefault(path, []).append(problem)
    return "; ".join(f"{path}: {_join(texts)}" for path, texts in problems.items())


def _join(texts: list[str]) -> str:
    """One message for one field; a failed int-or-string union reports once per member, said once here."""
    unique = list(dict.fromkeys(texts))
    expected = "Input should be a valid "
    if len(unique) > 1 and all(text.startswith(expected) for text in unique):
        return expected + " or ".join(text.removeprefix(expected) for text in unique)
    return "; ".join(unique)


def _locate(prefix: str, detail: ErrorDetails) -> tuple[str, str]:
    """The dotted field path of one error and its message, in the user's terms."""
    path = prefix
    for part in detail["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in _UNION_MEMBER_TAGS and "[" not in part:
            path += f".{part}"
    if detail["type"] == "missing":
        return path, "Field required"
    if detail["type"] != "value_error":
        return path, _PLAIN_WORDS.get(detail["type"], detail["msg"])
    cause = (detail.get("ctx") or {}).get("error")
    if isinstance(cause, NestedFieldError):
        return path + cause.subpath, cause.problem
    # Our validators' ValueErrors already read as sentences; pydantic's "Value error, " prefix adds nothing.
    return path, str(cause) if cause is not None else detail["msg"]
