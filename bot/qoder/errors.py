"""Typed errors raised by the Qoder client.

Hierarchy::

    QoderError                 any failure talking to Qoder (message, status, request_id, error_type)
    ├── NetworkError           no HTTP answer: connect/read failure, timeout (status None)
    ├── InvalidRequestError    400, 413, 422: the request itself is wrong
    ├── AuthenticationError    401: missing, expired or revoked token
    ├── PermissionDeniedError  403: a working token without access to this agent, environment or session
    ├── NotFoundError          404: unknown session, agent, environment or cursor
    ├── ConflictError          409: session busy, session archived, idempotency key reused
    ├── RateLimitedError       429: slow down; ``retry_after`` seconds when the server said so
    └── ServerError            5xx and 408: the server failed; retried before it is raised

Any other status raises plain ``QoderError``. Error bodies are parsed defensively (qoder-api.md §6.1): the
JSON envelope ``{type, request_id, error: {type, message, code?}}`` when present, otherwise the raw text.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

_MAX_MESSAGE = 300


class QoderError(Exception):
    """A failed Qoder call. ``status`` is the HTTP status (None without an answer)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.error_type = error_type

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"(HTTP {self.status}{', ' + self.error_type if self.error_type else ''})")
        if self.request_id:
            parts.append(f"[request {self.request_id}]")
        return " ".join(parts)


class NetworkError(QoderError):
    """Qoder could not be reached or did not answer in time."""


class InvalidRequestError(QoderError):
    """400/413/422: the request was rejected as malformed."""


class AuthenticationError(QoderError):
    """401: the token is missing, invalid, expired or revoked."""


class PermissionDeniedError(QoderError):
    """403: the token works but may not use this agent, environment or session (its workspace or permissions
    do not cover it). Not an ``AuthenticationError``: the credentials themselves are fine."""


class NotFoundError(QoderError):
    """404: the session (or agent, environment, event cursor) does not exist."""


class ConflictError(QoderError):
    """409. ``busy``: the session is still running a turn (queue and retry after idle).
    ``archived``: the session is archived or terminated and takes no more input. Otherwise e.g. an
    idempotency key was reused with a different body."""

    def __init__(self, message: str, *, busy: bool = False, archived: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.busy = busy
        self.archived = archived


class RateLimitedError(QoderError):
    """429. ``retry_after`` is the server's requested wait in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(QoderError):
    """5xx or 408: a failure on Qoder's side."""


def parse_retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After-Ms``, or ``Retry-After`` as seconds or an HTTP date; None if absent."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_from_response(response: httpx.Response, *, busy_if_unsure: bool = False) -> QoderError:
    """The typed error for a non-2xx ``response`` (its body must have been read).

    ``busy_if_unsure``: classify a 409 without a telling type or message as "session busy" (right for a
    ``user.message`` send, where that is the documented cause; qoder-api.md §5.3).
    """
    status = response.status_code
    body = _json_or_none(response.content)
    error = body.get("error") if isinstance(body, dict) else None
    error_type: str | None = None
    code: str | None = None
    message: str | None = None
    if isinstance(error, dict):
        error_type = _str_or_none(error.get("type"))
        code = _str_or_none(error.get("code"))
        message = _str_or_none(error.get("message"))
    elif isinstance(error, str):  # legacy {"error": "...", "code": "..."}
        message = error
        code = _str_or_none(body.get("code")) if isinstance(body, dict) else None
    if message is None:
        if isinstance(body, dict):
            message = _str_or_none(body.get("message"))
        if message is None:
            text = response.text.strip()
            message = text[:_MAX_MESSAGE] if text else (response.reason_phrase or f"HTTP {status}")
    request_id = (_str_or_none(body.get("request_id")) if isinstance(body, dict) else None) or (
        response.headers.get("x-request-id") or response.headers.get("request-id")
    )
    kwargs: dict[str, Any] = {"status": status, "request_id": request_id, "error_type": error_type or code}

    if status == 401:
        return AuthenticationError(message, **kwargs)
    if status == 403:
        return PermissionDeniedError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status == 409:
        return _conflict(message, error_type, code, busy_if_unsure, kwargs)
    if status == 429:
        return RateLimitedError(message, retry_after=parse_retry_after(response.headers), **kwargs)
    if status == 408 or status >= 500:
        return ServerError(message, **kwargs)
    if status in (400, 413, 422):
        return InvalidRequestError(message, **kwargs)
    return QoderError(message, **kwargs)


def _conflict(
    message: str, error_type: str | None, code: str | None, busy_if_unsure: bool, kwargs: dict[str, Any]
) -> ConflictError:
    hints = " ".join(s for s in (error_type, code, message) if s).lower()
    archived = "archived" in hints or "terminated" in hints
    if archived or "idempoten" in hints or "version" in hints:
        busy = False
    elif any(word in hints for word in ("busy", "running", "processing", "in progress")):
        busy = True
    else:
        busy = busy_if_unsure
    return ConflictError(message, busy=busy, archived=archived, **kwargs)


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
