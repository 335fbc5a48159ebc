"""What a turn looks like at any moment, and the pure fold that advances it.

``fold(state, event) -> state`` has no I/O: the relay feeds it Qoder events in stream order and renders
whatever comes out. The state is a frozen pydantic model so that it can be stored next to the stream
cursor (``TurnState.model_dump_json``) and restored after a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot.qoder import (
    AgentMessage,
    AgentThinking,
    ArtifactDelivered,
    MessageDelta,
    MessagePreviewStart,
    ModelRequestEnd,
    OutcomeDefined,
    OutcomeGrading,
    OutcomeVerdict,
    QoderEvent,
    SessionError,
    StatusIdle,
    StatusRunning,
    StreamReconnecting,
    Terminated,
    ThinkingPreviewStart,
    ToolConfirmation,
    ToolResult,
    ToolUse,
    UserInterrupt,
)
from bot.turn_outcome import OutcomeState, advance

Phase = Literal["running", "done", "stopped", "failed", "needs_action", "terminated"]
ToolStatus = Literal["running", "done", "failed", "waiting"]


class TextItem(BaseModel):
    """Answer text of one ``agent.message`` (``id``). ``partial`` while it is still a delta preview;
    ``aborted`` when its model request ended before the final message arrived."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["text"] = "text"
    id: str
    text: str
    partial: bool = False
    aborted: bool = False
    blocks: tuple[str, ...] = ()  # per-index text of a delta preview (§3.6); empty once final


class Decision(BaseModel):
    """A person's answer to a tool call that waited for approval: ``allow`` or deny, ``by`` whom (a Slack
    user id; empty when the answer came from elsewhere), ``at`` when (epoch seconds) and why (a deny's
    ``reason``, as typed)."""

    model_config = ConfigDict(frozen=True)
    allow: bool
    by: str = ""
    at: float = 0.0
    reason: str = ""


class ToolItem(BaseModel):
    """One tool call (built-in, MCP or custom) and its outcome.

    ``asked``: a ``requires_action`` pause named it, so a person decides it; ``decision`` records that
    person's answer (kept by the fold from then on); ``undecided`` says why no answer will come (the run was
    stopped, or went on without it)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["tool"] = "tool"
    id: str
    name: str
    input: dict[str, Any] = {}
    server: str | None = None
    status: ToolStatus = "running"
    result: str = ""
    custom: bool = False  # a client-side custom tool: the bridge must answer it (requires_action)
    asked: bool = False
    decision: Decision | None = None
    undecided: str = ""


class ArtifactItem(BaseModel):
    """A file the agent delivered (``agent.artifact_delivered``); ``id`` is Qoder's file id. Delivering it
    into the thread happens outside the fold (``bot.artifacts``)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["artifact"] = "artifact"
    id: str
    filename: str = ""
    content_type: str = ""
    size: int | None = None


TurnItem = TextItem | ToolItem | ArtifactItem


class TurnState(BaseModel):
    """The visible state of one turn.

    ``items`` is the timeline in stream order. ``phase`` is ``running`` until ``session.status_idle``
    (done / stopped / failed / needs_action) or termination. ``error`` is one plain sentence for the
    user; ``notice`` a transient note (e.g. the platform is retrying); ``outcome`` what the turn works
    toward when ``user.define_outcome`` started it, and its evaluation. Times are epoch seconds taken
    from the events' ``processed_at`` when present; ``opened_at`` is the bridge's own clock when it sent
    the turn's first event (how long a turn runs before its events say).
    """

    model_config = ConfigDict(frozen=True)
    items: tuple[TurnItem, ...] = ()
    thinking: bool = False
    phase: Phase = "running"
    stop_reason: str | None = None
    interrupted: bool = False
    error: str | None = None
    notice: str | None = None
    pending_action_ids: tuple[str, ...] = ()
    credits: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    last_error: str | None = None  # message of the last session.error, for the retries_exhausted sentence
    outcome: OutcomeState | None = None
    opened_at: float | None = None

    @property
    def finished(self) -> bool:
        """True once the turn will produce no more output (any phase but ``running``)."""
        return self.phase != "running"


