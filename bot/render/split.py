"""Cut mrkdwn into pieces that each fit a size limit, keeping code blocks and tokens intact.

Cuts fall after a blank line, else after a line, else after a space, else anywhere (never inside an
``&amp;``-style entity or a ``<…>`` token). A piece that ends inside a code block gets the fence line
appended, and the next piece starts by reopening it. Each cut depends only on the text within one limit of
the piece's start, so appending text never changes any piece but the last one or two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.render._limits import MIN_CUT_LIMIT
from bot.render.mrkdwn import is_fence_line

_NEWLINES = re.compile(r"\n+")
_ENTITY = re.compile(r"&(?:[a-zA-Z]+|#[0-9]+|#x[0-9a-fA-F]+);")
_ENTITY_MAX = 10


@dataclass(frozen=True)
class Piece:
    """One piece of a split: ``body`` is an exact slice of the input (the bodies concatenate back to it),
    ``reopen`` the fence line (plus newline) that reopens a code block cut by the previous piece, ``close``
    the newline plus fence line closing a code block cut at this piece's end."""

    body: str
    reopen: str = ""
    close: str = ""

    @property
    def text(self) -> str:
        """What is posted: the body without trailing newlines, between the added fence lines."""
        return self.reopen + self.body.rstrip("\n") + self.close


def split_mrkdwn(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters each (see :func:`split_pieces`)."""
    return [piece.text for piece in split_pieces(text, limit)]


def split_pieces(text: str, limit: int) -> list[Piece]:
    """Split ``text`` so that every ``Piece.text`` is at most ``limit`` characters and has balanced fences
    (given fence lines no longer than ``limit // 4``). Always returns at least one piece."""
    if limit < MIN_CUT_LIMIT:
        raise ValueError(f"limit too small: {limit}")
    pieces: list[Piece] = []
    start, opener = 0, ""
    while True:
        reopen = opener + "\n" if opener else ""
        end_state = _fence_after(text, start, len(text), opener)
        close = "\n" + end_state if end_state else ""
        if len(reopen) + len(text[start:].rstrip("\n")) + len(close) <= limit:
            pieces.append(Piece(text[start:], reopen, close))
            return pieces
        budget = limit - len(reopen) - _close_reserve(text, start, limit, opener)
        cut = find_cut(text, start, budget)
        state = _fence_after(text, start, cut, opener)
        pieces.append(Piece(text[start:cut], reopen, "\n" + state if state else ""))
        start, opener = cut, state


def _fence_after(text: str, start: int, end: int, opener: str) -> str:
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
