"""When to retry a failed Qoder call and how long to wait (qoder-api.md §6.2, §3.4)."""

from __future__ import annotations

import random

import httpx

from bot.qoder.errors import parse_retry_after

RETRY_AFTER_CAP = 60.0  # never sleep longer than this on a server's say-so


def backoff(delay: float) -> float:
    """``delay`` with jitter: multiplied by a random factor in [0.5, 1.0] (as the official SDKs do)."""
    return delay * random.uniform(0.5, 1.0)


def retry_delay(attempt: int, base: float, cap: float, response: httpx.Response | None = None) -> float:
    """Seconds before retry number ``attempt`` (0-based): the server's Retry-After when it sent one,
    else exponential backoff from ``base`` capped at ``cap``, with jitter."""
    if response is not None:
        requested = parse_retry_after(response.headers)
        if requested is not None:
            return min(requested, RETRY_AFTER_CAP)
    return backoff(min(cap, base * 2**attempt))


def status_is_retryable(response: httpx.Response, *, idempotent: bool) -> bool:
    """Whether a non-2xx answer may be retried. 409 never; ``x-should-retry`` wins otherwise; 429 always
    (the request was not processed); 408 and 5xx only for GETs and requests with an Idempotency-Key."""
    status = response.status_code
    if status == 409:
        return False
    hint = str(response.headers.get("x-should-retry", "")).lower()
    if hint in ("true", "false"):
        return hint == "true"
    if status == 429:
        return True
    return idempotent and (status == 408 or status >= 500)
