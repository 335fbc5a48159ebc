"""The plain-text fallback for a message Slack refuses for its content.

Slack may refuse blocks the bot believes valid (``invalid_blocks`` and its kin). The same call made again
with only a top-level ``text`` always has a shape Slack takes, so a reply never stays on an older frame:
``refused_content`` tells such a refusal, ``plain`` makes that payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.outbox._transport import SlackError

# Slack's answers to a message whose blocks, attachments or markdown it will not take.
CONTENT_REFUSALS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_attachments",
        "too_many_attachments",
        "msg_too_long",
        "msg_blocks_too_long",
        "msg_blocks_too_many",
        "too_many_blocks",
        "markdown_text_conflict",
        "no_text",
    }
)
PLAIN_TEXT_LIMIT = 3_900  # under chat.update's 4,000
_RICH = ("blocks", "attachments", "markdown_text")


def refused_content(error: SlackError, params: Mapping[str, Any]) -> bool:
    """Slack refused ``params`` for their content, and a plain-text payload would be different."""
    if error.code not in CONTENT_REFUSALS:
        return False
    text = params.get("text")
    return any(params.get(key) for key in _RICH) or not isinstance(text, str) or len(text) > PLAIN_TEXT_LIMIT


def plain(params: Mapping[str, Any], *, edit: bool = False) -> dict[str, Any]:
    """``params`` with only a top-level ``text``: the same (already safe) text, or else its markdown_text,
    cut to ``PLAIN_TEXT_LIMIT`` characters; blocks, attachments and markdown_text dropped. An ``edit``
    sends empty ``blocks``, since ``chat.update`` keeps the old ones otherwise."""
    text = params.get("text") or params.get("markdown_text")
    if not isinstance(text, str) or not text.strip():
        text = "…"
    if len(text) > PLAIN_TEXT_LIMIT:
        text = text[: PLAIN_TEXT_LIMIT - 1] + "…"
    kept = {key: value for key, value in params.items() if key not in (*_RICH, "text")}
    cleared: dict[str, Any] = {"blocks": []} if edit else {}
    return {**kept, "text": text, **cleared}
