"""Slack message text → the plain text the agent should read."""

from __future__ import annotations

import re

_BOT_MENTION = r"<@{bot}(?:\|[^>]*)?>"
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|([^>]*))?>")


def to_agent_text(text: str, bot_user_id: str | None) -> str:
    """Strip mentions of the bot, turn Slack's ``<…>`` tokens into readable text, unescape entities."""
    if bot_user_id:
        text = re.sub(_BOT_MENTION.format(bot=re.escape(bot_user_id)), "", text)
    text = _LINK.sub(lambda m: _link(m.group(1), m.group(2)), text)
    text = _USER.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = _SUBTEAM.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.strip()


def _link(url: str, label: str | None) -> str:
    if not label or label == url or url.endswith(label):
        return url
    return f"{label} ({url})"
