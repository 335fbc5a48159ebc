"""The typed Qoder events the bridge acts on (parsed from the wire by ``bot.qoder._parse``).

Every kind carries ``id`` (the event id; None for stream-only preview frames, which are not events),
``cursor`` (the SSE ``id:`` of the frame, usable as ``Last-Event-ID``; for preview frames the previewed
message id) and ``processed_at`` (epoch seconds, when known).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

RetryStatus = Literal["retrying", "exhausted", "terminal"]


@dataclass(frozen=True, kw_only=True)
class _Event:
    id: str | None = None
    cursor: str | None = None
    processed_at: float | None = None

    @property
    def resume_point(self) -> str | None:
        """The ``Last-Event-ID`` to resume after this frame; None for stream-only preview frames.

        Resuming from a preview's id once its message has completed would skip that message (§3.4 case 3),
        so only real events are resume points; resuming before a preview replays it (§3.4 case 1).
        """
        return self.cursor if self.id is not None else None


@dataclass(frozen=True, kw_only=True)
class UserMessage(_Event):
    """Echo of a ``user.message``."""

    text: str = ""


@dataclass(frozen=True, kw_only=True)
class UserInterrupt(_Event):
    """Echo of a ``user.interrupt``: someone stopped the turn."""


@dataclass(frozen=True, kw_only=True)
class ToolConfirmation(_Event):
    """Echo of a ``user.tool_confirmation`` answering the tool call ``tool_use_id``."""

    tool_use_id: str = ""
    allowed: bool = False
    deny_message: str = ""


@dataclass(frozen=True, kw_only=True)
class AgentMessage(_Event):
    """A complete ``agent.message`` (authoritative over any preview with the same id).

    ``delta``: a legacy CLI-era chunk to append (§3.8). ``preview_id``: the preview this message completes
    when that preview was keyed differently (M-era raw streams, legacy chunks); set by ``StreamDecoder``.
    """

    text: str = ""
    delta: bool = False
    preview_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AgentThinking(_Event):
    """The agent is reasoning (no text is exposed)."""


@dataclass(frozen=True, kw_only=True)
class ToolUse(_Event):
    """A tool call: built-in, MCP (``server`` set) or client-side custom (``custom``).

    ``tool_use_id`` is the key results and confirmations refer to (``tool_use_id ?? id``; None when the
    wire gave neither). ``permission`` is ``evaluated_permission`` (``ask`` pauses the turn).
    """

    tool_use_id: str | None = None
    name: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    server: str | None = None
    permission: str | None = None
    custom: bool = False


@dataclass(frozen=True, kw_only=True)
class ToolResult(_Event):
    """Outcome of the tool call ``tool_use_id`` (None: pair by order of arrival)."""

    tool_use_id: str | None = None
    text: str = ""
    is_error: bool = False


@dataclass(frozen=True, kw_only=True)
class MessagePreviewStart(_Event):
    """An ``agent.message`` preview opens (``event_start``, M-era ``agent.message_start``).

    A replay of the start of a message already being previewed means: discard its partial text (§3.4 case 1).
    """

    message_id: str = ""


@dataclass(frozen=True, kw_only=True)
class ThinkingPreviewStart(_Event):
    """An ``agent.thinking`` preview opens (start-only, §3.6)."""


@dataclass(frozen=True, kw_only=True)
class MessageDelta(_Event):
    """A text fragment of the previewed message ``message_id``, for its content block ``index``."""

    message_id: str = ""
    index: int = 0
    text: str = ""


@dataclass(frozen=True, kw_only=True)
class ArtifactDelivered(_Event):
    """``agent.artifact_delivered``: the agent delivered the file ``file_id`` (download it with
    ``QoderClient.file_download_url``). Fields the wire left out are empty (``size`` None)."""

    file_id: str = ""
    filename: str = ""
    content_type: str = ""
    size: int | None = None


@dataclass(frozen=True, kw_only=True)
class ModelRequestEnd(_Event):
    """``span.model_request_end``: one model call ended; closes any open preview (§3.6)."""

    credits: float | None = None
    is_error: bool = False


@dataclass(frozen=True, kw_only=True)
class StatusRunning(_Event):
    """The session is working (``status_running``, ``status_rescheduled``, legacy ``rescheduled``)."""


@dataclass(frozen=True, kw_only=True)
class StatusIdle(_Event):
    """``session.status_idle``: the turn ended or paused. ``stop_reason`` is ``end_turn``,
    ``requires_action`` (waiting on ``event_ids``), ``retries_exhausted``, ``budget_reached``,
    ``cancelled`` or anything newer."""

    stop_reason: str = "end_turn"
    event_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SessionError(_Event):
    """``session.error``. ``retry_status``: ``retrying`` (keep waiting), ``exhausted`` (the turn is dead),
    ``terminal`` (the session will terminate)."""

    error_type: str = "unknown_error"
    message: str = ""
    retry_status: RetryStatus = "exhausted"


@dataclass(frozen=True, kw_only=True)
class Terminated(_Event):
    """The session is gone for good: ``status_terminated``, legacy ``terminated``, or ``deleted``."""

    reason: str = ""
    deleted: bool = False


@dataclass(frozen=True, kw_only=True)
class Usage(_Event):
    """``session.usage``: cumulative session credits (a snapshot, not an increment)."""

    credits: float | None = None


@dataclass(frozen=True, kw_only=True)
class OutcomeDefined(_Event):
    """Echo of a ``user.define_outcome``: the outcome the session now works toward, and its server-made
    ``outcome_id`` (§4.1). ``max_iterations`` is None when the wire did not say."""

    outcome_id: str | None = None
    description: str = ""
    max_iterations: int | None = None


@dataclass(frozen=True, kw_only=True)
class OutcomeGrading(_Event):
    """``span.outcome_evaluation_start`` (``first``) or ``_ongoing`` (a heartbeat): the grader is at work on
    ``iteration`` (0-based; None when the wire did not say) of ``outcome_id`` (§4.4)."""

    outcome_id: str | None = None
    iteration: int | None = None
    first: bool = False


@dataclass(frozen=True, kw_only=True)
class OutcomeVerdict(_Event):
    """``span.outcome_evaluation_end``: the grader's ``result`` for ``iteration`` — ``satisfied``,
    ``needs_revision`` (the agent revises, another evaluation follows), ``max_iterations_reached``,
    ``failed``, ``interrupted`` or anything newer — with its ``explanation`` and, when the wire gives
    them, the ``credits`` grading cost (§4.4)."""

    outcome_id: str | None = None
    iteration: int | None = None
    result: str = ""
    explanation: str = ""
    credits: float | None = None

    @property
    def final(self) -> bool:
        """No further evaluation of this outcome follows (anything but ``needs_revision``)."""
        return self.result != "needs_revision"


@dataclass(frozen=True, kw_only=True)
class StreamError(_Event):
    """An in-band ``event: error`` frame (§3.9). The client reconnects on it; consumers never see it."""

    error_type: str = ""
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class StreamReconnecting(_Event):
    """Not from the wire: the client has failed ``attempt`` connections in a row and keeps retrying."""

    reason: str = ""
    attempt: int = 0


@dataclass(frozen=True, kw_only=True)
class Unknown(_Event):
    """A well-formed event of a type the bridge does not act on; kept so its cursor is not lost."""

    type: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


QoderEvent = (
    UserMessage
    | UserInterrupt
    | ToolConfirmation
    | AgentMessage
    | AgentThinking
    | ToolUse
    | ToolResult
    | ArtifactDelivered
    | MessagePreviewStart
    | ThinkingPreviewStart
    | MessageDelta
    | ModelRequestEnd
    | StatusRunning
    | StatusIdle
    | SessionError
    | Terminated
    | Usage
    | OutcomeDefined
    | OutcomeGrading
    | OutcomeVerdict
    | StreamError
    | StreamReconnecting
    | Unknown
)
