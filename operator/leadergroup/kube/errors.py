"""Errors raised by the Kubernetes client, carrying the API server's ``Status``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The API server answered with an error status (or could not be reached: ``status == 0``)."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        """The object (or its namespace) does not exist."""
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """A conditional write lost (stale resourceVersion) or the object already exists."""
        return self.status == 409

    @property
    def already_exists(self) -> bool:
        """A create found an object of that name."""
        return self.status == 409 and self.reason == "AlreadyExists"

    @property
    def invalid(self) -> bool:
        """The server rejected the object as invalid (schema, CEL or built-in validation)."""
        return self.status == 422

    @property
    def retriable(self) -> bool:
        """Worth retrying as is: throttling, server trouble, or no connection at all."""
        return self.status in (0, 429) or self.status >= 500

    @classmethod
    def from_status(cls, http_status: int, body: Any) -> ApiError:
        """Build the error from an HTTP status and the (possibly non-JSON) response body."""
        if isinstance(body, dict) and body.get("kind") == "Status":
            return cls(http_status, str(body.get("reason", "")), str(body.get("message", "")), body)
        return cls(http_status, "Unknown", str(body)[:500])


class ApiUnavailable(ApiError):
    """The API server could not be reached or did not answer in time."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Unavailable", message)


class WatchSilent(ApiUnavailable):
    """A watch delivered nothing (no event, no bookmark, no end) for longer than its idle bound."""

    def __init__(self, message: str, silent_for: float) -> None:
        super().__init__(message)
        self.silent_for = silent_for
