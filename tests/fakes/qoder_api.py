"""A real HTTP fake of the Qoder Managed Cloud Agents API, served by aiohttp on 127.0.0.1.

It speaks the current ("N era") wire format from ``qoder-api.md`` for the calls the bot makes: create,
get and cancel a session (S1, S2, S8), send / list / stream events (E1-E3) and ``GET /models``, with the
error envelope, idempotency keys, tail-only SSE connects, ``Last-Event-ID`` resume with the three
in-progress-preview cases, per-connection ``event_deltas[]`` previews and ``: heartbeat`` comments; and
archive (S6), for tests to archive a session from outside.

Agent turns are scripted with small step objects (:class:`Text`, :class:`Tool`, :class:`Hold`, ...). Every
frame a session produces - buffered events and stream-only previews alike - is appended to one per-session
log; history, the ``events`` list and every SSE subscriber read from that log, so they cannot disagree.

Choices where the real API is undocumented:

* ``Last-Event-ID`` that is not an event of the session: the stream starts at the tail (like a connect
  without the header). ``FakeQoder(unknown_cursor_status=404)`` answers an error instead.
* Thinking previews (``event_start`` for ``agent.thinking``) are sent only to connections that asked for
  ``event_deltas[]=agent.thinking``; ``agent.message`` previews only with ``event_deltas[]=agent.message``.
* ``user.message`` while the session waits in ``requires_action`` is accepted and drops the pending actions.
* Only 2xx responses are stored for idempotent replay, so a key can be retried after a 409 or injected error.
* ``drop_streams_after`` closes the socket mid-body (httpx raises ``RemoteProtocolError``); ``stop()``,
  ``session.status_terminated`` and ``session.deleted`` end streams cleanly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

BASE_PATH = "/api/v1/cloud"

# --------------------------------------------------------------------------------------------------
# Turn script steps


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


Step = Text | Thinking | Tool | CustomTool | Sleep | Raw | Error | End | Hold

# --------------------------------------------------------------------------------------------------
# Observability records


@dataclass
class RecordedRequest:
    """One HTTP request as received. ``headers`` keys are lower-case; ``status`` is set once answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    status: int | None = None


@dataclass(frozen=True)
class StreamConnect:
    """One SSE connect: its cursor and whether ``agent.message`` previews were requested."""

    session_id: str
    last_event_id: str | None
    deltas: bool
    event_deltas: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Session state and the per-session frame log

TERMINAL_TYPES = frozenset({"session.status_terminated", "session.deleted"})
_JSON_SEPARATORS = (",", ":")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class _Frame:
    """One SSE frame. ``preview_of`` is the previewed event type for ``event_start``/``event_delta``."""

    sse_id: str
    type: str
    data: dict[str, Any]
    preview_of: str | None = None

    def encode(self) -> bytes:
        payload = json.dumps(self.data, separators=_JSON_SEPARATORS, ensure_ascii=False)
        return f"id: {self.sse_id}\nevent: {self.type}\ndata: {payload}\n\n".encode()


