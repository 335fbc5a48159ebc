"""What the bot says in a thread outside the agent's reply: short notices, status reactions, permalinks.

Every call goes through the workspace rate budget. Failures only cost the notice or reaction: they are
logged and never raised, because none of them may stop a message from reaching the agent.
"""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import slack_calls
from bot.models import ThreadKey
from bot.ratelimit import RateBudget
from bot.render import render_notice
from bot.store import Store

log = logging.getLogger(__name__)


class ThreadFeedback:
    """Posts notices (indexed, so a stop reaction on them works) and adds or removes reactions."""

    def __init__(self, slack: AsyncWebClient, store: Store, budget: RateBudget | None) -> None:
        self._slack = slack
        self._store = store
        self._budget = budget

    async def notice(self, thread: ThreadKey, text: str) -> None:
        """Post one short, escaped sentence in ``thread``."""
        try:
            response = await slack_calls.call(
                self._slack,
                self._budget,
                "chat.postMessage",
                thread.channel,
                thread_ts=thread.thread_ts,
                **render_notice(text).payload(),
            )
            await self._store.index_message(thread.channel, str(response["ts"]), thread)
        except SlackApiError as error:
            log.warning("could not post a notice in %s: %s", thread, slack_calls.error_code(error))

    async def react(self, channel: str, ts: str, name: str) -> None:
        """Add reaction ``name`` to message ``ts`` (no-op for an empty name)."""
        await self._reaction("reactions.add", channel, ts, name)

    async def unreact(self, channel: str, ts: str, name: str) -> None:
        """Remove reaction ``name`` from message ``ts`` (no-op for an empty name)."""
        await self._reaction("reactions.remove", channel, ts, name)

    async def permalink(self, thread: ThreadKey, timeout: float) -> str:
        """A link to the thread's root message, or ``""`` when Slack does not answer in time."""
        try:
            response = await asyncio.wait_for(
                self._slack.chat_getPermalink(channel=thread.channel, message_ts=thread.thread_ts), timeout
            )
            return str(response["permalink"])
        except (SlackApiError, TimeoutError, KeyError):
            return ""

    async def _reaction(self, method: str, channel: str, ts: str, name: str) -> None:
        if not name or not ts:
            return
        try:
            await slack_calls.call(self._slack, self._budget, method, channel, timestamp=ts, name=name)
        except SlackApiError as error:
            if slack_calls.error_code(error) not in ("already_reacted", "no_reaction"):
                log.debug("%s %s failed: %s", method, name, slack_calls.error_code(error))
