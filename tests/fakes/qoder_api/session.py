"""The server-side model of one session: its state and its frame log.

Every frame a session produces — buffered events and stream-only previews alike — is appended to one
log; the history (List Events) and every SSE subscriber read from that log, so they cannot disagree.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.qoder_api.errors import ApiError

TERMINAL_TYPES = frozenset({"session.status_terminated", "session.deleted"})
_JSON_SEPARATORS = (",", ":")


def now() -> str:
    """The current time as the API writes it (RFC 3339, UTC, microseconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message_text(content: list[dict[str, Any]]) -> str:
    """The text blocks of a ``user.message`` content array, joined."""
    return "".join(block.get("text", "") for block in content if block.get("type") == "text")


@dataclass(frozen=True)
class Frame:
    """One SSE frame. ``preview_of`` is the previewed event type for ``event_start``/``event_delta``;
    ``wire``, when set, is the JSON sent instead of ``data`` (an older frame shape of the same event)."""

    sse_id: str
    type: str
    data: dict[str, Any]
    preview_of: str | None = None
    wire: dict[str, Any] | None = None

    def encode(self) -> bytes:
        data = self.data if self.wire is None else self.wire
        payload = json.dumps(data, separators=_JSON_SEPARATORS, ensure_ascii=False)
        return f"id: {self.sse_id}\nevent: {self.type}\ndata: {payload}\n\n".encode()


@dataclass
class Pending:
    """An action the paused turn waits for: ``kind`` is ``tool``, ``mcp`` or ``custom``."""

    kind: str
    result: str = "ok"
    is_error: bool = False
    decision: dict[str, Any] | None = None


@dataclass
class FakeOutcome:
    """The outcome a session works toward. ``iteration`` is the 0-based evaluation under way or next;
    ``open_start`` the id of a ``span.outcome_evaluation_start`` still waiting for its end; ``record`` the
    session's ``outcome_evaluations`` entry, updated as grading goes."""

    id: str
    description: str
    max_iterations: int
    record: dict[str, Any]
    iteration: int = 0
    open_start: str | None = None


@dataclass
class FakeSession:
    """Server-side state of one session. ``events`` is the buffered history (what List Events returns)."""

    id: str
    agent: dict[str, Any]
    environment_id: str
    title: str
    metadata: dict[str, str]
    new_id: Callable[[], str]
    status: str = "idle"
    archived_at: str | None = None
    deleted: bool = False
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    credits: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    log: list[Frame] = field(default_factory=list)
    published_at: list[float] = field(default_factory=list)  # time.monotonic() of each log entry
    open_previews: dict[str, str] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    turn: asyncio.Task[None] | None = None
    span_start_id: str | None = None
    outcome: FakeOutcome | None = None  # the outcome being worked toward; None between outcomes
    outcome_evaluations: list[dict[str, Any]] = field(default_factory=list)
    _buffered_pos: dict[str, int] = field(default_factory=dict)
    _preview_pos: dict[str, int] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # -- the only places that append to the log -------------------------------------------------

    def append(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Append a buffered event (history + stream); returns it. ``fields`` may carry ``id``."""
        return self.append_as(type_, None, **fields)

    def append_as(self, type_: str, wire: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
        """``append``, with ``wire`` (when not None) sent as the stream frame's JSON instead of the event; the
        SSE ``id:`` and ``event:`` lines stay those of the event, and history keeps the event itself."""
        event: dict[str, Any] = {"id": fields.pop("id", None) or self.new_id(), "type": type_, **fields}
        event.setdefault("processed_at", now())
        self.events.append(event)
        self._buffered_pos[event["id"]] = len(self.log)
        self.open_previews.pop(event["id"], None)
        if type_ == "span.model_request_end":
            self.open_previews.clear()
        self._publish(Frame(event["id"], type_, event, wire=wire))
        return event

    def preview_start(self, event_id: str, previewed: str) -> None:
        """Open a stream-only preview of ``previewed`` (``agent.message`` / ``agent.thinking``)."""
        self.open_previews[event_id] = previewed
        self._preview_pos[event_id] = len(self.log)
        data = {"event": {"id": event_id, "type": previewed}, "type": "event_start"}
        self._publish(Frame(event_id, "event_start", data, preview_of=previewed))

    def preview_delta(self, event_id: str, text: str) -> None:
        """Append one text fragment to an open preview."""
        data = {
            "delta": {"content": {"text": text, "type": "text"}, "index": 0, "type": "content_delta"},
            "event_id": event_id,
            "type": "event_delta",
        }
        self._publish(Frame(event_id, "event_delta", data, preview_of=self.open_previews[event_id]))

    def _publish(self, frame: Frame) -> None:
        self.log.append(frame)
        self.published_at.append(time.monotonic())
        self.updated_at = now()
        self.notify()

    def notify(self) -> None:
        """Wake every stream waiting on this session."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- reading --------------------------------------------------------------------------------

    @property
    def changed(self) -> asyncio.Event:
        """Set at the next change to the log (or ``notify``); take it before reading the log."""
        return self._changed

    @property
    def closed(self) -> bool:
        """No further events will ever be produced."""
        return self.deleted or self.status == "terminated"

    def resume_point(self, last_event_id: str) -> int | None:
        """Log index to resume after ``last_event_id``; ``None`` when the id is unknown here.

        A buffered id resumes strictly after it. An in-progress preview id (case 2 of §3.4) resumes just
        after its ``event_start``; the stream then skips that preview's already-logged deltas.
        """
        if last_event_id in self._buffered_pos:
            return self._buffered_pos[last_event_id] + 1
        if last_event_id in self._preview_pos:
            return self._preview_pos[last_event_id] + 1
        return None

    def to_json(self) -> dict[str, Any]:
        """The Session object (§2.A)."""
        return {
            "id": self.id,
            "type": "session",
            "agent": self.agent,
            "agent_id": self.agent.get("id"),
            "environment_id": self.environment_id,
            "title": self.title,
            "status": self.status,
            "metadata": dict(self.metadata),
            "resources": [],
            "vault_ids": [],
            "environment_variables": {},
            "stats": {"active_seconds": 0, "duration_seconds": 0},
            "usage": {"total_credits": round(self.credits, 2)},
            "outcome_evaluations": [dict(record) for record in self.outcome_evaluations],
            "deployment_id": None,
            "archived_at": self.archived_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def find_session(sessions: Mapping[str, FakeSession], session_id: str) -> FakeSession:
    """The live session ``session_id``; a 404 ``ApiError`` when it never existed or was deleted."""
    session = sessions.get(session_id)
    if session is None or session.deleted:
        raise ApiError(404, "not_found_error", f"Session {session_id} not found.")
    return session