RECONNECTING_NOTICE = "Lost the connection to Qoder; reconnecting…"
TERMINATED_SENTENCE = "This Qoder session has ended; send a new message to start a fresh one."
BUDGET_SENTENCE = "The session reached its budget."
RESULT_LIMIT = 500

_SETTLED: frozenset[Phase] = frozenset({"done", "stopped", "terminated"})


def fold(state: TurnState, event: QoderEvent) -> TurnState:
    """The state after ``event``. Pure.

    A turn that has ended (done, stopped, terminated) no longer changes; a failed one only takes the
    session's termination; ``needs_action`` is a pause, so the turn continues when events keep coming.
    """
    if state.phase in _SETTLED or (state.phase == "failed" and not isinstance(event, Terminated)):
        return state
    if isinstance(event, StreamReconnecting):
        return state.model_copy(update={"notice": RECONNECTING_NOTICE})
    if state.notice == RECONNECTING_NOTICE:  # anything from the stream means it is back
        state = state.model_copy(update={"notice": None})
    if state.started_at is None and event.processed_at is not None:
        state = state.model_copy(update={"started_at": event.processed_at})
    match event:
        case AgentMessage():
            return _agent_message(state, event)
        case MessagePreviewStart():
            return _preview_start(state, event)
        case MessageDelta():
            return _message_delta(state, event)
        case AgentThinking() | ThinkingPreviewStart():
            return state.model_copy(update={"thinking": True})
        case ToolUse():
            return _tool_use(state, event)
        case ToolResult():
            return _tool_result(state, event)
        case ToolConfirmation():
            return _tool_confirmation(state, event)
        case ArtifactDelivered():
            return _artifact(state, event)
        case ModelRequestEnd():
            return _model_request_end(state, event)
        case OutcomeDefined() | OutcomeGrading() | OutcomeVerdict():
            return _outcome(state, event)
        case UserInterrupt():
            return state.model_copy(update={"interrupted": True})
        case StatusRunning():
            return _status_running(state)
        case StatusIdle():
            return _status_idle(state, event)
        case SessionError():
            return _session_error(state, event)
        case Terminated():
            return _terminated(state, event)
        case _:  # user.message echo, session.usage (session-wide), unknown kinds
            return state


# --- text -----------------------------------------------------------------------------------------------


def _agent_message(state: TurnState, event: AgentMessage) -> TurnState:
    if event.delta:
        # §3.8 legacy chunks: append to the chunked text being built, else start one
        last = state.items[-1] if state.items else None
        if isinstance(last, TextItem) and last.partial:
            items = (*state.items[:-1], last.model_copy(update={"text": last.text + event.text}))
        else:
            chunk = TextItem(id=event.id or _new_id("text", state), text=event.text, partial=True)
            items = (*state.items, chunk)
    else:
        # §3.6: the buffered message is authoritative; it replaces its preview (same id, or preview_id)
        keys = {event.id, event.preview_id} - {None}
        final = TextItem(id=event.id or event.preview_id or _new_id("text", state), text=event.text)
        items = _put(state.items, lambda item: isinstance(item, TextItem) and item.id in keys, final)
    return state.model_copy(update={"items": items, "thinking": False, "notice": None})


def _preview_start(state: TurnState, event: MessagePreviewStart) -> TurnState:
    current = _find_text(state, event.message_id)
    if current is not None and not current.partial and not current.aborted:
        return state  # already final; a late preview cannot improve on it
    # §3.4 case 1: a replayed start means the server resends the deltas from the beginning: start over
    fresh = TextItem(id=event.message_id, text="", partial=True)
    items = _put(state.items, lambda item: isinstance(item, TextItem) and item.id == event.message_id, fresh)
    return state.model_copy(update={"items": items, "thinking": False, "notice": None})


