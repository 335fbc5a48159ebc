"""Cut agent Markdown into pieces that each fit a size limit and still read as Markdown on their own.

Cuts are chosen as in :mod:`bot.render.split` (after a blank line, else a line, else a space, else anywhere
safe). Block structure comes from markdown-it: a cut inside a fenced code block closes the fence at the end
of the piece and reopens it at the start of the next; a cut inside a table repeats the header and delimiter
rows at the start of the next piece. Only the text within about one limit of a piece's start is parsed, and
whether a line is inside a fence or table depends only on the lines before it, so appending text changes
only the last pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.render._limits import MIN_CUT_LIMIT
from bot.render._tokenizer import parse_blocks
from bot.render.split import Piece, find_cut

_LIST_MARKER = re.compile(r"(?:[-+*]|[0-9]{1,9}[.)])(?=[ \t]|$)")
_LONG_INDENT = re.compile(r" {4,}")
_PREFIX = re.compile(r"(?:[ \t>]|(?:[-+*]|[0-9]{1,9}[.)])(?=[ \t]))*")


@dataclass(frozen=True)
class _Open:
    """A block that a cut after any line in ``first`` … ``last - 1`` leaves open: ``close`` ends it in this
    piece (empty for tables), ``reopen`` (whole lines) restarts it at the top of the next."""

    first: int
    last: int
    content_end: int  # lines before this one can be cut in two and stay inside
    close: str
    reopen: str
    indent: str = ""  # container prefix that goes before the rest of a line cut in two


def split_markdown(text: str, limit: int) -> list[Piece]:
    """Split ``text`` (``\n`` line endings) into pieces whose ``Piece.text`` is at most ``limit`` characters;
    the bodies concatenate back to ``text``. Always returns at least one piece."""
    pieces: list[Piece] = []
    start, reopen = 0, ""
    while True:
        piece, reopen = cut_markdown(text, start, reopen, limit)
        pieces.append(piece)
        start += len(piece.body)
        if start >= len(text):
            return pieces


def cut_markdown(text: str, start: int, reopen: str, limit: int) -> tuple[Piece, str]:
    """The piece of ``text`` that begins at ``start`` (prefixed by ``reopen``, which the previous cut
    returned), with ``Piece.text`` at most ``limit`` characters, and the ``reopen`` for the piece after it."""
    if limit < MIN_CUT_LIMIT:
        raise ValueError(f"limit too small: {limit}")
    end = _window_end(text, start + limit)
    outline = _Outline(reopen + text[start:end], limit)
    offset = len(reopen) - start
    if end == len(text):
        rest = text[start:]
        still_open = outline.open_at(len(reopen) + len(rest))
        close = "\n" + still_open.close if still_open and still_open.close else ""
        if len(reopen) + len(rest.rstrip("\n")) + len(close) <= limit:
            return Piece(rest, reopen, close), ""
    cut = find_cut(text, start, limit - len(reopen) - outline.close_reserve, markdown=True)
    moved = outline.outside_fence_lines(cut + offset) - offset
    cut = moved if moved > start else cut
    still_open = outline.open_at(cut + offset)
    if still_open is None:
        return Piece(text[start:cut], reopen), ""
    close = "\n" + still_open.close if still_open.close else ""
    mid_line = text[cut - 1] != "\n"
    return Piece(text[start:cut], reopen, close), still_open.reopen + (still_open.indent if mid_line else "")


def _window_end(text: str, position: int) -> int:
    """The end of the line holding ``position`` and of the newlines after it: a cut never falls beyond."""
    end = text.find("\n", position)
    if end < 0:
        return len(text)
    while end < len(text) and text[end] == "\n":
        end += 1
    return end


class _Outline:
    """The fences and tables of one parsed window, by line number."""

    def __init__(self, source: str, limit: int) -> None:
        self._source = source
        lines = source.split("\n")
        line_count = source.count("\n") + (not source.endswith("\n"))
        self._blocks: list[_Open] = []
        self._fence_lines: set[int] = set()  # opening and closing lines, which a cut must not split
        for token in parse_blocks(source.replace("\r", " ")):  # markdown-it would count a lone \r as a line
            if token.map is None:
                continue
            first, end = token.map
            if token.type == "fence":
                self._fence_lines.update({first, end - 1})
                block = _fence(lines, first, end, token.markup, limit, runs_on=end >= line_count)
            elif token.type == "table_open":
                block = _table(lines, first, end, limit)
            else:
                continue
            if block is not None:
                self._blocks.append(block)
        closes = [len(block.close) for block in self._blocks if block.close]
        self.close_reserve = 1 + max(closes) if closes else 0

    def outside_fence_lines(self, position: int) -> int:
        """``position``, or the start of its line when it falls inside a fence's opening or closing line."""
        line_start = self._source.rfind("\n", 0, position) + 1
        if line_start == position or self._source.count("\n", 0, position) not in self._fence_lines:
            return position
        return line_start

    def open_at(self, position: int) -> _Open | None:
        """The block left open by a cut at ``position`` of the source, if any."""
        line = self._source.count("\n", 0, position)
        line_start = position == 0 or self._source[position - 1] == "\n"
        last = line - 1 if line_start else line  # the last line (or part of it) before the cut
        for block in self._blocks:
            if block.first <= last < block.last if line_start else block.first < last < block.content_end:
                return block
        return None


def _fence(lines: list[str], first: int, end: int, markup: str, limit: int, *, runs_on: bool) -> _Open | None:
    """The fence opened on line ``first``: it ended (with a closing line, or with its container) by line
    ``end - 1`` unless it ``runs_on`` to the end of the window without a closing line."""
    opener = lines[first]
    at = opener.find(markup)
    prefix = opener[:at]
    closing = rf"[ \t>]*{re.escape(markup[0])}{{{len(markup)},}}[ \t]*"
    closed = end - 1 > first and re.fullmatch(closing, lines[end - 1]) is not None
    close = _continuation(prefix) + markup
    reopen = _top_level(prefix) + opener[at:].rstrip() + "\n"
    if len(reopen) > limit // 4:
        reopen = _top_level(prefix) + markup + "\n"  # without its info string
    if len(reopen) > limit // 4 or len(close) > limit // 4:
        return None  # too long to repeat: a cut leaves it unclosed
    last = end if runs_on and not closed else end - 1
    return _Open(first, last, end - 1 if closed else end, close, reopen, _top_level(prefix))


def _table(lines: list[str], first: int, end: int, limit: int) -> _Open | None:
    reopen = "".join(_top_level_line(line) + "\n" for line in lines[first : first + 2])
    return _Open(first + 1, end, end, "", reopen) if len(reopen) <= limit // 4 else None


def _continuation(prefix: str) -> str:
    """The container prefix for further lines of a block opened after ``prefix``: list markers become
    spaces, quote markers stay."""
    return _LIST_MARKER.sub(lambda match: " " * len(match.group()), prefix.expandtabs(4))


def _top_level(prefix: str) -> str:
    """Like :func:`_continuation`, for the first line of a piece: no indent long enough to mean code."""
    return _LONG_INDENT.sub("   ", _continuation(prefix))


def _top_level_line(line: str) -> str:
    prefix = _PREFIX.match(line)
    end = prefix.end() if prefix else 0
    return _top_level(line[:end]) + line[end:]
