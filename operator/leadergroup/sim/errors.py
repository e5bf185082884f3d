"""Kubernetes ``Status`` failures, shaped exactly as kube-apiserver returns them."""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]


class ApiError(Exception):
    """A request failure that becomes an HTTP response with a ``Status`` body.

    Args:
        code: HTTP status code.
        reason: the machine-readable ``StatusReason`` (``NotFound``, ``Conflict``, ...).
        message: the human-readable message kube would send.
        details: ``StatusDetails`` (name, group, kind, causes, retryAfterSeconds).
        headers: extra response headers (``Retry-After``).
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: JsonDict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> JsonDict:
        """The ``Status`` object for the response body (or a watch ``ERROR`` event)."""
        body: JsonDict = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def qualified(plural: str, group: str) -> str:
    """``leases.coordination.k8s.io`` or just ``pods`` for the core group, as kube prints resources."""
    return f"{plural}.{group}" if group else plural


def _resource_details(plural: str, group: str, name: str) -> JsonDict:
    # kube puts the resource (plural), not the kind, into details.kind for these errors.
    return {"name": name, "group": group, "kind": plural}


def not_found(plural: str, group: str, name: str) -> ApiError:
    """404 NotFound for a named object."""
    return ApiError(
        404,
        "NotFound",
        f'{qualified(plural, group)} "{name}" not found',
        details=_resource_details(plural, group, name),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """409 AlreadyExists on create."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        details=_resource_details(plural, group, name),
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    """409 Conflict: optimistic-concurrency failure (stale resourceVersion) or a failed precondition."""
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        details=_resource_details(plural, group, name),
    )


def invalid(kind: str, group: str, name: str, causes: list[JsonDict]) -> ApiError:
    """422 Invalid with field causes, worded like kube's ``NewInvalid``."""
    qualified_kind = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{cause['field']}: {cause['message']}" for cause in causes)
    if len(causes) > 1:
        summary = f"[{summary}]"
    return ApiError(
        422,
        "Invalid",
        f'{qualified_kind} "{name}" is invalid: {summary}',
        details={"name": name, "group": group, "kind": kind, "causes": causes},
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def forbidden(plural: str, group: str, name: str, why: str) -> ApiError:
    """403 Forbidden (no RBAC here: only semantic refusals, such as writes into a terminating namespace)."""
    return ApiError(
        403,
        "Forbidden",
        f'{qualified(plural, group)} "{name}" is forbidden: {why}',
        details=_resource_details(plural, group, name),
    )


def method_not_allowed(verb: str, what: str) -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({verb} {what})",
    )


_ACCEPTED_MEDIA_TYPES = (
    "application/json",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def unsupported_media_type(
    content_type: str, hint: str = "", accepted: tuple[str, ...] = _ACCEPTED_MEDIA_TYPES
) -> ApiError:
    """415 UnsupportedMediaType; ``accepted`` lists what the endpoint takes, as kube's message does."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - "
        f"accepted media types include: {', '.join(accepted)} "
        f"(got {content_type!r}){hint}",
    )


def not_acceptable(accept: str) -> ApiError:
    """406 NotAcceptable: the client accepts no representation we can produce (protobuf only)."""
    return ApiError(
        406,
        "NotAcceptable",
        f"only the following media types are accepted: application/json, "
        f"application/yaml (got Accept: {accept!r}); this emulator speaks JSON only",
    )


def gone(requested: int, oldest: int) -> ApiError:
    """410 Expired: a watch asked to resume from history that was compacted away."""
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def too_many_requests(retry_after: int = 1) -> ApiError:
    """429 TooManyRequests with Retry-After."""
    return ApiError(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        details={"retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def internal_error(message: str) -> ApiError:
    """500 InternalError."""
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        details={"causes": [{"message": message}]},
    )
