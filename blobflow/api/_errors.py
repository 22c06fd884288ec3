"""Typed errors of the API client; each carries the server's own message."""

from __future__ import annotations

import json
from typing import Any

from blobflow._errors import BlobflowError

__all__ = [
    "ApiError",
    "AuthError",
    "NotFoundError",
    "ConflictError",
    "RetryBudgetExceeded",
    "error_from_response",
]


class ApiError(BlobflowError):
    """The server answered with an error status (or never answered usefully).

    ``status`` is the HTTP status (None when no response arrived), ``message`` the server's
    text, ``url`` the endpoint, ``details`` the parsed ``details`` object of the error JSON, and
    ``attempt`` the 1-based attempt that produced it (> 1 means an earlier attempt failed
    ambiguously, which matters for non-idempotent calls such as ``images.bulk.add``).
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        url: str = "",
        *,
        details: Any = None,
        attempt: int = 1,
    ) -> None:
        self.status = status
        self.message = message
        self.url = url
        self.details = details
        self.attempt = attempt
        where = f" for {url}" if url else ""
        code = f"HTTP {status}" if status is not None else "request failed"
        super().__init__(f"{code}{where}: {message}")


class AuthError(ApiError):
    """401 or 403: the token is missing, wrong, or has no access to that team/object."""


class NotFoundError(ApiError):
    """404: the object does not exist (or is not visible to this token)."""


class ConflictError(ApiError):
    """400 NONUNIQUE: names already exist. ``conflicts`` is the list of ``{"name", "id"}``."""

    def __init__(self, *args: Any, conflicts: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conflicts = conflicts


class RetryBudgetExceeded(ApiError):
    """Every attempt failed with a retryable error; ``last_error`` is the final one."""

    def __init__(self, last_error: BaseException, attempts: int, url: str = "") -> None:
        status = last_error.status if isinstance(last_error, ApiError) else None
        super().__init__(
            status,
            f"gave up after {attempts} attempts; last error: {last_error!s}",
            url,
            attempt=attempts,
        )
        self.last_error = last_error
        self.attempts = attempts


def _parse_body(body: bytes) -> tuple[str, Any]:
    """(message, details) from an error body ``{"error", "details": {...} | [{...}]}``."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:1000] or "(empty body)", None
    if not isinstance(data, dict):
        return text.strip()[:1000], None
    details = data.get("details")
    if isinstance(details, list):
        details = details[0] if details and isinstance(details[0], dict) else None
    parts = [str(data["error"])] if data.get("error") else []
    if isinstance(details, dict) and details.get("message"):
        detail = str(details["message"])
        # servers often repeat the error as the detail: say it once
        if not parts or (detail not in parts[0] and parts[0] not in detail):
            parts.append(detail)
        elif parts[0] in detail:
            parts = [detail]
    return (": ".join(parts) or text.strip()[:1000]), details


def error_from_response(status: int, body: bytes, url: str, *, attempt: int = 1) -> ApiError:
    """The typed :class:`ApiError` for a non-2xx response."""
    message, details = _parse_body(body)
    if status in (401, 403):
        return AuthError(status, message, url, details=details, attempt=attempt)
    if status == 404:
        return NotFoundError(status, message, url, details=details, attempt=attempt)
    if status == 400 and isinstance(details, dict) and details.get("type") == "NONUNIQUE":
        conflicts = [e for e in details.get("errors") or [] if isinstance(e, dict)]
        return ConflictError(
            status, message, url, details=details, attempt=attempt, conflicts=conflicts
        )
    return ApiError(status, message, url, details=details, attempt=attempt)
