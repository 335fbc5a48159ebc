"""A turn as the content of Slack's native streams (chat.startStream / appendStream / stopStream): pure.

``render_stream`` gives the answer so far as standard Markdown (Slack converts it), one ``task_update`` per
tool call and, once the turn has finished, a footer. The Markdown only ever grows while the agent's text
only grows: escaping is decided from the text before each character, and the last word of a text still
being previewed is held back until the next one starts (whether ``@here`` is a broadcast depends on what
follows it). A publisher can therefore append just the new suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from bot.render._cut import closing_fence, fence_after
from bot.render._limits import STREAM_FOOTER_LIMIT, TASK_OUTPUT_LIMIT, TASK_TITLE_LIMIT, truncate
from bot.render.mrkdwn import ZERO_WIDTH_SPACE, neutralise
from bot.render.timeline import _footer, _outcome, tool_summary
from bot.turn import ToolItem, ToolStatus, TurnState

CUT_OFF = "_(cut off)_"
NO_ANSWER = "_No answer._"

TaskStatus = Literal["pending", "in_progress", "complete", "error"]
TASK_STATUS: dict[ToolStatus, TaskStatus] = {
    "running": "in_progress",
    "done": "complete",
    "failed": "error",
    "waiting": "pending",
}

_LINES = re.compile(r"[^\n]*\n|[^\n]+")
_LAST_SPACE = re.compile(r"\s(?=\S*$)")


@dataclass(frozen=True)
class TaskChunk:
    """One tool call as a stream task card. ``position`` is the length of the markdown before it in the
    timeline, so a publisher can interleave cards with the text."""

    id: str
    title: str
    status: TaskStatus
    output: str = ""
    position: int = 0

    def chunk(self) -> dict[str, Any]:
        """The ``task_update`` chunk for ``chunks``."""
        chunk: dict[str, Any] = {
            "type": "task_update",
            "id": self.id,
            "title": self.title,
            "status": self.status,
        }
        if self.output:
            chunk["output"] = self.output
        return chunk


@dataclass(frozen=True)
class StreamView:
    """What a stream shows for a turn: ``markdown`` (safe, only grows while the text grows), ``tasks`` in
    timeline order, and ``footer`` (one line of safe mrkdwn, empty while the turn runs)."""

    markdown: str
    tasks: tuple[TaskChunk, ...] = ()
    footer: str = ""


def render_stream(state: TurnState, *, now: float | None = None) -> StreamView:
    """The stream content for ``state``; ``now`` stands in for ``ended_at`` in the footer when missing."""
    scanner = _Scanner()
    out: list[str] = []
    tasks: list[TaskChunk] = []
    hold_from: int | None = None  # end of the first text still being previewed: its last word may change
    for item in state.items:
        if isinstance(item, ToolItem):
            tasks.append(_task(item, sum(map(len, out))))
            continue
        text = item.text.lstrip("\n") if item.partial else item.text.strip("\n")
        if not text:
            continue
        if out:
            out.append(scanner.feed("\n\n"))
        out.append(scanner.feed(text))
        if item.partial and hold_from is None:
            hold_from = sum(map(len, out))
        if not item.partial:
            if (fence := scanner.open_at_end()) is not None:
                out.append(scanner.feed("\n" + closing_fence(fence)))
            if item.aborted:
                out.append(scanner.feed("\n\n" + CUT_OFF))
    markdown = "".join(out)
    if hold_from is not None and not state.finished:
        markdown = _without_last_word(markdown[:hold_from])
    if state.finished and not markdown and not tasks:
        markdown = NO_ANSWER
    return StreamView(markdown=markdown, tasks=tuple(tasks), footer=stream_footer(state, now=now))


def stream_footer(state: TurnState, *, now: float | None = None) -> str:
    """One line of safe mrkdwn for a finished turn: how it ended (unless plainly done), duration, credits,
    unusual stop reason. Empty while the turn runs."""
    if not state.finished:
        return ""
    waiting = [item for item in state.items if isinstance(item, ToolItem) and item.status == "waiting"]
    parts = _outcome(state, waiting)[:1]
    if footer := _footer(state, now):
        parts.append(footer)
    return truncate(" · ".join(parts), STREAM_FOOTER_LIMIT)


def safe_markdown(text: str) -> str:
    """``text`` as Markdown that cannot ping anyone: outside code ``<``/``>`` become ``&lt;``/``&gt;``
    (quote markers stay), inside code (or after a backtick that may open a code span) a zero-width space
    follows each ``<``; ``@channel``/``@here``/``@everyone`` get a word joiner after the ``@``."""
    return _Scanner().feed(text)


def safe_plain(text: str) -> str:
    """Plain text (task titles and output) that cannot form a Slack token or broadcast."""
    return neutralise(text.replace("<", "<" + ZERO_WIDTH_SPACE))


class _Scanner:
    """Makes Markdown safe left to right, remembering whether it is inside a code block or span.

    Each character's treatment depends only on the text before it, so feeding more text never changes
    what was already returned.
    """

    def __init__(self) -> None:
        self.fence_line: str | None = None  # opening line of the open code block
        self._tick = 0  # length of the backtick run that may have opened a code span, else 0
        self._line = ""  # the current line so far

    def feed(self, text: str) -> str:
        out = [self._piece(piece) for piece in _LINES.findall(text)]
        return neutralise("".join(out))

    def _piece(self, piece: str) -> str:
        """Part of one line, ending with its newline if it has one."""
        before = self._line
        self._line += piece.rstrip("\n")
        if self.fence_line is not None:
            out = piece.replace("<", "<" + ZERO_WIDTH_SPACE)
        else:
            # a fence's opening line goes through here too: its backticks open a "span", so it is code
            out = self._text(piece, quoting=not before.lstrip(" >"))
        if piece.endswith("\n"):
            self._end_line()
        return out

    def _text(self, piece: str, *, quoting: bool) -> str:
        out: list[str] = []
        index = 0
        while index < len(piece):
            char = piece[index]
            if char == "`":
                run = len(piece) - index - len(piece[index:].lstrip("`"))
                if self._tick == 0:
                    self._tick = run
                elif run == self._tick:
                    self._tick = 0
                out.append("`" * run)
                index += run
                quoting = False
                continue
            if char == "<":
                out.append("<" + ZERO_WIDTH_SPACE if self._tick else "&lt;")
            elif char == ">":
                out.append(">" if self._tick or quoting else "&gt;")
            else:
                out.append(char)
            quoting = quoting and char in " >"
            index += 1
        return "".join(out)

    def open_at_end(self) -> str | None:
        """The opening line of the code block open after the text so far, its last line taken as complete."""
        return fence_after(self.fence_line, self._line)

    def _end_line(self) -> None:
        line, self._line = self._line, ""
        fence = fence_after(self.fence_line, line)
        if fence != self.fence_line or not line.strip():
            self._tick = 0  # a fence or a blank line ends the paragraph, and any code span with it
        self.fence_line = fence


def _task(tool: ToolItem, position: int) -> TaskChunk:
    name = " ".join(tool.name.split()) or "tool"
    summary = tool_summary(tool)
    title = summary if tool.server else f"{name}: {summary}" if summary else name
    return TaskChunk(
        id=tool.id,
        title=truncate(safe_plain(title), TASK_TITLE_LIMIT),
        status=TASK_STATUS[tool.status],
        output=truncate(safe_plain(tool.result.strip()), TASK_OUTPUT_LIMIT),
        position=position,
    )


def _without_last_word(markdown: str) -> str:
    """``markdown`` up to the whitespace before its last word (the word may still change)."""
    space = _LAST_SPACE.search(markdown)
    return markdown[: space.start()].rstrip() if space is not None else ""
