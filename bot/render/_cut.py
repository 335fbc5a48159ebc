"""Where text is cut to fit a size limit, and the code fences a cut must close and reopen, for every output.

Three kinds of text are cut, each by its own rule:

* mrkdwn (:func:`split_pieces`): a piece that ends inside a code block gets the fence line appended, and
  the next piece reopens it. Cuts are never inside an ``&amp;``-style entity or a ``<…>`` token.
* agent Markdown for markdown blocks (:func:`cut_markdown`, :func:`split_markdown`): block structure comes
  from markdown-it; a cut inside a fenced code block closes it at the end of the piece and reopens it at the
  start of the next, a cut inside a table repeats its header and delimiter rows.
* streamed Markdown (:func:`stream_cut`): appended to a message as it is, so the cut falls within the limit
  exactly; the fences it leaves open are followed line by line (:func:`fence_after`, :func:`open_fence`).

Pieces fall after a blank line, else after a line, else after a space, else anywhere safe. Each cut depends
only on the text within about one limit of the piece's start, and whether a line is inside a fence depends
only on the lines before it, so appending text changes only the last pieces.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.render._limits import MIN_CUT_LIMIT
from bot.render._tokenizer import parse_blocks

MRKDWN_FENCE = "```"

_NEWLINES = re.compile(r"\n+")
_ENTITY = re.compile(r"&(?:[a-zA-Z]+|#[0-9]+|#x[0-9a-fA-F]+);")
_ENTITY_MAX = 10
_ENTITY_TAIL = re.compile(r"&[a-z]{0,2}$")
_MARKDOWN_FENCE = re.compile(r"(`{3,}|~{3,})(.*)")
_LIST_MARKER = re.compile(r"(?:[-+*]|[0-9]{1,9}[.)])(?=[ \t]|$)")
_LONG_INDENT = re.compile(r" {4,}")
_PREFIX = re.compile(r"(?:[ \t>]|(?:[-+*]|[0-9]{1,9}[.)])(?=[ \t]))*")


@dataclass(frozen=True)
class Piece:
    """One piece of a split: ``body`` is an exact slice of the input (the bodies concatenate back to it),
    ``reopen`` what restarts a block cut by the previous piece (a fence line, table header rows), ``close``
    the newline plus fence line closing a code block cut at this piece's end."""

    body: str
    reopen: str = ""
    close: str = ""

    @property
    def text(self) -> str:
        """What is posted: the body without trailing newlines, between the added lines."""
        return self.reopen + self.body.rstrip("\n") + self.close


Cutter = Callable[[str, int, str, int], tuple[Piece, str]]


def _split(text: str, limit: int, cut: Cutter) -> list[Piece]:
    """Pieces cut one after another by ``cut(text, start, carried, limit)``, which returns a piece and what
    it carries over to the next (what reopens a block it cut)."""
    pieces: list[Piece] = []
    start, carried = 0, ""
    while True:
        piece, carried = cut(text, start, carried, limit)
        pieces.append(piece)
        start += len(piece.body)
        if start >= len(text):
            return pieces


# --- mrkdwn ---------------------------------------------------------------------------------------------


def is_fence_line(line: str) -> bool:
    """True for a mrkdwn line that opens or closes a code block: ````` after indentation and quote markers."""
    return line.lstrip(" >") == MRKDWN_FENCE


