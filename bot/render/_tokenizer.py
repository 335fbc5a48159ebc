"""The Markdown dialect agents write (CommonMark with tables and strikethrough), tokenized by markdown-it.

``parse`` gives the full token stream (inline tokens with children); ``parse_blocks`` only the block
structure, cheaply, for callers that need to know which lines form which blocks. Rendering one frame asks
for the blocks of the same text several times (to cut it, convert it, make it safe), so the last few
answers are remembered: the tokens are shared and must not be changed.

A streamed answer grows at its end. The top-level blocks before a blank line are closed for good when
the last of them is neither a list nor indented code (the only blocks a later line may still join after a
blank line), whatever follows. So each answer's closed blocks are remembered by the answer's first
characters, and the next, longer frame parses only what follows them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
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
    if "\r" in markdown or "\0" in markdown:  # markdown-it renumbers such lines: parse it whole
        return _parse_whole(markdown)
    head = markdown[:_HEAD]
    closed = _closed.get(head)
    if closed is not None and _continues(markdown, closed):
        env: dict[str, Any] = {}
        rest = _blocks.parse(markdown[len(closed.text) :], env)
        for token in rest:
            if token.map is not None:
                token.map = [token.map[0] + closed.lines, token.map[1] + closed.lines]
        tokens = closed.tokens + tuple(rest)
    else:
        tokens, env = _parse_whole(markdown)
    _remember_closed(head, markdown, tokens, env)
    return tokens, env


def _continues(markdown: str, closed: _Closed) -> bool:
    """Whether ``markdown`` is ``closed``'s text followed by a line that starts a block of its own: not
    blank (blank lines after some blocks count as theirs) and not one that would join the last of them."""
    if not markdown.startswith(closed.text):
        return False
    following = markdown[len(closed.text) :].split("\n", 1)[0]
    return bool(following.strip()) and following[0] not in closed.joins


def _parse_whole(markdown: str) -> tuple[tuple[Token, ...], dict[str, Any]]:
    env: dict[str, Any] = {}
    return tuple(_blocks.parse(markdown, env)), env


_HEAD = 80  # how many first characters name an answer
_ANSWERS = 4096  # how many answers' closed blocks are remembered


@dataclass(frozen=True)
class _Closed:
    """The closed top-level blocks of an answer: ``text`` (whole lines, ending in a blank one), its line
    count and its tokens."""

    text: str
    lines: int
    tokens: tuple[Token, ...]
    joins: str  # what the next line must not begin with (it would join the last closed block)


_closed: OrderedDict[str, _Closed] = OrderedDict()


# What a line after a blank one may begin with and still join the block above: an indented line or a new
# item continues a list, an indented line continues indented code. Nothing joins any other block.
_JOINS = {
    "bullet_list_open": " \t-+*0123456789",
    "ordered_list_open": " \t-+*0123456789",
    "code_block": " \t",
}


def _remember_closed(head: str, markdown: str, tokens: tuple[Token, ...], env: dict[str, Any]) -> None:
    """Remember the closed blocks of ``markdown``: those before its last top-level block, if a blank line
    ends them and the last of them is not one that a later line may still join."""
    if env.get("references"):
        return  # a reference definition is known to the whole answer; such answers are parsed whole
    starts = [i for i, token in enumerate(tokens) if token.level == 0 and token.nesting >= 0]
    if len(starts) < 2:
        return
    last = tokens[starts[-1]]
    if last.map is None or last.map[0] == 0:
        return
    lines = last.map[0]
    parts = markdown.split("\n", lines)
    if parts[lines - 1].strip():
        return  # no blank line before the last block: it may yet turn out to continue the one above
    joins = _JOINS.get(tokens[starts[-2]].type, "")
    _closed[head] = _Closed(markdown[: len(markdown) - len(parts[-1])], lines, tokens[: starts[-1]], joins)
    _closed.move_to_end(head)
    if len(_closed) > _ANSWERS:
        _closed.popitem(last=False)


def normalized_lines(markdown: str) -> list[str]:
    """``markdown``'s lines as markdown-it numbers them in a token's ``map``."""
    return _NEWLINES.sub("\n", markdown).replace("\0", "\ufffd").split("\n")
