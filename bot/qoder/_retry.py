"""When to retry a failed Qoder call and how long to wait (qoder-api.md §6.2, §3.4).

Time and chance are injected so that tests can drive retries without waiting: ``Clock`` reads monotonic
seconds, ``Sleep`` waits, ``Uniform(low, high)`` draws the jitter factor. The real ones are the defaults.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from bot.qoder.errors import parse_retry_after

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Uniform = Callable[[float, float], float]

RETRY_AFTER_CAP = 60.0  # never sleep longer than this on a server's say-so


@dataclass(frozen=True)
class Timing:
    """The clock, sleep and jitter draw a retrying caller uses: the real ones unless a test passes its own."""

    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    uniform: Uniform = random.uniform


def backoff(delay: float, uniform: Uniform = random.uniform) -> float:
    """``delay`` with jitter: multiplied by ``uniform(0.5, 1.0)`` (as the official SDKs do)."""
    return delay * uniform(0.5, 1.0)


def retry_delay(
    attempt: int,
    base: float,
    cap: float,
    response: httpx.Response | None = None,
    *,
    uniform: Uniform = random.uniform,
) -> float:
    """Seconds before retry number ``attempt`` (0-based): the server's Retry-After when it sent one (at most
    ``RETRY_AFTER_CAP``), else exponential backoff from ``base`` capped at ``cap``, with jitter."""
    if response is not None:
        requested = parse_retry_after(response.headers)
        if requested is not None:
            return min(requested, RETRY_AFTER_CAP)
    return backoff(min(cap, base * 2**attempt), uniform)


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
