"""Message content as Slack checks it (text, blocks, markdown_text) and reads it back (``blocks_text``).

Limits: ``text`` over 40,000 characters is truncated; ``chat.update`` refuses ``text`` over 4,000 and
``markdown_text`` over 12,000 (``msg_too_long``). The Block Kit rules (``invalid_blocks``,
``msg_blocks_too_long``, ``markdown_text_conflict``, …) are ``block_kit.message_refusal``'s.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.block_kit import MARKDOWN_LIMIT as MARKDOWN_LIMIT
from tests.fakes.block_kit import UPDATE_TEXT_LIMIT as UPDATE_TEXT_LIMIT
from tests.fakes.block_kit import message_refusal

TEXT_TRUNCATE_AT = 40_000


class SlackApiError(Exception):
    """Raised inside handlers to answer `{"ok": false, "error": …}` (with the problems, when given, in
    ``response_metadata.messages``)."""

    def __init__(self, error: str, status: int = 200, *, messages: tuple[str, ...] = ()) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages


def blocks_text(blocks: list[dict[str, Any]] | None) -> str:
    """Readable text of section/markdown/context/header/rich_text blocks, joined with newlines."""
    parts: list[str] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind in ("section", "header"):
            text = block.get("text")
            if isinstance(text, dict) and text.get("text"):
                parts.append(str(text["text"]))
            for f in block.get("fields") or []:
                if isinstance(f, dict) and f.get("text"):
                    parts.append(str(f["text"]))
        elif kind == "markdown":
            if block.get("text"):
                parts.append(str(block["text"]))
        elif kind == "context":
            texts = [
                str(e["text"]) for e in block.get("elements") or [] if isinstance(e, dict) and "text" in e
            ]
            if texts:
                parts.append(" ".join(texts))
        elif kind == "rich_text":
            leaf = "".join(_rich_text_leaves(block.get("elements") or []))
            if leaf:
                parts.append(leaf)
    return "\n".join(parts)


def _rich_text_leaves(elements: list[Any]) -> list[str]:
    out: list[str] = []
    for e in elements:
        if not isinstance(e, dict):
            continue
        if isinstance(e.get("text"), str):
            out.append(e["text"])
        if isinstance(e.get("elements"), list):
            out.extend(_rich_text_leaves(e["elements"]))
    return out


def as_str(value: Any) -> str:
    return "" if value is None else str(value)


def opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def required(args: dict[str, Any], key: str, error: str = "invalid_arguments") -> str:
    value = args.get(key)
    if value in (None, ""):
        raise SlackApiError(error)
    return str(value)


def validate_blocks(blocks: Any) -> list[dict[str, Any]]:
    """``blocks`` if Slack takes them in a message, else raise its error (``block_kit`` holds the rules)."""
    refusal = message_refusal({"text": "-", "blocks": blocks})
    if refusal is not None:
        raise SlackApiError(refusal.error, messages=refusal.messages)
    assert isinstance(blocks, list)
    return blocks


def validate_content(args: dict[str, Any], *, text_limit: int | None) -> dict[str, Any]:
    """Check text/blocks/markdown_text like chat.postMessage / chat.update (``text_limit`` set: the longest
    ``text`` taken, else truncated at 40,000); returns the fields to store."""
    refusal = message_refusal(args)
    if refusal is not None:
        raise SlackApiError(refusal.error, messages=refusal.messages)
    text = as_str(args.get("text"))
    blocks = args.get("blocks")
    markdown = args.get("markdown_text")
    if text_limit is not None and len(text) > text_limit:
        raise SlackApiError("msg_too_long")
    text = text[:TEXT_TRUNCATE_AT]
    return {"text": text, "blocks": blocks, "markdown_text": None if markdown is None else str(markdown)}