def split_mrkdwn(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters each (see :func:`split_pieces`)."""
    return [piece.text for piece in split_pieces(text, limit)]


def split_pieces(text: str, limit: int) -> list[Piece]:
    """Split mrkdwn ``text`` so that every ``Piece.text`` is at most ``limit`` characters and has balanced
    fences (given fence lines no longer than ``limit // 4``). Always returns at least one piece."""
    if limit < MIN_CUT_LIMIT:
        raise ValueError(f"limit too small: {limit}")
    return _split(text, limit, _cut_mrkdwn)


def _cut_mrkdwn(text: str, start: int, opener: str, limit: int) -> tuple[Piece, str]:
    """The piece beginning at ``start`` inside the code block opened by the fence line ``opener`` (or none),
    and the fence line left open at its end."""
    reopen = opener + "\n" if opener else ""
    end_state = _mrkdwn_fence_after(text, start, len(text), opener)
    close = "\n" + end_state if end_state else ""
    if len(reopen) + len(text[start:].rstrip("\n")) + len(close) <= limit:
        return Piece(text[start:], reopen, close), ""
    budget = limit - len(reopen) - _close_reserve(text, start, limit, opener)
    cut = find_cut(text, start, budget)
    state = _mrkdwn_fence_after(text, start, cut, opener)
    return Piece(text[start:cut], reopen, "\n" + state if state else ""), state


def _mrkdwn_fence_after(text: str, start: int, end: int, opener: str) -> str:
    """The fence line still open at ``end`` when ``opener`` (or nothing) was open at ``start``."""
    for line in text[start:end].split("\n"):
        if is_fence_line(line):
            opener = "" if opener else line
    return opener


def _close_reserve(text: str, start: int, limit: int, opener: str) -> int:
    """Room for a closing fence line if a code block could be open anywhere in this piece's window."""
    fences = [line for line in text[start : start + limit].split("\n") if is_fence_line(line)]
    longest = max((len(line) for line in [*fences, opener] if line), default=0)
    return 1 + longest if longest else 0


# --- cut points -----------------------------------------------------------------------------------------


def find_cut(text: str, start: int, budget: int, *, markdown: bool = False) -> int:
    """Where the piece starting at ``start`` ends, its body (trailing newlines aside) at most ``budget``
    characters: after a blank line, else a line, else a space (each in the second half), else anywhere safe.

    With ``markdown``, a cut inside a line must be followed by a letter (so the rest of the line cannot start
    a block such as a heading, list or fence), and only entities are kept whole, not ``<…>``."""
    window_end = start + budget
    half = start + budget // 2
    paragraph = line = latest_line = -1
    for match in _NEWLINES.finditer(text, start + 1):
        if match.start() > window_end:
            break
        latest_line = match.end()
        if match.start() >= half:
            line = match.end()
            if match.end() - match.start() >= 2:
                paragraph = match.end()
    for candidate in (paragraph, line):
        if candidate > 0:
            return candidate
    space = text.rfind(" ", half, window_end)
    while space > start and not _safe(text, start, space + 1, markdown=markdown):
        space = text.rfind(" ", half, space)
    if space > start:
        return space + 1
    if latest_line > 0:
        return latest_line
    if markdown:  # mid-word, but before a letter: the rest of the line still cannot start a block
        for cut in range(window_end, half, -1):
            if _safe(text, start, cut, markdown=True):
                return cut
    return _hard_cut(text, start, window_end)


def _hard_cut(text: str, start: int, at: int) -> int:
    cut = at
    while cut > start and not _safe(text, start, cut):
        cut -= 1
    return cut if cut > start else at


def _safe(text: str, start: int, at: int, *, markdown: bool = False) -> bool:
    """False when a cut at ``at`` would split an entity or a ``<…>`` token begun after ``start`` (with
    ``markdown``: an entity, or a space not followed by a letter)."""
    if markdown:
        if not text[at : at + 1].isalpha():
            return False
    elif text.rfind("<", start, at) > text.rfind(">", start, at):
        return False
    amp = text.rfind("&", max(start, at - _ENTITY_MAX), at)
    entity = _ENTITY.match(text, amp) if amp >= 0 else None
    return entity is None or entity.end() <= at


def stream_cut(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``) into a piece of at most ``limit`` characters, newlines
    included: after a blank line, else after a line, else after a space (each in the second half), else
    anywhere but inside an entity."""
    if limit <= 0:
        return 0
    window = text[:limit]
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep, limit // 2)
        if at > 0:
            return at + len(sep)
    tail = _ENTITY_TAIL.search(window)
    return tail.start() if tail is not None and tail.start() > 0 else limit


# --- Markdown fences, line by line ----------------------------------------------------------------------


def fence_after(fence: str | None, line: str) -> str | None:
    """The opening line of the code block open after ``line``, given the one open before it (or None)."""
    stripped = line.lstrip(" >").rstrip()
    if fence is not None:
        marker = closing_fence(fence)
        closes = bool(stripped) and set(stripped) == {marker[0]} and len(stripped) >= len(marker)
        return None if closes else fence
    match = _MARKDOWN_FENCE.fullmatch(stripped)
    if match is None or (match.group(1)[0] == "`" and "`" in match.group(2)):
        return None
    return stripped


def open_fence(markdown: str) -> str | None:
    """The opening line of the code block still open at the end of ``markdown``, if any."""
    fence: str | None = None
    for line in markdown.split("\n"):
        fence = fence_after(fence, line)
    return fence


def closing_fence(opening: str) -> str:
    """The line closing a code block opened by ``opening`` (as returned by :func:`open_fence`)."""
    char = opening[0]
    return char * (len(opening) - len(opening.lstrip(char)))


# --- Markdown for markdown blocks -----------------------------------------------------------------------


def split_markdown(text: str, limit: int) -> list[Piece]:
    """Split ``text`` (``\\n`` line endings) into pieces whose ``Piece.text`` is at most ``limit``
    characters; the bodies concatenate back to ``text``. Always returns at least one piece."""
    return _split(text, limit, cut_markdown)


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
