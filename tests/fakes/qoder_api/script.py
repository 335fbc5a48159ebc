"""Agent turns, scripted: the steps (:class:`Text`, :class:`Tool`, :class:`Hold`, ...) and the player that
turns them into the frames of a session's log."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any

from tests.fakes.qoder_api.files import FakeFiles
from tests.fakes.qoder_api.outcome import Grade, finish, grade
from tests.fakes.qoder_api.session import FakeOutcome, FakeSession, Pending

# --------------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True)
class Text:
    """A streamed ``agent.message``: ``event_start``, ``chunks`` deltas, then the buffered event (same id)."""

    text: str
    chunks: int = 3
    delay: float | None = None


@dataclass(frozen=True)
class Thinking:
    """A start-only ``agent.thinking`` preview followed by the buffered ``agent.thinking`` (same id)."""


@dataclass(frozen=True)
class Tool:
    """``agent.tool_use`` then ``agent.tool_result`` (``agent.mcp_*`` when ``mcp_server`` is set).

    ``delay`` is the time between use and result. With ``permission="ask"`` only the use is emitted and the
    turn pauses in ``requires_action``; the result follows a ``user.tool_confirmation``.
    """

    name: str
    input: dict[str, Any]
    result: str = "ok"
    is_error: bool = False
    delay: float | None = None
    mcp_server: str | None = None
    permission: str = "allow"


@dataclass(frozen=True)
class CustomTool:
    """``agent.custom_tool_use``; the turn pauses in ``requires_action`` until ``user.custom_tool_result``."""

    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Artifact:
    """The agent delivers a file (built-in ``DeliverArtifacts``): it is stored in the fake's Files API
    (downloadable unless told otherwise) and ``agent.artifact_delivered`` names it."""

    filename: str
    data: bytes
    content_type: str = "text/plain"
    downloadable: bool = True


@dataclass(frozen=True)
class Sleep:
    """Do nothing for a while (the session stays running)."""

    seconds: float


@dataclass(frozen=True)
class Raw:
    """Append ``event`` as a buffered event; ``id`` and ``processed_at`` are filled in when missing."""

    event: dict[str, Any]


@dataclass(frozen=True)
class Error:
    """``session.error``. ``exhausted`` makes the turn end with ``retries_exhausted``; ``terminal`` ends the
    session (``session.status_terminated``) and skips the rest of the script."""

    message: str
    retry_status: str = "retrying"
    type: str = "unknown_error"


@dataclass(frozen=True)
class End:
    """Ends the script with this ``stop_reason``. ``requires_action`` leaves the session idle and waiting;
    ``event_ids`` defaults to the turn's unanswered ask-tools / custom tools."""

    stop_reason: str = "end_turn"
    event_ids: list[str] | None = None


@dataclass(frozen=True)
class Hold:
    """Keep the turn running until it is interrupted or cancelled."""


Step = Text | Thinking | Tool | CustomTool | Artifact | Sleep | Raw | Error | End | Hold | Grade

# --------------------------------------------------------------------------------------------------
# The player