def _message_delta(state: TurnState, event: MessageDelta) -> TurnState:
    current = _find_text(state, event.message_id)
    if current is not None and not current.partial:
        return state  # final or aborted: deltas are best-effort and never override
    # §3.6 merge: a new index inserts that block; an existing index appends to it
    blocks = list(current.blocks) if current is not None else []
    if event.index >= len(blocks):
        blocks.extend([""] * (event.index - len(blocks) + 1))
        blocks[event.index] = event.text
    else:
        blocks[event.index] += event.text
    item = TextItem(id=event.message_id, text="".join(blocks), partial=True, blocks=tuple(blocks))
    items = _put(state.items, lambda it: isinstance(it, TextItem) and it.id == event.message_id, item)
    return state.model_copy(update={"items": items, "thinking": False, "notice": None})


def _model_request_end(state: TurnState, event: ModelRequestEnd) -> TurnState:
    # §3.6: the end of a model request closes any preview still open; what it showed is all there will be
    items = _settle(state.items, aborted=True)
    credits = state.credits
    if event.credits is not None:
        credits = round((credits or 0.0) + event.credits, 2)
    return state.model_copy(update={"items": items, "credits": credits})


def _outcome(state: TurnState, event: OutcomeDefined | OutcomeGrading | OutcomeVerdict) -> TurnState:
    credits = state.credits
    if isinstance(event, OutcomeVerdict) and event.credits is not None:  # grading is paid work too
        credits = round((credits or 0.0) + event.credits, 2)
    outcome = advance(state.outcome, event)
    return state.model_copy(update={"outcome": outcome, "credits": credits, "thinking": False})


# --- tools ----------------------------------------------------------------------------------------------


def _tool_use(state: TurnState, event: ToolUse) -> TurnState:
    if event.tool_use_id is not None and _find_tool(state, event.tool_use_id) is not None:
        return state
    item = ToolItem(
        id=event.tool_use_id or _new_id("tool", state),
        name=event.name,
        input=event.input,
        server=event.server,
        status="waiting" if event.permission == "ask" else "running",
        custom=event.custom,
    )
    return state.model_copy(update={"items": (*state.items, item), "thinking": False, "notice": None})


def _tool_result(state: TurnState, event: ToolResult) -> TurnState:
    tool = _find_tool(state, event.tool_use_id) if event.tool_use_id else None
    if tool is None:
        # no usable key (legacy streams): the oldest call still waiting for its result
        tool = next(
            (i for i in state.items if isinstance(i, ToolItem) and i.status in ("running", "waiting")), None
        )
    if tool is None:
        return state
    status: ToolStatus = "failed" if event.is_error else "done"
    updated = tool.model_copy(update={"status": status, "result": _short(event.text)})
    return state.model_copy(update={"items": _replace(state.items, tool, updated), "thinking": False})


def _tool_confirmation(state: TurnState, event: ToolConfirmation) -> TurnState:
    tool = _find_tool(state, event.tool_use_id)
    if tool is None or tool.status != "waiting":
        return state
    # the answer the bridge recorded when it sent this one stays; an answer from elsewhere is recorded now
    decision = tool.decision or Decision(allow=event.allowed, at=event.processed_at or 0.0)
    if event.allowed:
        updated = tool.model_copy(update={"status": "running", "decision": decision})
    else:
        updated = tool.model_copy(
            update={
                "status": "failed",
                "result": _short(event.deny_message or "Denied."),
                "decision": decision,
            }
        )
    return state.model_copy(update={"items": _replace(state.items, tool, updated)})


def _artifact(state: TurnState, event: ArtifactDelivered) -> TurnState:
    file_id = event.file_id or event.id or _new_id("artifact", state)
    if any(isinstance(item, ArtifactItem) and item.id == file_id for item in state.items):
        return state  # a replayed event
    item = ArtifactItem(id=file_id, filename=event.filename, content_type=event.content_type, size=event.size)
    return state.model_copy(update={"items": (*state.items, item), "thinking": False, "notice": None})


