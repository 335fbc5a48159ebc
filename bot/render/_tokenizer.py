"""The Markdown dialect agents write (CommonMark with tables and strikethrough), tokenized by markdown-it.

``parse`` gives the full token stream (inline tokens with children); ``parse_blocks`` only the block
structure, cheaply, for callers that need to know which lines form which blocks. Rendering one frame asks
for the blocks of the same text several times (to cut it, convert it, make it safe), so the last few
answers are remembered: the tokens are shared and must not be changed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token


def _dialect() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


_NEWLINES = re.compile(r"\r\n?")  # markdown-it's own normalisation of line endings
_full = _dialect()
_blocks = _dialect()
_blocks.core.ruler.disable(["inline", "text_join"])


def parse(markdown: str) -> list[Token]:
    """markdown-it's tokens for ``markdown``, inline ones with their children."""
    return _full.parse(markdown)


def parse_blocks(markdown: str, env: dict[str, Any] | None = None) -> list[Token]:
    """markdown-it's block tokens for ``markdown`` (``map`` holds each block's line range; inline tokens
    have no children). Like markdown-it, a lone ``\\r`` counts as a line break. ``env`` receives what the
    parse collects (``references``: link reference definitions)."""
    tokens, collected = _parsed_blocks(markdown)
    if env is not None:
        env.update(collected)
    return list(tokens)


@lru_cache(maxsize=64)
def _parsed_blocks(markdown: str) -> tuple[tuple[Token, ...], dict[str, Any]]:
    env: dict[str, Any] = {}
    return tuple(_blocks.parse(markdown, env)), env


def normalized_lines(markdown: str) -> list[str]:
    """``markdown``'s lines as markdown-it numbers them in a token's ``map``."""
    return _NEWLINES.sub("\n", markdown).replace("\0", "\ufffd").split("\n")
