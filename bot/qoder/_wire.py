"""Reading single wire values tolerantly: text content, timestamps, numbers, strings. Pure helpers shared by
the parsers (``_parse``, ``_parse_outcome``); none of them raises on a value of the wrong shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def content_text(content: Any) -> str:
    """Plain text of a content value: string, ``{text}`` object or block array (§7 #2).

    Text blocks are concatenated in order; ``{"type": "redacted"}`` reads ``[redacted]``; a tool result's
    ``search_result`` contributes its inner text; images and documents contribute nothing.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict):
            block_type = block.get("type")
            if block_type == "redacted":
                parts.append("[redacted]")
            elif block_type == "search_result":
                parts.append(content_text(block.get("content")))
            elif block_type in (None, "text") and isinstance(block.get("text"), str):
                parts.append(block["text"])
    return "".join(parts)


def timestamp(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 string or a number; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return None


def number(value: Any) -> float | None:
    """A JSON number as a float; None for booleans and anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def count(value: Any) -> int | None:
    """A non-negative JSON integer; None for booleans, fractions, negatives and anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def string(value: Any) -> str | None:
    """A non-empty string; None for an empty one and anything else."""
    return value if isinstance(value, str) and value else None