@dataclass
class _Pending:
    """An action the paused turn waits for: ``kind`` is ``tool``, ``mcp`` or ``custom``."""

    kind: str
    result: str = "ok"
    is_error: bool = False
    decision: dict[str, Any] | None = None


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
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    credits: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    log: list[_Frame] = field(default_factory=list)
    published_at: list[float] = field(default_factory=list)  # time.monotonic() of each log entry
    open_previews: dict[str, str] = field(default_factory=dict)
    pending: dict[str, _Pending] = field(default_factory=dict)
    turn: asyncio.Task[None] | None = None
    span_start_id: str | None = None
    _buffered_pos: dict[str, int] = field(default_factory=dict)
    _preview_pos: dict[str, int] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # -- the only places that append to the log -------------------------------------------------

    def append(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Append a buffered event (history + stream); returns it. ``fields`` may carry ``id``."""
        event: dict[str, Any] = {"id": fields.pop("id", None) or self.new_id(), "type": type_, **fields}
        event.setdefault("processed_at", _now())
        self.events.append(event)
        self._buffered_pos[event["id"]] = len(self.log)
        self.open_previews.pop(event["id"], None)
        if type_ == "span.model_request_end":
            self.open_previews.clear()
        self._publish(_Frame(event["id"], type_, event))
        return event

    def preview_start(self, event_id: str, previewed: str) -> None:
        """Open a stream-only preview of ``previewed`` (``agent.message`` / ``agent.thinking``)."""
        self.open_previews[event_id] = previewed
        self._preview_pos[event_id] = len(self.log)
        data = {"event": {"id": event_id, "type": previewed}, "type": "event_start"}
        self._publish(_Frame(event_id, "event_start", data, preview_of=previewed))

    def preview_delta(self, event_id: str, text: str) -> None:
        """Append one text fragment to an open preview."""
        data = {
            "delta": {"content": {"text": text, "type": "text"}, "index": 0, "type": "content_delta"},
            "event_id": event_id,
            "type": "event_delta",
        }
        self._publish(_Frame(event_id, "event_delta", data, preview_of=self.open_previews[event_id]))

    def _publish(self, frame: _Frame) -> None:
        self.log.append(frame)
        self.published_at.append(time.monotonic())
        self.updated_at = _now()
        self.notify()

    def notify(self) -> None:
        """Wake every stream waiting on this session."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- reading --------------------------------------------------------------------------------

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
            "outcome_evaluations": [],
            "deployment_id": None,
            "archived_at": self.archived_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class _ApiError(Exception):
    """Answered as the §6.1 error envelope."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.headers = headers or {}


_DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}


@dataclass
class _Fault:
    method: str
    path_suffix: str
    status: int
    times: int
    retry_after: float | None
    error_type: str
    message: str
    execute: bool


@dataclass(eq=False)
class _Subscriber:
    session_id: str
    remaining: int | None = None


_REQUEST_KEY = web.RequestKey("qoder_fake.record", RecordedRequest)
_REQUEST_ID_KEY = web.RequestKey("qoder_fake.request_id", str)
_USER_EVENT_TYPES = frozenset(
    {
        "user.message",
        "user.interrupt",
        "user.tool_confirmation",
        "user.custom_tool_result",
        "user.tool_result",
        "user.define_outcome",
        "system.message",
    }
)


def _encode_cursor(after_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after_id}).encode()).decode().rstrip("=")


def _decode_cursor(page: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(page + "=" * (-len(page) % 4))
        after = json.loads(raw)["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _ApiError(400, "invalid_request_error", "Invalid page cursor.") from exc
    if not isinstance(after, str):
        raise _ApiError(400, "invalid_request_error", "Invalid page cursor.")
    return after


def _message_text(content: list[dict[str, Any]]) -> str:
    return "".join(block.get("text", "") for block in content if block.get("type") == "text")


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


# --------------------------------------------------------------------------------------------------
# The server


class FakeQoder:
    """The fake API server. ``await start()`` binds a free port; ``base_url`` ends in ``/api/v1/cloud``.

    Scripting: :meth:`script` queues turn scripts, each consumed by the next accepted ``user.message`` in any
    session (or by the continuation after all pending ``requires_action`` items are answered). Without a
    queued script a turn answers ``"You said: <text>"`` as one streamed :class:`Text`.
    """

    def __init__(
        self,
        *,
        token: str = "pt-test",
        heartbeat_interval: float = 0.5,
        step_delay: float = 0.02,
        send_status: int = 200,
        interrupt_stop_reason: str = "cancelled",
        unknown_cursor_status: int | None = None,
        credits_per_request: float = 0.25,
    ) -> None:
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.step_delay = step_delay
        self.send_status = send_status
        self.interrupt_stop_reason = interrupt_stop_reason
        self.unknown_cursor_status = unknown_cursor_status
        self.credits_per_request = credits_per_request

        self.sessions: dict[str, FakeSession] = {}
        self.requests: list[RecordedRequest] = []
        self.stream_connects: list[StreamConnect] = []

        self._scripts: deque[list[Step]] = deque()
        self._accepted: list[tuple[str, str, dict[str, Any]]] = []  # (session id, type, echo)
        self._faults: list[_Fault] = []
        self._idempotency: dict[tuple[str, str, str], tuple[str, int, bytes]] = {}
        self._subscribers: set[_Subscriber] = set()
        self._drop_armed: int | None = None
        self._paused_until = 0.0
        self._closing = False
        self._event_seq = 0
        self._session_seq = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port."""
        app = web.Application(middlewares=[self._middleware])
        app.on_response_prepare.append(self._add_request_id)
        base = BASE_PATH
        app.router.add_get(f"{base}/models", self._list_models)
        app.router.add_post(f"{base}/sessions", self._create_session)
        app.router.add_get(f"{base}/sessions/{{sid}}", self._get_session)
        app.router.add_post(f"{base}/sessions/{{sid}}/archive", self._archive_session)
        app.router.add_post(f"{base}/sessions/{{sid}}/cancel", self._cancel_session)
        app.router.add_post(f"{base}/sessions/{{sid}}/events", self._send_events)
        app.router.add_get(f"{base}/sessions/{{sid}}/events", self._list_events)
        app.router.add_get(f"{base}/sessions/{{sid}}/events/stream", self._stream_events)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop turns, end open streams and close the server."""
        self._closing = True
        tasks = [s.turn for s in self.sessions.values() if s.turn is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._wake_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeQoder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/api/v1/cloud``."""
        if self._port is None:
            raise RuntimeError("FakeQoder is not started")
        return f"http://127.0.0.1:{self._port}{BASE_PATH}"

    # -- scripting and observation --------------------------------------------------------------

    def script(self, *turns: list[Step]) -> None:
        """Queue turn scripts (FIFO, shared by all sessions)."""
        self._scripts.extend(list(t) for t in turns)

    def user_messages(self, session_id: str | None = None) -> list[str]:
        """Texts of accepted ``user.message`` events, in order."""
        return [
            _message_text(echo["content"])
            for sid, type_, echo in self._accepted
            if type_ == "user.message" and session_id in (None, sid)
        ]

    def interrupts(self, session_id: str | None = None) -> int:
        """Number of accepted ``user.interrupt`` events."""
        return sum(
            1 for sid, type_, _ in self._accepted if type_ == "user.interrupt" and session_id in (None, sid)
        )

    def open_streams(self, session_id: str | None = None) -> int:
        """Currently connected SSE clients."""
        return sum(1 for s in self._subscribers if session_id in (None, s.session_id))

    def history(self, session_id: str) -> list[dict[str, Any]]:
        """Buffered events of a session (same as ``sessions[id].events``)."""
        return self.sessions[session_id].events

    # -- fault injection ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_suffix: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        error_type: str | None = None,
        message: str = "injected failure",
        execute: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with an error (path matched by ``endswith``).

        With ``execute=True`` the request is still carried out (an ambiguous write: the client sees the error
        but the effect happened, and an idempotent retry replays the real answer).
        """
        etype = error_type or _DEFAULT_ERROR_TYPES.get(status, "api_error")
        self._faults.append(
            _Fault(method.upper(), path_suffix, status, times, retry_after, etype, message, execute)
        )

    def clear_faults(self) -> None:
        """Forget every failure injected with ``fail_next`` that has not fired yet."""
        self._faults.clear()

    def drop_streams_after(self, frames: int) -> None:
        """Open streams (or, if none is open, the next one) close abruptly after ``frames`` more frames."""
        if self._subscribers:
            for sub in self._subscribers:
                sub.remaining = frames
            self._wake_all()
        else:
            self._drop_armed = frames

    def pause_streams(self, seconds: float) -> None:
        """Send nothing on any stream (no heartbeats either) for ``seconds``; turns keep running."""
        self._paused_until = asyncio.get_running_loop().time() + seconds

    def terminate(self, session_id: str) -> None:
        """End the session: ``session.error`` (terminal) + ``session.status_terminated``."""
        session = self.sessions[session_id]
        self._cancel_task(session)
        session.append(
            "session.error",
            error={
                "type": "unknown_error",
                "message": "session terminated",
                "retry_status": {"type": "terminal"},
            },
        )
        self._close_span(session, credits=0.0)
        session.status = "terminated"
        session.pending.clear()
        session.append("session.status_terminated")

    def delete(self, session_id: str) -> None:
        """Delete the session: 404 from now on; open streams receive ``session.deleted`` and end."""
        session = self.sessions[session_id]
        self._cancel_task(session)
        session.deleted = True
        session.append("session.deleted")

    # -- HTTP plumbing --------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request[_REQUEST_ID_KEY] = request.headers.get("x-request-id") or f"req_{uuid.uuid4().hex}"
        body = await request.read()
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query={k: request.query.getall(k) for k in request.query},
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
        )
        self.requests.append(record)
        request[_REQUEST_KEY] = record
        try:
            response = await self._dispatch(request, handler, body, parsed)
        except _ApiError as err:
            response = self._error(request, err)
        if record.status is None:
            record.status = response.status
        return response

    async def _dispatch(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        body: bytes,
        parsed: Any,
    ) -> web.StreamResponse:
        fault = self._take_fault(request)
        if fault is not None and not fault.execute:
            raise self._fault_error(fault)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise _ApiError(401, "authentication_error", "Invalid API key or token.")
        if body and parsed is None:
            raise _ApiError(400, "invalid_request_error", "Request body is not valid JSON.")
        key = request.headers.get("Idempotency-Key") or request.headers.get("X-Idempotency-Key")
        if key and request.method in ("POST", "PUT", "DELETE"):
            response = await self._idempotent(request, handler, key, parsed)
        else:
            response = await self._call(request, handler)
        if fault is not None:
            raise self._fault_error(fault)
        return response

    async def _call(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            type_ = _DEFAULT_ERROR_TYPES.get(exc.status, "api_error")
            raise _ApiError(exc.status, type_, exc.reason) from exc

    async def _idempotent(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        key: str,
        parsed: Any,
    ) -> web.StreamResponse:
        slot = (request.method, request.path, key)
        fingerprint = json.dumps(parsed, sort_keys=True)
        if slot in self._idempotency:
            stored_fp, status, stored_body = self._idempotency[slot]
            if stored_fp != fingerprint:
                raise _ApiError(
                    409, "conflict_error", "Idempotency key reused with a different request body."
                )
            replay = web.Response(status=status, body=stored_body, content_type="application/json")
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        response = await self._call(request, handler)
        if 200 <= response.status < 300 and isinstance(response, web.Response) and response.body is not None:
            assert isinstance(response.body, bytes)
            self._idempotency[slot] = (fingerprint, response.status, response.body)
        return response

    def _take_fault(self, request: web.Request) -> _Fault | None:
        for fault in self._faults:
            if fault.method == request.method and request.path.endswith(fault.path_suffix):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_error(fault: _Fault) -> _ApiError:
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        return _ApiError(fault.status, fault.error_type, fault.message, headers)

    @staticmethod
    def _error(request: web.Request, err: _ApiError) -> web.Response:
        body = {
            "type": "error",
            "request_id": request.get(_REQUEST_ID_KEY),
            "error": {"type": err.type, "message": err.message},
        }
        return web.json_response(body, status=err.status, headers=err.headers)

    @staticmethod
    async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["x-request-id"] = request.get(_REQUEST_ID_KEY) or f"req_{uuid.uuid4().hex}"

    def _new_event_id(self) -> str:
        self._event_seq += 1
        return f"evt_{self._event_seq:032x}"

    def _session(self, request: web.Request) -> FakeSession:
        session = self.sessions.get(request.match_info["sid"])
        if session is None or session.deleted:
            raise _ApiError(404, "not_found_error", f"Session {request.match_info['sid']} not found.")
        return session

    @staticmethod
    def _body(request: web.Request) -> dict[str, Any]:
        parsed = request[_REQUEST_KEY].json
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            raise _ApiError(400, "invalid_request_error", "Request body must be a JSON object.")
        return parsed

    # -- sessions -------------------------------------------------------------------------------

    async def _create_session(self, request: web.Request) -> web.Response:
        body = self._body(request)
        agent = body.get("agent")
        if isinstance(agent, str) and agent:
            snapshot: dict[str, Any] = {"id": agent, "type": "agent", "version": 1}
        elif (
            isinstance(agent, dict)
            and agent.get("type") in ("agent", "agent_with_overrides")
            and agent.get("id")
        ):
            snapshot = {"id": agent["id"], "type": "agent", "version": agent.get("version", 1)}
        else:
            raise _ApiError(400, "invalid_request_error", "agent is required (string or object with type).")
        snapshot.update(name="fake-agent", description="", model={"id": "ultimate"}, system="", tools=[])
        env = body.get("environment_id")
        if not isinstance(env, str) or not env:
            raise _ApiError(400, "invalid_request_error", "environment_id is required.")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or len(metadata) > 16:
            raise _ApiError(400, "invalid_request_error", "metadata must be a map of at most 16 strings.")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise _ApiError(400, "invalid_request_error", "metadata keys and values must be strings.")
        self._session_seq += 1
        sid = f"sess_{self._session_seq:08x}{uuid.uuid4().hex[:24]}"
        session = FakeSession(
            id=sid,
            agent=snapshot,
            environment_id=env,
            title=body.get("title") or "",
            metadata=dict(metadata),
            new_id=self._new_event_id,
        )
        self.sessions[sid] = session
        return web.json_response(session.to_json(), status=201)

    async def _get_session(self, request: web.Request) -> web.Response:
        return web.json_response(self._session(request).to_json())

    async def _list_models(self, request: web.Request) -> web.Response:
        model = {"id": "ultimate", "type": "model", "display_name": "Ultimate", "is_enabled": True}
        return web.json_response({"data": [model], "has_more": False})

    async def _archive_session(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if session.archived_at is None:
            session.archived_at = _now()
        return web.json_response(session.to_json())

    async def _cancel_session(self, request: web.Request) -> web.Response:
        session = self._session(request)
        busy = session.status == "running" or bool(session.pending)
        if busy:
            self._stop_turn(session)
        body = {"id": session.id, "type": "session", "status": "canceling"}
        return web.json_response(body, status=202 if busy else 200)

    # -- events ---------------------------------------------------------------------------------

    async def _send_events(self, request: web.Request) -> web.Response:
        session = self._session(request)
        body = self._body(request)
        events = body.get("events")
        if not isinstance(events, list) or not events:
            raise _ApiError(400, "invalid_request_error", "events must be a non-empty array.")
        self._validate_events(session, events)
        echoes = [self._accept_event(session, event) for event in events]
        return web.json_response({"data": echoes}, status=self.send_status)

    def _validate_events(self, session: FakeSession, events: list[Any]) -> None:
        """Reject the whole request before anything is accepted."""
        if session.status == "terminated":
            raise _ApiError(409, "conflict_error", "Session is terminated and accepts no new events.")
        if session.archived_at is not None:
            raise _ApiError(409, "conflict_error", "Session is archived and no longer accepts new messages.")
        running = session.status == "running"
        pending = set(session.pending)
        for event in events:
            if not isinstance(event, dict) or event.get("type") not in _USER_EVENT_TYPES:
                raise _ApiError(400, "invalid_request_error", f"Unsupported event: {event!r:.80}")
            type_ = event["type"]
            if type_ == "user.message":
                content = event.get("content")
                if not isinstance(content, list) or not content:
                    raise _ApiError(
                        400,
                        "invalid_request_error",
                        "user.message content must be a non-empty array of blocks.",
                    )
                if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in content):
                    raise _ApiError(400, "invalid_request_error", "Every content block needs a type.")
                if running:
                    raise _ApiError(
                        409, "conflict_error", "The session is still processing the previous turn."
                    )
                running, pending = True, set()
            elif type_ == "user.interrupt":
                running, pending = False, set()
            elif type_ == "user.tool_confirmation":
                use_id = event.get("tool_use_id")
                if use_id not in pending or session.pending[use_id].kind == "custom":
                    raise _ApiError(400, "invalid_request_error", f"No pending tool confirmation {use_id}.")
                if event.get("result") not in ("allow", "deny"):
                    raise _ApiError(400, "invalid_request_error", "result must be 'allow' or 'deny'.")
                pending.discard(use_id)
            elif type_ == "user.custom_tool_result":
                use_id = event.get("custom_tool_use_id") or event.get("tool_use_id")
                if use_id not in pending or session.pending[use_id].kind != "custom":
                    raise _ApiError(400, "invalid_request_error", f"No pending custom tool use {use_id}.")
                pending.discard(use_id)

    def _accept_event(self, session: FakeSession, event: dict[str, Any]) -> dict[str, Any]:
        """Record ``event`` in the log and start/stop turns; returns the echo."""
        type_ = event["type"]
        fields = {k: v for k, v in event.items() if k not in ("type", "id", "processed_at")}
        if type_ == "user.message":
            session.pending.clear()
            session.status = "running"
            session.append("session.status_running")
            echo = session.append(type_, **fields)
            steps: list[Step] = (
                self._scripts.popleft()
                if self._scripts
                else [Text(f"You said: {_message_text(fields['content'])}")]
            )
            session.turn = asyncio.create_task(self._run_turn(session, steps))
        elif type_ == "user.interrupt":
            echo = session.append(type_, **fields)
            if session.status == "running" or session.pending:
                self._stop_turn(session)
        elif type_ in ("user.tool_confirmation", "user.custom_tool_result"):
            echo = session.append(type_, **fields)
            use_id = str(
                event.get("tool_use_id")
                if type_ == "user.tool_confirmation"
                else (event.get("custom_tool_use_id") or event.get("tool_use_id"))
            )
            session.pending[use_id].decision = dict(event)
            if all(p.decision is not None for p in session.pending.values()):
                resolved, session.pending = session.pending, {}
                session.status = "running"
                session.append("session.status_running")
                next_steps = self._scripts.popleft() if self._scripts else []
                session.turn = asyncio.create_task(self._run_turn(session, next_steps, resolved))
            else:
                waiting = [i for i, p in session.pending.items() if p.decision is None]
                session.append(
                    "session.status_idle", stop_reason={"type": "requires_action", "event_ids": waiting}
                )
        else:
            echo = session.append(type_, **fields)
        self._accepted.append((session.id, type_, echo))
        return echo

    async def _list_events(self, request: web.Request) -> web.Response:
        session = self._session(request)
        q = request.query
        events = list(session.events)
        types = q.getall("types[]", [])
        if types:
            events = [e for e in events if e["type"] in types]
        if q.get("order", "asc") == "desc":
            events.reverse()
        return web.json_response(self._paginate(events, q))

    def _paginate(self, items: list[dict[str, Any]], q: Any) -> dict[str, Any]:
        """``limit`` + one of ``page`` / ``after_id`` / ``before_id`` over ``items`` (already ordered)."""
        try:
            limit = int(q.get("limit", 20))
        except ValueError as exc:
            raise _ApiError(400, "invalid_request_error", "limit must be an integer.") from exc
        if not 1 <= limit <= 100:
            raise _ApiError(400, "invalid_request_error", "limit must be between 1 and 100.")
        cursors = [c for c in ("page", "after_id", "before_id") if q.get(c)]
        if len(cursors) > 1:
            raise _ApiError(400, "invalid_request_error", "Send at most one of page, after_id, before_id.")
        ids = [item["id"] for item in items]
        start, end = 0, len(items)
        if cursors:
            name = cursors[0]
            cursor = _decode_cursor(q["page"]) if name == "page" else q[name]
            if cursor not in ids:
                raise _ApiError(404, "not_found_error", f"Cursor {cursor} not found.")
            if name == "before_id":
                end = ids.index(cursor)
                start = max(0, end - limit)
            else:
                start = ids.index(cursor) + 1
        data = items[start : min(end, start + limit)]
        has_more = start + len(data) < end
        return {
            "data": data,
            "next_page": _encode_cursor(data[-1]["id"]) if has_more and data else None,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }

    # -- the SSE stream -------------------------------------------------------------------------

    async def _stream_events(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        wanted = set(request.query.getall("event_deltas[]", []) + request.query.getall("event_deltas", []))
        last_id = request.headers.get("Last-Event-ID") or None
        self.stream_connects.append(
            StreamConnect(session.id, last_id, "agent.message" in wanted, tuple(sorted(wanted)))
        )
        start = session.resume_point(last_id) if last_id else None
        if start is None:
            if last_id and self.unknown_cursor_status is not None:
                status = self.unknown_cursor_status
                raise _ApiError(
                    status, _DEFAULT_ERROR_TYPES.get(status, "api_error"), f"Unknown event {last_id}."
                )
            start = len(session.log)
        replay_end = len(session.log)
        open_at_connect = set(session.open_previews)

        def visible(index: int, frame: _Frame) -> bool:
            if frame.preview_of is None:
                return True
            if frame.preview_of not in wanted:
                return False
            if index < replay_end:  # replay: only still-open previews, minus the one the cursor is inside
                return frame.sse_id in open_at_connect and frame.sse_id != last_id
            return True

        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        request[_REQUEST_KEY].status = 200
        sub = _Subscriber(session.id, self._drop_armed)
        self._drop_armed = None
        self._subscribers.add(sub)
        pos = start
        try:
            while not self._closing:
                if sub.remaining == 0:
                    self._abort(request)
                    return response
                await self._wait_unpaused()
                changed = session._changed
                while pos < len(session.log) and not self._closing and sub.remaining != 0:
                    index, frame = pos, session.log[pos]
                    pos += 1
                    if not visible(index, frame):
                        continue
                    await response.write(frame.encode())
                    if sub.remaining is not None:
                        sub.remaining -= 1
                    if frame.type in TERMINAL_TYPES:
                        await response.write_eof()
                        return response
                    await self._wait_unpaused()
                if sub.remaining == 0 or self._closing:
                    continue
                if session.closed:
                    await response.write_eof()
                    return response
                try:
                    await asyncio.wait_for(changed.wait(), timeout=self.heartbeat_interval)
                except TimeoutError:
                    if self._paused():
                        continue
                    await response.write(b": heartbeat\n\n")
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        finally:
            self._subscribers.discard(sub)
        return response

    @staticmethod
    def _abort(request: web.Request) -> None:
        """Close the connection without finishing the chunked body (an abrupt drop)."""
        if request.transport is not None:
            request.transport.close()

    def _paused(self) -> bool:
        return asyncio.get_running_loop().time() < self._paused_until

    async def _wait_unpaused(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing and loop.time() < self._paused_until:
            await asyncio.sleep(min(0.05, self._paused_until - loop.time()))

    def _wake_all(self) -> None:
        for session in self.sessions.values():
            session.notify()

    # -- turns ----------------------------------------------------------------------------------

    async def _pace(self, delay: float | None = None) -> None:
        await asyncio.sleep(self.step_delay if delay is None else delay)

    async def _run_turn(
        self, session: FakeSession, steps: list[Step], resolved: dict[str, _Pending] | None = None
    ) -> None:
        """Play one turn (or the continuation after ``requires_action``) and end it with ``status_idle``."""
        for use_id, pending in (resolved or {}).items():
            if pending.kind == "custom" or pending.decision is None:
                continue
            await self._pace()
            denied = pending.decision.get("result") == "deny"
            text = (pending.decision.get("deny_message") or "denied") if denied else pending.result
            key = "mcp_tool_use_id" if pending.kind == "mcp" else "tool_use_id"
            session.append(
                "agent.mcp_tool_result" if pending.kind == "mcp" else "agent.tool_result",
                **{key: use_id},
                content=[{"type": "text", "text": text}],
                is_error=denied or pending.is_error,
            )
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
                        session.pending.setdefault(use_id, _Pending("custom"))
                    stop_reason["event_ids"] = ids
                explicit_end = True
                break
            if isinstance(step, Error):
                await self._pace()
                session.append(
                    "session.error",
                    error={
                        "type": step.type,
                        "message": step.message,
                        "retry_status": {"type": step.retry_status},
                    },
                )
                if step.retry_status == "exhausted":
                    stop_reason = {"type": "retries_exhausted"}
                elif step.retry_status == "terminal":
                    self._close_span(session)
                    session.status = "terminated"
                    session.turn = None
                    session.append("session.status_terminated")
                    return
                continue
            await self._play(session, step)
        if not explicit_end and session.pending:
            stop_reason = {"type": "requires_action", "event_ids": list(session.pending)}
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
            for chunk in _split(step.text, step.chunks):
                await self._pace(step.delay)
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
            kind = "mcp" if step.mcp_server else "tool"
            if step.permission == "ask":
                session.pending[use["id"]] = _Pending(kind, step.result, step.is_error)
                return
            await self._pace(step.delay)
            key = "mcp_tool_use_id" if step.mcp_server else "tool_use_id"
            session.append(
                "agent.mcp_tool_result" if step.mcp_server else "agent.tool_result",
                **{key: use["id"]},
                content=[{"type": "text", "text": step.result}],
                is_error=step.is_error,
            )
        elif isinstance(step, CustomTool):
            await self._pace()
            use = session.append("agent.custom_tool_use", name=step.name, input=step.input)
            session.pending[use["id"]] = _Pending("custom")
        elif isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, Raw):
            await self._pace()
            fields = {k: v for k, v in step.event.items() if k != "type"}
            session.append(step.event["type"], **fields)
        elif isinstance(step, Hold):
            await asyncio.Event().wait()

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

    def _cancel_task(self, session: FakeSession) -> None:
        if session.turn is not None and not session.turn.done():
            session.turn.cancel()
        session.turn = None

    def _stop_turn(self, session: FakeSession) -> None:
        """Interrupt/cancel: stop the turn task, close the span, go idle with the interrupt stop reason."""
        self._cancel_task(session)
        self._close_span(session)
        session.pending.clear()
        session.status = "idle"
        session.append("session.status_idle", stop_reason={"type": self.interrupt_stop_reason})
