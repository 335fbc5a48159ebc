"""Errors the fake answers with the §6.1 envelope ``{type: "error", request_id, error: {type, message}}``."""

from __future__ import annotations

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    """The ``error.type`` Qoder sends with ``status`` (``api_error`` for 5xx and anything unlisted)."""
    return ERROR_TYPES.get(status, "api_error")


class ApiError(Exception):
    """Raised by a handler; the middleware answers it as the error envelope with ``headers`` added."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, "invalid_request_error", message)


def conflict(message: str) -> ApiError:
    """A 409 ``conflict_error``."""
    return ApiError(409, "conflict_error", message)
