"""Answers to a slash command or shortcut through its ``response_url`` (Slack: at most 5 answers within
30 minutes, no rate tier). Unlike ``chat.postEphemeral`` these work in any conversation the command was
used in, also ones the bot is not a member of."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from bot.outbox._transport import SlackError

RESPONSE_TIMEOUT_SECONDS = 10.0


class Responder(Protocol):
    """Posts one answer to a ``response_url``; raises ``SlackError`` when Slack refuses it."""

    async def __call__(self, url: str, payload: Mapping[str, Any]) -> None: ...


class ResponseUrlPoster:
    """``Responder`` over an aiohttp session (the one the Web API client uses)."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout: float = RESPONSE_TIMEOUT_SECONDS) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __call__(self, url: str, payload: Mapping[str, Any]) -> None:
        try:
            async with self._session.post(url, json=dict(payload), timeout=self._timeout) as response:
                if response.status >= 300:
                    raise SlackError("response_url", (await response.text()).strip()[:100], response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SlackError("response_url", type(error).__name__, 0) from None
