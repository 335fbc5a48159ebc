"""Small helpers for Slack Web API calls made within the workspace rate budget."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.ratelimit import RateBudget

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_WAIT = 60.0


def error_code(error: SlackApiError) -> str:
    """Slack's ``error`` string (``""`` when the response has none)."""
    return str(error.response.get("error", "")) if error.response is not None else ""


def retry_after(error: SlackApiError) -> float:
    """Seconds Slack asked us to wait (``Retry-After``), capped at ``MAX_RATE_LIMIT_WAIT``; 1 if absent."""
    headers = error.response.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after") or "1"
    if isinstance(value, list):
        value = value[0]
    try:
        return min(max(float(value), 0.0), MAX_RATE_LIMIT_WAIT)
    except ValueError:
        return 1.0


def note_rate_limited(budget: RateBudget | None, method: str, error: SlackApiError) -> float:
    """Record a 429 for ``method``: pause it for every caller sharing ``budget``. Returns the wait."""
    wait = retry_after(error)
    log.warning("Slack rate-limited %s; pausing it for %.1fs", method, wait)
    if budget is not None:
        budget.pause(method, wait)
    return wait


async def call(
    client: AsyncWebClient,
    budget: RateBudget | None,
    method: str,
    channel: str,
    *,
    attempts: int = 3,
    **params: Any,
) -> Any:
    """Call ``method`` in ``channel`` when the budget allows; a 429 pauses the method and tries again.

    Raises ``SlackApiError`` for any other failure, or when every attempt was rate-limited.
    """
    for attempt in range(attempts):
        if budget is not None:
            await budget.acquire(method, channel)
        try:
            return await client.api_call(method, json={"channel": channel, **params})
        except SlackApiError as error:
            if error.response.status_code != 429 or attempt == attempts - 1:
                raise
            wait = note_rate_limited(budget, method, error)
            if budget is None:
                await asyncio.sleep(wait)
    raise AssertionError("unreachable")