class Player:
    """Runs each turn as a task that appends its frames to the session, ``step_delay`` apart.

    Scripts are queued FIFO and shared by all sessions: a ``user.message`` takes the next one (or, when none
    is queued, answers ``"You said: <text>"``), and so do a ``user.define_outcome`` (default: work on the
    description, one satisfied :class:`Grade`, a last reply) and the continuation after ``requires_action``.
    A turn that works toward an outcome is graded ``satisfied`` at its end unless its script reached a final
    verdict. Every model request ends with ``span.model_request_end`` worth ``credits_per_request``.
    """

    def __init__(self, *, step_delay: float, credits_per_request: float, interrupt_stop_reason: str) -> None:
        self.step_delay = step_delay
        self.credits_per_request = credits_per_request
        self.interrupt_stop_reason = interrupt_stop_reason
        self.scripts: deque[list[Step]] = deque()
        self.files: FakeFiles | None = None  # where Artifact steps store their files

    def start(self, session: FakeSession, text: str) -> None:
        """A ``user.message`` with ``text`` was accepted: play the next script as a new turn."""
        steps: list[Step] = self.scripts.popleft() if self.scripts else [Text(f"You said: {text}")]
        session.turn = asyncio.create_task(self._run_turn(session, steps))

    def start_outcome(self, session: FakeSession, outcome: FakeOutcome) -> None:
        """A ``user.define_outcome`` was accepted: play the next script as a turn working toward it."""
        default: list[Step] = [Text(f"Working on: {outcome.description}"), Grade(), Text("Done.")]
        steps = self.scripts.popleft() if self.scripts else default
        session.turn = asyncio.create_task(self._run_turn(session, steps))

    def resume(self, session: FakeSession, resolved: dict[str, Pending]) -> None:
        """Every pending action was answered: emit their results, then play the next script (if any)."""
        steps = self.scripts.popleft() if self.scripts else []
        session.turn = asyncio.create_task(self._run_turn(session, steps, resolved))

    def stop(self, session: FakeSession) -> None:
        """Interrupt/cancel: stop the turn task, close the span, go idle with the interrupt stop reason."""
        self.cancel(session)
        self._close_span(session)
        finish(session, "interrupted", "The run was interrupted.")
        session.pending.clear()
        session.status = "idle"
        session.append("session.status_idle", stop_reason={"type": self.interrupt_stop_reason})

    def terminate(self, session: FakeSession) -> None:
        """End the session: ``session.error`` (terminal) + ``session.status_terminated``."""
        self.cancel(session)
        session.append(
            "session.error",
            error={
                "type": "unknown_error",
                "message": "session terminated",
                "retry_status": {"type": "terminal"},
            },
        )
        self._close_span(session, credits=0.0)
        session.outcome = None
        session.status = "terminated"
        session.pending.clear()
        session.append("session.status_terminated")

    @staticmethod
    def cancel(session: FakeSession) -> None:
        """Cancel the turn task, if one runs; emits nothing."""
        if session.turn is not None and not session.turn.done():
            session.turn.cancel()
        session.turn = None

    def _delay(self, delay: float | None) -> float:
        return self.step_delay if delay is None else delay

    async def _pace(self, delay: float | None = None) -> None:
        await asyncio.sleep(self._delay(delay))

    async def _run_turn(
        self, session: FakeSession, steps: list[Step], resolved: dict[str, Pending] | None = None
    ) -> None:
        """Play one turn (or the continuation after ``requires_action``) and end it with ``status_idle``."""
        for use_id, pending in (resolved or {}).items():
            if pending.kind != "custom" and pending.decision is not None:
                await self._pace()
                denied = pending.decision.get("result") == "deny"
                text = (pending.decision.get("deny_message") or "denied") if denied else pending.result
                self._tool_result(session, use_id, pending.kind == "mcp", text, denied or pending.is_error)
        await self._pace()
        session.span_start_id = session.append("span.model_request_start")["id"]
        stop_reason: dict[str, Any] = {"type": "end_turn"}
        explicit_end = False
        for step in steps:
            if isinstance(step, End):
                stop_reason = {"type": step.stop_reason}
                if step.stop_reason == "requires_action":
                    ids = step.event_ids if step.event_ids is not None else list(session.pending)
                    for use_id in ids:
                        session.pending.setdefault(use_id, Pending("custom"))
                    stop_reason["event_ids"] = ids
                explicit_end = True
                break
            if isinstance(step, Error):
                await self._pace()
                error = {
                    "type": step.type,
                    "message": step.message,
                    "retry_status": {"type": step.retry_status},
                }
                session.append("session.error", error=error)
                if step.retry_status == "exhausted":
                    stop_reason = {"type": "retries_exhausted"}
                elif step.retry_status == "terminal":
                    self._close_span(session)
                    session.outcome = None
                    session.status = "terminated"
                    session.turn = None
                    session.append("session.status_terminated")
                    return
                continue
            await self._play(session, step)
        if not explicit_end and session.pending:
            stop_reason = {"type": "requires_action", "event_ids": list(session.pending)}
        while session.outcome is not None and stop_reason["type"] == "end_turn":
            await grade(session, Grade(), self._pace)
        if stop_reason["type"] != "requires_action":
            session.outcome = None  # a turn that failed leaves its outcome unfinished
        await self._pace()
        self._close_span(session)
        session.status = "idle"
        session.turn = None
        session.append("session.status_idle", stop_reason=stop_reason)

    async def _play(self, session: FakeSession, step: Step) -> None:
        """Emit the frames of one non-terminal step."""
        if isinstance(step, Text):
            await self._pace()
            message_id = session.new_id()
            session.preview_start(message_id, "agent.message")
            loop = asyncio.get_running_loop()
            due = loop.time()
            for chunk in _split(step.text, step.chunks):
                # A model writes on its own clock: each delta is due a delay after the one before was due,
                # so a late delta does not push back the rest.
                due += self._delay(step.delay)
                await asyncio.sleep(max(0.0, due - loop.time()))
                session.preview_delta(message_id, chunk)
            await self._pace(step.delay)
            session.append("agent.message", id=message_id, content=[{"type": "text", "text": step.text}])
        elif isinstance(step, Thinking):
            await self._pace()
            thinking_id = session.new_id()
            session.preview_start(thinking_id, "agent.thinking")
            await self._pace()
            session.append("agent.thinking", id=thinking_id)
        elif isinstance(step, Tool):
            await self._pace()
            mcp = {} if step.mcp_server is None else {"mcp_server_name": step.mcp_server}
            use = session.append(
                "agent.mcp_tool_use" if step.mcp_server else "agent.tool_use",
                name=step.name,
                **mcp,
                input=step.input,
                evaluated_permission=step.permission,
            )
            if step.permission == "ask":
                session.pending[use["id"]] = Pending(
                    "mcp" if step.mcp_server else "tool", step.result, step.is_error
                )
                return
            await self._pace(step.delay)
            self._tool_result(session, use["id"], bool(step.mcp_server), step.result, step.is_error)
        elif isinstance(step, CustomTool):
            await self._pace()
            use = session.append("agent.custom_tool_use", name=step.name, input=step.input)
            session.pending[use["id"]] = Pending("custom")
        elif isinstance(step, Artifact):
            await self._pace()
            if self.files is None:
                raise RuntimeError("an Artifact step needs the fake's Files API")
            file_id = self.files.add(
                step.filename, step.content_type, step.data, downloadable=step.downloadable
            )
            session.append(
                "agent.artifact_delivered",
                file_id=file_id,
                original_filename=step.filename,
                content_type=step.content_type,
                size=len(step.data),
            )
        elif isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, Raw):
            await self._pace()
            fields = {k: v for k, v in step.event.items() if k != "type"}
            session.append(step.event["type"], **fields)
        elif isinstance(step, Hold):
            await asyncio.Event().wait()
        elif isinstance(step, Grade):
            await grade(session, step, self._pace)

    @staticmethod
    def _tool_result(session: FakeSession, use_id: str, mcp: bool, text: str, is_error: bool) -> None:
        """``agent.tool_result`` (``agent.mcp_tool_result`` for an MCP tool) answering ``use_id``."""
        session.append(
            "agent.mcp_tool_result" if mcp else "agent.tool_result",
            **{"mcp_tool_use_id" if mcp else "tool_use_id": use_id},
            content=[{"type": "text", "text": text}],
            is_error=is_error,
        )

    def _close_span(self, session: FakeSession, credits: float | None = None) -> None:
        """Emit ``span.model_request_end`` for the open model request, if any (closes open previews)."""
        if session.span_start_id is None:
            return
        used = self.credits_per_request if credits is None else credits
        session.credits += used
        start_id, session.span_start_id = session.span_start_id, None
        session.append(
            "span.model_request_end",
            model_request_start_id=start_id,
            is_error=False,
            model_usage={"credits": used},
        )


def _split(text: str, chunks: int) -> list[str]:
    """Split ``text`` into at most ``chunks`` consecutive non-empty pieces."""
    n = max(1, min(chunks, len(text)))
    size, extra = divmod(len(text), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return [p for p in pieces if p]