# --- status ---------------------------------------------------------------------------------------------


def _status_running(state: TurnState) -> TurnState:
    if state.phase != "needs_action":
        return state
    # all pending actions were resolved: the paused turn goes on
    return state.model_copy(
        update={"phase": "running", "pending_action_ids": (), "stop_reason": None, "ended_at": None}
    )


def _status_idle(state: TurnState, event: StatusIdle) -> TurnState:
    reason = event.stop_reason
    if reason == "requires_action":
        tools = {item.id: item for item in state.items if isinstance(item, ToolItem)}
        if event.event_ids and all(
            (tool := tools.get(i)) is not None and tool.decision is not None for i in event.event_ids
        ):
            # a pause on calls that were all answered since (the stream is behind the answers): no pause
            return state
        items = tuple(
            item.model_copy(update={"asked": True})
            if isinstance(item, ToolItem) and item.id in event.event_ids and not item.custom
            else item
            for item in state.items
        )
        return state.model_copy(
            update={
                "items": items,
                "phase": "needs_action",
                "stop_reason": reason,
                "pending_action_ids": event.event_ids,
                "thinking": False,
                "notice": None,
                "ended_at": event.processed_at,
            }
        )
    error: str | None = None
    phase: Phase
    if reason == "cancelled" or (reason == "end_turn" and state.interrupted):
        phase = "stopped"
    elif reason == "retries_exhausted":
        phase = "failed"
        error = "The agent gave up after repeated errors" + (
            f": {state.last_error}" if state.last_error else "."
        )
    elif reason == "budget_reached":
        phase, error = "failed", BUDGET_SENTENCE
    else:  # end_turn, or a stop reason newer than this code (§7 #14: treat as the end of the turn)
        phase = "done"
    return _finish(state, phase, reason, error, event.processed_at)


def _session_error(state: TurnState, event: SessionError) -> TurnState:
    # §4.7: only `terminal` decides the outcome here; otherwise status_idle / status_terminated will
    message = event.message or event.error_type
    if event.retry_status == "retrying":
        return state.model_copy(update={"notice": f"Qoder is retrying: {message}", "last_error": message})
    if event.retry_status == "exhausted":
        return state.model_copy(update={"last_error": message})
    # terminal: the session is over (status_terminated follows), which is what the user needs to know
    error = f"{_sentence(message)} {TERMINATED_SENTENCE}" if message else TERMINATED_SENTENCE
    return _finish(
        state.model_copy(update={"last_error": message}), "terminated", None, error, event.processed_at
    )


def _terminated(state: TurnState, event: Terminated) -> TurnState:
    cause = state.error if state.phase == "failed" else state.last_error
    error = f"{_sentence(cause)} {TERMINATED_SENTENCE}" if cause else TERMINATED_SENTENCE
    ended_at = event.processed_at if event.processed_at is not None else state.ended_at
    return _finish(state, "terminated", state.stop_reason, error, ended_at)


def _finish(
    state: TurnState, phase: Phase, stop_reason: str | None, error: str | None, ended_at: float | None
) -> TurnState:
    return state.model_copy(
        update={
            "phase": phase,
            "stop_reason": stop_reason,
            "error": error,
            "items": _settle(state.items, aborted=phase != "done"),
            "thinking": False,
            "notice": None,
            "pending_action_ids": (),
            "ended_at": ended_at,
        }
    )


# --- approvals ------------------------------------------------------------------------------------------


