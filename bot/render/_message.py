"""Slack messages: a turn's parts laid out in order across as many messages as Slack's limits need.

Agent text goes into ``markdown`` blocks (Slack renders the Markdown itself); the bot's own lines go into
mrkdwn ``section`` or ``context`` blocks. Every message's ``text`` is the same content as mrkdwn, in the same
order, so notifications and clients without blocks show what the blocks show.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.interactive import (
    APPROVE_ACTION_ID,
    DENY_ACTION_ID,
    DENY_REASON_ACTION_ID,
    STOP_ACTION_ID,
    approval_value,
)
from bot.render._cut import cut_markdown, split_mrkdwn
from bot.render._limits import (
    BLOCK_ID_LIMIT,
    MESSAGE_CONTENT_BLOCKS,
    MESSAGE_CONTENT_LIMIT,
    MESSAGE_FOOTER_LIMIT,
    MESSAGE_MARKDOWN_LIMIT,
    MESSAGE_MIN_ROOM,
    MESSAGE_TEXT_LIMIT,
    MIN_CUT_LIMIT,
    NOTICE_MESSAGE_LIMIT,
    SECTION_TEXT_LIMIT,
    truncate,
)
from bot.render._mrkdwn import markdown_to_mrkdwn
from bot.render._safety import safe_markdown, safe_text

_SEPARATOR = "\n\n"

PartKind = Literal["markdown", "section", "context"]


@dataclass(frozen=True)
class Part:
    """One piece of content: agent Markdown (``markdown``) or a bot line in mrkdwn, shown as a ``section``
    or, for secondary lines, a ``context`` block. A section with ``actions`` (one actions block) keeps them
    right under it, in the same message; its text must fit one section."""

    kind: PartKind
    text: str
    actions: dict[str, Any] | None = None


@dataclass(frozen=True)
class SlackMessage:
    """One bot message. ``text`` is the whole content as safe mrkdwn (≤ 3,900 chars); ``blocks`` shows the
    same content (≤ 50 blocks, sections ≤ 3,000 chars, markdown blocks ≤ 11,000 chars in all), plus an
    optional stop button and footer."""

    text: str
    blocks: tuple[dict[str, Any], ...] = ()

    def payload(self) -> dict[str, Any]:
        """Keyword arguments for ``chat.postMessage`` / ``chat.update`` (``blocks`` only when there are any)."""
        payload: dict[str, Any] = {"text": self.text}
        if self.blocks:
            payload["blocks"] = list(self.blocks)
        return payload


def build_messages(
    parts: Sequence[Part], *, footer: str = "", stop_value: str | None = None
) -> list[SlackMessage]:
    """Lay ``parts`` out in order across messages (at least one, each within Slack's block limit). The last
    message gets ``footer`` (mrkdwn, one line) as a context block and the stop button when ``stop_value`` is
    given."""
    layout = _Layout()
    for part in parts:
        if part.kind == "markdown":
            layout.add_markdown(part.text)
        elif part.actions is not None:
            text = truncate(part.text, SECTION_TEXT_LIMIT)
            layout.add(_Chunk((_mrkdwn_block("section", text), part.actions), text))
        else:
            for piece in split_mrkdwn(part.text, SECTION_TEXT_LIMIT):
                if piece.strip():
                    layout.add(_Chunk((_mrkdwn_block(part.kind, piece),), piece))
    pages = layout.pages or [[]]
    messages = []
    for index, page in enumerate(pages):
        blocks = [block for chunk in page for block in chunk.blocks]
        texts = [chunk.mrkdwn for chunk in page]
        if index == len(pages) - 1:
            if stop_value is not None:
                blocks.append(stop_button(stop_value))
            if footer := truncate(footer, MESSAGE_FOOTER_LIMIT):
                blocks.append(_mrkdwn_block("context", footer))
                texts.append(footer)
        messages.append(SlackMessage(text=_SEPARATOR.join(texts) or "…", blocks=tuple(blocks)))
    return messages


def render_notice(text: str) -> SlackMessage:
    """A short plain sentence from the bot (e.g. that a message was queued), escaped."""
    return SlackMessage(text=safe_text(truncate(text.strip(), NOTICE_MESSAGE_LIMIT)) or "…")


def render_mrkdwn(text: str) -> SlackMessage:
    """A message of the bot's own mrkdwn (its caller escaped whatever it did not write), in sections."""
    pieces = [piece for piece in split_mrkdwn(text.strip(), SECTION_TEXT_LIMIT) if piece.strip()]
    blocks = tuple(_mrkdwn_block("section", piece) for piece in pieces[:MESSAGE_CONTENT_BLOCKS])
    return SlackMessage(text=truncate(text.strip(), MESSAGE_TEXT_LIMIT) or "…", blocks=blocks)


def stop_button(value: str) -> dict[str, Any]:
    """The actions block holding the button that stops the running turn; ``value`` comes back on click."""
    return {"type": "actions", "elements": [_button(STOP_ACTION_ID, "Stop", value, "danger")]}


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]+")  # an id Qoder makes; anything else goes into a block_id hashed


