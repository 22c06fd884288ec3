"""Errors a server method raises on purpose; the error middleware turns them into JSON.

The body shape is the one the SDK parses: ``{"error": <text>, "details": {"message": <text>}}``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "RequestTooLarge",
    "RangeNotSatisfiable",
    "NonUnique",
    "Unavailable",
]


class ApiError(Exception):
    """An HTTP error answer: ``status`` and a JSON body."""

    status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = {"message": message, **(details or {})}

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "details": self.details}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class RequestTooLarge(ApiError):
    status = 413


class RangeNotSatisfiable(ApiError):
    status = 416


class NonUnique(BadRequest):
    """``images.bulk.add`` name conflicts: every conflicting title, nothing inserted."""

    def __init__(self, conflicts: list[tuple[str, int]]) -> None:
        names = ", ".join(name for name, _ in conflicts[:5])
        more = f" (and {len(conflicts) - 5} more)" if len(conflicts) > 5 else ""
        super().__init__(
            f"Image names already exist in the dataset: {names}{more}",
            {
                "type": "NONUNIQUE",
                "errors": [{"name": name, "id": image_id} for name, image_id in conflicts],
            },
        )


class Unavailable(ApiError):
    """The database or the object store cannot be reached: the client retries a 503."""

    status = 503
