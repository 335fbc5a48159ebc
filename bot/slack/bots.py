"""Messages from other bots and apps: ignored (no bot loops), unless the bot is listed in ``ALLOWED_BOTS``.

Slack marks a bot's message with ``bot_id`` (and, for apps with a bot user, ``user``), or with the legacy
``bot_message`` subtype (slack-platform.md §5.3). The bot's own messages never get here: Bolt drops them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BOT_SUBTYPE = "bot_message"


def from_bot(event: Mapping[str, Any]) -> bool:
    """``event`` was posted by a bot or an app, not by a person."""
    return bool(event.get("bot_id")) or event.get("subtype") == BOT_SUBTYPE


def allowed_bot(event: Mapping[str, Any], allowed: frozenset[str]) -> bool:
    """The bot that posted ``event`` is listed, by its bot id (``B…``) or its bot user id (``U…``)."""
    ids = {str(event.get(key) or "") for key in ("bot_id", "user")} - {""}
    return bool(ids & allowed)


def sender(event: Mapping[str, Any]) -> str:
    """Who the message is from: the user id, or the bot id of a bot without a bot user."""
    return str(event.get("user") or event.get("bot_id") or "")