def awaiting(state: TurnState) -> tuple[str, ...]:
    """The ids of the tool calls a person may still decide, in stream order: those the pause waits on, and
    those a pause named while the turn runs again (the stream has not reached their answer yet). Never a
    custom tool's (the bridge answers those), one already decided, or one of a turn that has ended."""
    if state.phase not in ("running", "needs_action"):
        return ()
    pending = set(state.pending_action_ids) if state.phase == "needs_action" else set()
    tools = {item.id: item for item in state.items if isinstance(item, ToolItem)}

    def is_open(tool_use_id: str) -> bool:
        tool = tools.get(tool_use_id)
        if tool is None:
            return tool_use_id in pending
        if tool.custom or tool.decision is not None or tool.undecided:
            return False
        return tool_use_id in pending or (tool.asked and tool.status == "waiting")

    ids = [*tools, *state.pending_action_ids]
    return tuple(i for i in dict.fromkeys(ids) if is_open(i))


def decide(state: TurnState, tool_use_id: str, decision: Decision) -> TurnState:
    """``state`` with ``decision`` recorded on tool call ``tool_use_id``: one among :func:`awaiting`, or one
    whose only record is Qoder's echo of this same answer (the stream got there first). Otherwise unchanged.
    Pure."""
    tool = _find_tool(state, tool_use_id)
    if tool is None:
        return state
    echoed = tool.decision is not None and not tool.decision.by and tool.decision.allow == decision.allow
    if tool_use_id not in awaiting(state) and not echoed:
        return state
    updated = tool.model_copy(update={"decision": decision, "asked": True})
    return state.model_copy(update={"items": _replace(state.items, tool, updated)})


def all_decided(state: TurnState) -> bool:
    """A paused turn whose every pending call has a recorded decision: it can go on."""
    tools = {item.id: item for item in state.items if isinstance(item, ToolItem)}
    return (
        state.phase == "needs_action"
        and bool(state.pending_action_ids)
        and all((t := tools.get(i)) is not None and t.decision is not None for i in state.pending_action_ids)
    )


def abandon(state: TurnState, why: str, *, stopped: bool, at: float | None = None) -> TurnState:
    """A paused turn that ends without the decisions it waited for: each undecided call says ``why``; the
    turn is ``stopped`` (a person stopped it) or else done (the session went on without it). Pure."""
    still = awaiting(state)
    items = tuple(
        item.model_copy(update={"undecided": why})
        if isinstance(item, ToolItem) and item.id in still
        else item
        for item in state.items
    )
    ended = state.model_copy(update={"items": items})
    return _finish(ended, "stopped" if stopped else "done", None, None, state.ended_at or at)


# --- helpers --------------------------------------------------------------------------------------------


def _settle(items: tuple[TurnItem, ...], *, aborted: bool) -> tuple[TurnItem, ...]:
    """Close every still-partial text (marked ``aborted`` if asked); drop previews that never got text."""
    settled: list[TurnItem] = []
    for item in items:
        if isinstance(item, TextItem) and item.partial:
            if not item.text:
                continue
            item = item.model_copy(update={"partial": False, "aborted": aborted, "blocks": ()})
        settled.append(item)
    return tuple(settled)


def _put(
    items: tuple[TurnItem, ...], match: Callable[[TurnItem], bool], new: TurnItem
) -> tuple[TurnItem, ...]:
    """``items`` with the first item satisfying ``match`` replaced by ``new``, or ``new`` appended."""
    for index, item in enumerate(items):
        if match(item):
            return (*items[:index], new, *items[index + 1 :])
    return (*items, new)


def _replace(items: tuple[TurnItem, ...], old: TurnItem, new: TurnItem) -> tuple[TurnItem, ...]:
    return _put(items, lambda item: item is old, new)


def _find_text(state: TurnState, item_id: str) -> TextItem | None:
    return next((i for i in state.items if isinstance(i, TextItem) and i.id == item_id), None)


def _find_tool(state: TurnState, item_id: str) -> ToolItem | None:
    return next((i for i in state.items if isinstance(i, ToolItem) and i.id == item_id), None)


def _new_id(kind: str, state: TurnState) -> str:
    """An id for an item whose event had none (legacy streams without ids)."""
    return f"{kind}-{len(state.items)}"


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= RESULT_LIMIT else text[: RESULT_LIMIT - 1].rstrip() + "…"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
