"""Slack messages: mrkdwn content cut to Slack's limits, with Block Kit blocks carrying the same content."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.render.mrkdwn import safe_text
from bot.render.split import split_mrkdwn

TEXT_LIMIT = 3_900
SECTION_LIMIT = 3_000
FOOTER_LIMIT = 198
# Content is cut to leave room for the footer, so a footer appearing never moves earlier cuts.
CONTENT_LIMIT = TEXT_LIMIT - FOOTER_LIMIT - 2
NOTICE_LIMIT = 500
STOP_ACTION_ID = "qoder_stop"


@dataclass(frozen=True)
class SlackMessage:
    """One bot message. ``text`` is the whole content as safe mrkdwn (≤ 3,900 chars); ``blocks`` shows the
    same content as section blocks (each ≤ 3,000 chars), plus an optional stop button and footer."""

    text: str
    blocks: tuple[dict[str, Any], ...] = ()

    def payload(self) -> dict[str, Any]:
        """Keyword arguments for ``chat.postMessage`` / ``chat.update`` (``blocks`` only when there are any)."""
        payload: dict[str, Any] = {"text": self.text}
        if self.blocks:
            payload["blocks"] = list(self.blocks)
        return payload


def build_messages(content: str, *, footer: str = "", stop_value: str | None = None) -> list[SlackMessage]:
    """Cut non-empty mrkdwn ``content`` into messages. The last one gets ``footer`` (mrkdwn, one line) as a
    context block and, when ``stop_value`` is given, the stop button."""
    footer = _truncate(footer, FOOTER_LIMIT)
    pieces = [piece for piece in split_mrkdwn(content, CONTENT_LIMIT) if piece.strip()] or [content.strip()]
    messages = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        blocks: list[dict[str, Any]] = [
            _section(chunk) for chunk in split_mrkdwn(piece, SECTION_LIMIT) if chunk
        ]
        text = piece
        if last and stop_value is not None:
            blocks.append(stop_button(stop_value))
        if last and footer:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
            text = f"{piece}\n\n{footer}" if piece else footer
        messages.append(SlackMessage(text=text, blocks=tuple(blocks)))
    return messages


def render_notice(text: str) -> SlackMessage:
    """A short plain sentence from the bot (e.g. that a message was queued), escaped."""
    return SlackMessage(text=safe_text(_truncate(text.strip(), NOTICE_LIMIT)))


def stop_button(value: str) -> dict[str, Any]:
    """The actions block holding the button that stops the running turn; ``value`` comes back on click."""
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": STOP_ACTION_ID,
                "text": {"type": "plain_text", "text": "Stop"},
                "style": "danger",
                "value": value,
            }
        ],
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
