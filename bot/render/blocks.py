"""The block structure of agent Markdown (fences, tables, paragraphs …) with line numbers, cheaply.

Inline parsing is skipped: callers only need to know which lines form which blocks.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

_md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_md.core.ruler.disable(["inline", "text_join"])


def parse_blocks(markdown: str) -> list[Token]:
    """markdown-it's block tokens for ``markdown`` (``map`` holds each block's line range; inline tokens
    have no children). Like markdown-it, a lone ``\\r`` counts as a line break."""
    return _md.parse(markdown)