def approval_buttons(thread_value: str, tool_use_id: str) -> dict[str, Any]:
    """The actions block deciding one tool call waiting on a person: Approve, Deny and Deny with reason…
    (which opens a modal). Every button's value is :func:`bot.interactive.approval_value`; the block's id
    is unique to the tool call, so many of these can share a message."""
    value = approval_value(thread_value, tool_use_id)
    block_id = f"qoder_approval:{tool_use_id}"
    if len(block_id) > BLOCK_ID_LIMIT or not _PLAIN_ID.fullmatch(tool_use_id):
        block_id = f"qoder_approval:{hashlib.sha256(tool_use_id.encode()).hexdigest()}"
    return {
        "type": "actions",
        "block_id": block_id,
        "elements": [
            _button(APPROVE_ACTION_ID, "Approve", value, "primary"),
            _button(DENY_ACTION_ID, "Deny", value, "danger"),
            _button(DENY_REASON_ACTION_ID, "Deny with reason…", value, None),
        ],
    }


def _button(action_id: str, text: str, value: str, style: str | None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
    }
    if style:
        button["style"] = style
    return {**button, "value": value}


@dataclass(frozen=True)
class _Chunk:
    blocks: tuple[dict[str, Any], ...]
    mrkdwn: str
    markdown_size: int = 0


@dataclass
class _Layout:
    """Messages being filled in order; a chunk that does not fit where the last one ended starts a new one."""

    pages: list[list[_Chunk]] = field(default_factory=list)
    _text: int = 0
    _markdown: int = 0
    _blocks: int = 0
    _break: bool = True  # the next chunk starts a new message

    def room(self) -> tuple[int, int]:
        """Characters of mrkdwn and of markdown blocks the message the next chunk goes into can take."""
        if self._break or self._blocks >= MESSAGE_CONTENT_BLOCKS:
            return MESSAGE_CONTENT_LIMIT, MESSAGE_MARKDOWN_LIMIT
        return MESSAGE_CONTENT_LIMIT - self._text - len(_SEPARATOR), MESSAGE_MARKDOWN_LIMIT - self._markdown

    def add(self, chunk: _Chunk) -> None:
        text_room, markdown_room = self.room()
        if (
            self._break
            or self._blocks + len(chunk.blocks) > MESSAGE_CONTENT_BLOCKS
            or len(chunk.mrkdwn) > text_room
            or chunk.markdown_size > markdown_room
        ):
            self.pages.append([chunk])
            self._text, self._markdown, self._break = len(chunk.mrkdwn), chunk.markdown_size, False
            self._blocks = len(chunk.blocks)
        else:
            self.pages[-1].append(chunk)
            self._text += len(_SEPARATOR) + len(chunk.mrkdwn)
            self._markdown += chunk.markdown_size
            self._blocks += len(chunk.blocks)

    def add_markdown(self, text: str) -> None:
        """Cut agent Markdown into pieces that fill the current message, then whole new ones. A piece whose
        mrkdwn or escaped Markdown outgrows the room (escaping lengthens text) is cut again, shorter."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        start, reopen = 0, ""
        while start < len(text):
            if min(self.room()) < MESSAGE_MIN_ROOM:
                self._break = True
            text_room, markdown_room = self.room()
            limit = min(text_room, markdown_room)
            while True:
                piece, next_reopen = cut_markdown(text, start, reopen, limit)
                mrkdwn = markdown_to_mrkdwn(piece.text)
                markdown = safe_markdown(piece.text).rstrip()
                over = max(len(mrkdwn) / text_room, len(markdown) / markdown_room)
                if over <= 1 or limit == MIN_CUT_LIMIT:  # at MIN_CUT_LIMIT the growth cannot outrun the room
                    break
                limit = max(MIN_CUT_LIMIT, min(limit - 1, int(limit / over * 0.9)))
                if limit < MESSAGE_MIN_ROOM and not self._break:
                    self._break = True
                    text_room, markdown_room = self.room()
                    limit = min(text_room, markdown_room)
            if mrkdwn.strip():
                self.add(_Chunk(({"type": "markdown", "text": markdown},), mrkdwn, len(markdown)))
            start += len(piece.body)
            reopen = next_reopen


def context_block(text: str) -> dict[str, Any]:
    """A context block showing ``text`` (safe mrkdwn), for the bot's secondary lines."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _mrkdwn_block(kind: PartKind, text: str) -> dict[str, Any]:
    if kind == "context":
        return context_block(text)
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
