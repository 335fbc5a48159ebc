"""Message content as Slack checks it (text, blocks, markdown_text) and reads it back (``blocks_text``).

Limits: ``text`` over 40,000 characters is truncated; ``chat.update`` refuses ``text`` over 4,000 and
``markdown_text`` over 12,000 (``msg_too_long``); more than 50 blocks, a section over 3,000 characters or
with more than 10 fields, or a header over 150 is ``invalid_blocks``; markdown blocks over 12,000 in all are
``msg_blocks_too_long``; ``markdown_text`` with ``text`` or ``blocks`` is ``markdown_text_conflict``.
"""

from __future__ import annotations

from typing import Any

TEXT_TRUNCATE_AT = 40_000
UPDATE_TEXT_LIMIT = 4_000
MARKDOWN_LIMIT = 12_000
MAX_BLOCKS = 50
SECTION_TEXT_LIMIT = 3_000
HEADER_TEXT_LIMIT = 150
SECTION_FIELDS_LIMIT = 10


class SlackApiError(Exception):
    """Raised inside handlers to answer `{"ok": false, "error": …}`."""

    def __init__(self, error: str, status: int = 200) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


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
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise SlackApiError("invalid_blocks")
    markdown_total = 0
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SlackApiError("invalid_blocks")
        text = block.get("text")
        text_value = text.get("text", "") if isinstance(text, dict) else ""
        if block["type"] == "section":
            if (
                len(str(text_value)) > SECTION_TEXT_LIMIT
                or len(block.get("fields") or []) > SECTION_FIELDS_LIMIT
            ):
                raise SlackApiError("invalid_blocks")
            if not text_value and not block.get("fields"):
                raise SlackApiError("invalid_blocks")
        elif block["type"] == "header":
            if not text_value or len(str(text_value)) > HEADER_TEXT_LIMIT:
                raise SlackApiError("invalid_blocks")
        elif block["type"] == "markdown":
            if not isinstance(text, str):
                raise SlackApiError("invalid_blocks")
            markdown_total += len(text)
    if markdown_total > MARKDOWN_LIMIT:
        raise SlackApiError("msg_blocks_too_long")
    return blocks


def validate_content(args: dict[str, Any], *, text_limit: int | None) -> dict[str, Any]:
    """Check text/blocks/markdown_text like chat.postMessage / chat.update; returns the fields to store."""
    text = as_str(args.get("text"))
    blocks = args.get("blocks")
    markdown = args.get("markdown_text")
    if markdown is not None and (text or blocks is not None):
        raise SlackApiError("markdown_text_conflict")
    if not text and blocks is None and markdown is None and not args.get("attachments"):
        raise SlackApiError("no_text")
    if markdown is not None and len(str(markdown)) > MARKDOWN_LIMIT:
        raise SlackApiError("msg_too_long")
    if blocks is not None:
        blocks = validate_blocks(blocks)
    if text_limit is not None and len(text) > text_limit:
        raise SlackApiError("msg_too_long")
    text = text[:TEXT_TRUNCATE_AT]
    return {"text": text, "blocks": blocks, "markdown_text": None if markdown is None else str(markdown)}
