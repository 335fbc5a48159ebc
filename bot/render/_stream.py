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

from bot.render._artifact import artifact_title
from bot.render._cut import closing_fence
from bot.render._limits import (
    STREAM_APPROVAL_BLOCKS,
    STREAM_FOOTER_LIMIT,
    TASK_OUTPUT_LIMIT,
    TASK_TITLE_LIMIT,
    truncate,
)
from bot.render._message import build_messages, context_block
from bot.render._outcome import card_title, grader_line, verdict
from bot.render._safety import StreamEscaper, safe_plain
from bot.render._timeline import (
    CUT_OFF,
    NO_ANSWER,
    approval_parts,
    outcome_lines,
    tool_summary,
    turn_footer,
)
from bot.turn import ArtifactItem, ToolItem, ToolStatus, TurnState
from bot.turn_outcome import OutcomeState

TaskStatus = Literal["pending", "in_progress", "complete", "error"]
TASK_STATUS: dict[ToolStatus, TaskStatus] = {
    "running": "in_progress",
    "done": "complete",
    "failed": "error",
    "waiting": "pending",
}

_LAST_SPACE = re.compile(r"\s(?=\S*$)")
OUTCOME_TASK_ID = "outcome"  # the one card showing the outcome's grading; its title follows the verdicts


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
    timeline order, ``footer`` (one line of safe mrkdwn, empty while the turn runs) and, for a paused turn,
    the ``blocks`` its stream stops with above the footer (the approval prompts)."""

    markdown: str
    tasks: tuple[TaskChunk, ...] = ()
    footer: str = ""
    blocks: tuple[dict[str, Any], ...] = ()


def render_stream(
    state: TurnState, *, now: float | None = None, thread_value: str | None = None
) -> StreamView:
    """The stream content for ``state``; ``now`` stands in for ``ended_at`` in the footer when missing. A
    paused turn's approval prompts carry buttons when ``thread_value`` names the thread."""
    scanner = StreamEscaper()
    out: list[str] = []
    tasks: list[TaskChunk] = []
    hold_from: int | None = None  # end of the first text still being previewed: its last word may change
    for item in state.items:
        if isinstance(item, ToolItem):
            tasks.append(_task(item, sum(map(len, out))))
            continue
        if isinstance(item, ArtifactItem):
            tasks.append(
                TaskChunk(f"artifact-{item.id}", artifact_title(item), "complete", "", sum(map(len, out)))
            )
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
    if state.outcome is not None and (state.outcome.grading or state.outcome.verdicts):
        tasks.append(_outcome_task(state.outcome, len(markdown)))
    if state.finished and not markdown and not tasks:
        markdown = NO_ANSWER
    return StreamView(
        markdown=markdown,
        tasks=tuple(tasks),
        footer=stream_footer(state, now=now),
        blocks=_approval_blocks(state, thread_value),
    )


def _approval_blocks(state: TurnState, thread_value: str | None) -> tuple[dict[str, Any], ...]:
    """A paused turn's prompts and decisions, within ``STREAM_APPROVAL_BLOCKS``; prompts that do not fit
    are counted in a last line (they show once the ones before them are decided and the reply is edited)."""
    if state.phase != "needs_action":
        return ()
    parts = approval_parts(state, thread_value)
    blocks: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        part_blocks = [block for message in build_messages([part]) for block in message.blocks]
        if len(blocks) + len(part_blocks) > STREAM_APPROVAL_BLOCKS - 1:
            more = sum(p.actions is not None or p.text.startswith(":raised_hand:") for p in parts[index:])
            if more:
                blocks.append(context_block(f"_{more} more waiting: they show here as these are decided._"))
            break
        blocks += part_blocks
    return tuple(blocks)


def stream_footer(state: TurnState, *, now: float | None = None) -> str:
    """One line of safe mrkdwn for a finished turn: how it ended (unless plainly done), the outcome's verdict
    and the grader's words, duration, credits, unusual stop reason. Empty while the turn runs."""
    if not state.finished:
        return ""
    parts = outcome_lines(state)[:1]
    if state.outcome is not None:
        parts += [line for line in (verdict(state.outcome), grader_line(state.outcome)) if line]
    if footer := turn_footer(state, now):
        parts.append(footer)
    return truncate(" · ".join(parts), STREAM_FOOTER_LIMIT)


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


def _outcome_task(outcome: OutcomeState, position: int) -> TaskChunk:
    if outcome.grading:
        status: TaskStatus = "in_progress"
    else:
        status = "complete" if outcome.result in ("satisfied", "needs_revision") else "error"
    explanation = "" if outcome.grading else outcome.explanation.strip()
    return TaskChunk(
        id=OUTCOME_TASK_ID,
        title=truncate(card_title(outcome), TASK_TITLE_LIMIT),
        status=status,
        output=truncate(safe_plain(explanation), TASK_OUTPUT_LIMIT),
        position=position,
    )


def _without_last_word(markdown: str) -> str:
    """``markdown`` up to the whitespace before its last word (the word may still change)."""
    space = _LAST_SPACE.search(markdown)
    return markdown[: space.start()].rstrip() if space is not None else ""
