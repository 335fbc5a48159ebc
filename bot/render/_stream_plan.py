"""How a turn's growing Markdown is laid out over native stream messages: pure, no I/O.

Given what was already streamed, the newest Markdown (which extends it) and the task cards that changed,
:func:`plan_appends` says which chunks to append to which message. A message holds at most
``STREAM_MESSAGE_LIMIT`` characters of Markdown; once it is full the writer ends it, appending
:func:`closing_chunks` (which close a code block cut at its end), and the plan goes on in a new message,
reopening that code block first. A task card goes with the text before its position. A new message does
not start with blank space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.render._cut import closing_fence, open_fence, stream_cut
from bot.render._limits import STREAM_MESSAGE_LIMIT
from bot.render._message import context_block
from bot.render._stream import TaskChunk


@dataclass(frozen=True)
class Streamed:
    """What a stream writer has sent of a turn: ``markdown``, over all its messages, and ``in_message``,
    the characters of ``markdown_text`` in the open message (0 when none is open)."""

    markdown: str = ""
    in_message: int = 0

    def ended(self) -> Streamed:
        """The same once the open message has ended: what comes next goes into a new message."""
        return Streamed(self.markdown)


@dataclass(frozen=True)
class Append:
    """One write into one stream message: the ``chunks`` to send (maybe none), the ``tasks`` they carry,
    what has been ``streamed`` once they are sent, and whether the message is then ``full`` (the writer ends
    it, and the next append goes into a new message)."""

    chunks: tuple[dict[str, Any], ...]
    tasks: tuple[TaskChunk, ...]
    streamed: Streamed
    full: bool


def plan_appends(
    streamed: Streamed, markdown: str, tasks: Sequence[TaskChunk], *, limit: int = STREAM_MESSAGE_LIMIT
) -> list[Append]:
    """The appends that take a stream from ``streamed`` to ``markdown`` and send the changed task cards
    ``tasks``; every one but the last is ``full``. Raises ``ValueError`` unless ``markdown`` extends
    ``streamed.markdown`` (streamed text cannot be taken back)."""
    if not markdown.startswith(streamed.markdown):
        raise ValueError("the markdown does not extend what was streamed")
    rest = markdown[len(streamed.markdown) :]
    pending = list(tasks)
    appends: list[Append] = []
    while True:
        reopen = _reopen(streamed)
        if len(reopen) > limit // 2:
            reopen = ""  # a fence line too long to repeat: the new message goes on without reopening it
        room = max(limit - streamed.in_message - len(reopen), 0)
        cut = len(rest) if len(rest) <= room else stream_cut(rest, room)
        last = cut == len(rest)
        end = len(streamed.markdown) + cut
        now = pending if last else [task for task in pending if task.position <= end]
        chunks = _chunks(streamed, reopen, rest[:cut], now)
        written = sum(len(chunk["text"]) for chunk in chunks if chunk["type"] == "markdown_text")
        after = Streamed(streamed.markdown + rest[:cut], streamed.in_message + written)
        appends.append(Append(tuple(chunks), tuple(now), after, full=not last))
        if last:
            return appends
        pending = [task for task in pending if task not in now]
        rest = rest[cut:]
        streamed = after.ended()


def closing_chunks(streamed: Streamed) -> list[dict[str, Any]]:
    """What to append before the open message ends so that a code block cut at its end is closed."""
    opening = open_fence(streamed.markdown) if streamed.in_message else None
    if opening is None:
        return []
    newline = "" if streamed.markdown.endswith("\n") else "\n"
    return [_markdown(newline + closing_fence(opening))]


def footer_blocks(footer: str) -> list[dict[str, Any]]:
    """The blocks a finished turn's stream stops with: its footer (safe mrkdwn) as a context line."""
    return [context_block(footer)] if footer else []


def _reopen(streamed: Streamed) -> str:
    """The line reopening a code block cut by the previous message, until the new one has markdown."""
    if streamed.in_message or not streamed.markdown:
        return ""
    opening = open_fence(streamed.markdown)
    return f"{opening}\n" if opening is not None else ""


def _chunks(streamed: Streamed, reopen: str, markdown: str, tasks: list[TaskChunk]) -> list[dict[str, Any]]:
    """``markdown`` (prefixed by ``reopen``) with ``tasks`` placed where they are in the timeline."""
    chunks: list[dict[str, Any]] = []
    start = len(streamed.markdown)
    fresh = not streamed.in_message
    done = 0

    def text(piece: str) -> None:
        nonlocal reopen, fresh
        if fresh:  # inside a reopened code block, only blank lines are dropped
            piece = piece.lstrip("\n") if reopen else piece.lstrip()
        if piece:
            chunks.append(_markdown(reopen + piece))
            reopen, fresh = "", False

    for task in sorted(tasks, key=lambda t: t.position):
        at = min(max(task.position - start, done), len(markdown))
        text(markdown[done:at])
        done = at
        chunks.append(task.chunk())
    text(markdown[done:])
    return chunks


def _markdown(text: str) -> dict[str, Any]:
    return {"type": "markdown_text", "text": text}
