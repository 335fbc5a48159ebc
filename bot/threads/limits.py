"""The checks a message passes before it reaches the agent: who may talk to it, how long a message may be,
and how many turns one person may start per minute.

A refusal says why in the thread, but never so often that it becomes noise: the allow-list refusal once
per thread and the per-person limit once per minute per person, both remembered in the store (claims, so
every replica agrees). The per-person limit is a sliding window: each accepted message takes one of the
person's ``USER_TURNS_PER_MINUTE`` slots for sixty seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import metrics
from bot.store import Store
from bot.threads._shared import DEDUPE_TTL_SECONDS, NOT_ALLOWED_NOTICE, IncomingMessage, ThreadsConfig

RATE_WINDOW_SECONDS = 60.0

TOO_LONG_NOTICE = (
    "That message is {length:,} characters long, and I pass at most {limit:,} characters to the agent"
    " (MAX_MESSAGE_CHARS). Please send a shorter one."
)
RATE_NOTICE = (
    "You've sent me {limit} messages in the last minute, as many as I take from one person"
    " (USER_TURNS_PER_MINUTE). Please wait a moment, then send this one again."
)


@dataclass(frozen=True)
class Refusal:
    """A message the agent will not get: ``reason`` for the metrics, ``notice`` for the thread ("" when
    the thread was already told)."""

    reason: str
    notice: str


class Limits:
    """Decides whether a message may go to the agent; safe to call concurrently and from every replica."""

    def __init__(self, store: Store, config: ThreadsConfig) -> None:
        self._store = store
        self._config = config

    async def check(self, message: IncomingMessage) -> Refusal | None:
        """None when ``message`` may go on, else why not. A message with no text passes (the caller asks
        for a task) and takes no slot of the per-person limit."""
        if not self._config.allows(message.user, message.thread.channel):
            told = await self._store.claim_event(f"refused:{message.thread}", DEDUPE_TTL_SECONDS)
            return self._refuse("not_allowed", NOT_ALLOWED_NOTICE if told else "")
        if not message.text.strip():
            return None
        limit = self._config.max_message_chars
        if limit and len(message.text) > limit:
            return self._refuse("too_long", TOO_LONG_NOTICE.format(length=len(message.text), limit=limit))
        if not await self._take_turn_slot(message):
            user = f"{message.thread.team}:{message.user}"
            told = await self._store.claim_event(f"rate-notice:{user}", RATE_WINDOW_SECONDS)
            per_minute = self._config.user_turns_per_minute
            return self._refuse("user_rate", RATE_NOTICE.format(limit=per_minute) if told else "")
        return None

    async def _take_turn_slot(self, message: IncomingMessage) -> bool:
        """Take one of the sender's slots for a minute; False when all are taken (or the limit is off: True)."""
        per_minute = self._config.user_turns_per_minute
        user = f"{message.thread.team}:{message.user}"
        for slot in range(per_minute):
            if await self._store.claim_event(f"turn-slot:{user}:{slot}", RATE_WINDOW_SECONDS):
                return True
        return per_minute == 0

    @staticmethod
    def _refuse(reason: str, notice: str) -> Refusal:
        metrics.message_refused(reason)
        return Refusal(reason, notice)
