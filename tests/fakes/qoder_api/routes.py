"""The HTTP routes of the fake other than the stream: the calls the bot makes (``GET /models``, create, get,
archive and cancel a session, send and list events). Archiving is idempotent (a second archive answers the
archived session again) and is not refused while a turn runs; neither is documented for the Managed API."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Literal

from aiohttp import web

from tests.fakes.qoder_api.content import check_content
from tests.fakes.qoder_api.errors import ApiError, conflict, invalid
from tests.fakes.qoder_api.middleware import json_body
from tests.fakes.qoder_api.outcome import begin_outcome, check_define_outcome
from tests.fakes.qoder_api.script import Player
from tests.fakes.qoder_api.session import FakeSession, find_session, message_text, now

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


InitialEvents = Literal["supported", "ignored", "rejected"]
_INITIAL_TYPES = frozenset({"user.message", "user.define_outcome"})
MAX_INITIAL_EVENTS = 50


class Routes:
    """Handlers over ``sessions`` (shared with the server). ``accepted`` lists every accepted user event as
    (session id, type, echo); turns are started and stopped through ``player``.

    ``user.message`` while the session waits in ``requires_action`` is accepted and drops the pending
    actions. Send Events answers ``send_status`` on success. Create Session processes ``initial_events``
    (up to 50 ``user.message`` / ``user.define_outcome``, §S1) in order before it answers, checked like Send
    Events (a bad one fails the create); ``initial_events="ignored"`` drops the field unread and
    ``"rejected"`` answers 400 to it, as servers that do not know it might.
    """

    def __init__(
        self,
        sessions: dict[str, FakeSession],
        player: Player,
        *,
        send_status: int,
        initial_events: InitialEvents = "supported",
    ) -> None:
        self.sessions = sessions
        self.player = player
        self.send_status = send_status
        self.initial_events = initial_events
        self.accepted: list[tuple[str, str, dict[str, Any]]] = []
        self._event_seq = 0
        self._session_seq = 0

    def add_to(self, router: web.UrlDispatcher, base: str) -> None:
        """Register the routes under ``base`` (e.g. ``/api/v1/cloud``)."""
        router.add_get(f"{base}/models", self._list_models)
        router.add_post(f"{base}/sessions", self._create_session)
        router.add_get(f"{base}/sessions/{{sid}}", self._get_session)
        router.add_post(f"{base}/sessions/{{sid}}/archive", self._archive_session)
        router.add_post(f"{base}/sessions/{{sid}}/cancel", self._cancel_session)
        router.add_post(f"{base}/sessions/{{sid}}/events", self._send_events)
        router.add_get(f"{base}/sessions/{{sid}}/events", self._list_events)

    def _session(self, request: web.Request) -> FakeSession:
        return find_session(self.sessions, request.match_info["sid"])

    def _new_event_id(self) -> str:
        self._event_seq += 1
        return f"evt_{self._event_seq:032x}"

    # -- sessions -------------------------------------------------------------------------------

    async def _list_models(self, request: web.Request) -> web.Response:
        model = {"id": "ultimate", "type": "model", "display_name": "Ultimate", "is_enabled": True}
        return web.json_response({"data": [model], "has_more": False})

    async def _create_session(self, request: web.Request) -> web.Response:
        body = json_body(request)
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
            raise invalid("agent is required (string or object with type).")
        snapshot.update(name="fake-agent", description="", model={"id": "ultimate"}, system="", tools=[])
        env = body.get("environment_id")
        if not isinstance(env, str) or not env:
            raise invalid("environment_id is required.")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or len(metadata) > 16:
            raise invalid("metadata must be a map of at most 16 strings.")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise invalid("metadata keys and values must be strings.")
        initial = self._initial_events(body)
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
        validate_events(session, initial)
        self.sessions[sid] = session
        for event in initial:
            self._accept_event(session, event)
        return web.json_response(session.to_json(), status=201)

    def _initial_events(self, body: dict[str, Any]) -> list[Any]:
        if "initial_events" not in body or self.initial_events == "ignored":
            return []
        if self.initial_events == "rejected":
            raise invalid("Unknown field: initial_events.")
        events = body["initial_events"]
        if not isinstance(events, list) or len(events) > MAX_INITIAL_EVENTS:
            raise invalid(f"initial_events must be an array of at most {MAX_INITIAL_EVENTS} events.")
        for event in events:
            if not isinstance(event, dict) or event.get("type") not in _INITIAL_TYPES:
                raise invalid("initial_events may hold only user.message and user.define_outcome events.")
        return events

    async def _get_session(self, request: web.Request) -> web.Response:
        return web.json_response(self._session(request).to_json())

    async def _archive_session(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if session.archived_at is None:
            session.archived_at = now()
        return web.json_response(session.to_json())

    async def _cancel_session(self, request: web.Request) -> web.Response:
        session = self._session(request)
        busy = session.status == "running" or bool(session.pending)
        if busy:
            self.player.stop(session)
        body = {"id": session.id, "type": "session", "status": "canceling"}
        return web.json_response(body, status=202 if busy else 200)

    # -- events ---------------------------------------------------------------------------------

    async def _send_events(self, request: web.Request) -> web.Response:
        session = self._session(request)
        events = json_body(request).get("events")
        if not isinstance(events, list) or not events:
            raise invalid("events must be a non-empty array.")
        validate_events(session, events)
        echoes = [self._accept_event(session, event) for event in events]
        return web.json_response({"data": echoes}, status=self.send_status)

    def _accept_event(self, session: FakeSession, event: dict[str, Any]) -> dict[str, Any]:
        """Record ``event`` in the log and start/stop turns; returns the echo."""
        type_ = event["type"]
        fields = {k: v for k, v in event.items() if k not in ("type", "id", "processed_at")}
        if type_ == "user.message":
            session.pending.clear()
            session.status = "running"
            session.append("session.status_running")
            echo = session.append(type_, **fields)
            self.player.start(session, message_text(fields["content"]))
        elif type_ == "user.define_outcome":
            session.pending.clear()
            session.status = "running"
            session.append("session.status_running")
            outcome = begin_outcome(session, fields)
            echo = session.events[-1]
            self.player.start_outcome(session, outcome)
        elif type_ == "user.interrupt":
            echo = session.append(type_, **fields)
            if session.status == "running" or session.pending:
                self.player.stop(session)
        elif type_ in ("user.tool_confirmation", "user.custom_tool_result"):
            echo = session.append(type_, **fields)
            session.pending[_answered_use(event)].decision = dict(event)
            if all(p.decision is not None for p in session.pending.values()):
                resolved, session.pending = session.pending, {}
                session.status = "running"
                session.append("session.status_running")
                self.player.resume(session, resolved)
            else:
                waiting = [i for i, p in session.pending.items() if p.decision is None]
                session.append(
                    "session.status_idle", stop_reason={"type": "requires_action", "event_ids": waiting}
                )
        else:
            echo = session.append(type_, **fields)
        self.accepted.append((session.id, type_, echo))
        return echo

    async def _list_events(self, request: web.Request) -> web.Response:
        q = request.query
        events = list(self._session(request).events)
        types = q.getall("types[]", [])
        if types:
            events = [e for e in events if e["type"] in types]
        if q.get("order", "asc") == "desc":
            events.reverse()
        return web.json_response(paginate(events, q))


def validate_events(session: FakeSession, events: list[Any]) -> None:
    """Reject the whole Send Events request before anything is accepted."""
    if session.status == "terminated":
        raise conflict("Session is terminated and accepts no new events.")
    if session.archived_at is not None:
        raise conflict("Session is archived and no longer accepts new messages.")
    running = session.status == "running"
    pending = set(session.pending)
    for event in events:
        if not isinstance(event, dict) or event.get("type") not in _USER_EVENT_TYPES:
            raise invalid(f"Unsupported event: {event!r:.80}")
        type_ = event["type"]
        if type_ == "user.message":
            content = event.get("content")
            if not isinstance(content, list) or not content:
                raise invalid("user.message content must be a non-empty array of blocks.")
            if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in content):
                raise invalid("Every content block needs a type.")
            check_content(content)
            if running:
                raise conflict("The session is still processing the previous turn.")
            running, pending = True, set()
        elif type_ == "user.define_outcome":
            check_define_outcome(session, event, running=running)
            running, pending = True, set()
        elif type_ == "user.interrupt":
            running, pending = False, set()
        elif type_ == "user.tool_confirmation":
            use_id = event.get("tool_use_id")
            if use_id not in pending or session.pending[use_id].kind == "custom":
                raise invalid(f"No pending tool confirmation {use_id}.")
            if event.get("result") not in ("allow", "deny"):
                raise invalid("result must be 'allow' or 'deny'.")
            pending.discard(use_id)
        elif type_ == "user.custom_tool_result":
            use_id = event.get("custom_tool_use_id") or event.get("tool_use_id")
            if use_id not in pending or session.pending[use_id].kind != "custom":
                raise invalid(f"No pending custom tool use {use_id}.")
            pending.discard(use_id)


def _answered_use(event: dict[str, Any]) -> str:
    """The tool use a ``user.tool_confirmation`` / ``user.custom_tool_result`` answers."""
    if event["type"] == "user.tool_confirmation":
        return str(event.get("tool_use_id"))
    return str(event.get("custom_tool_use_id") or event.get("tool_use_id"))


def paginate(items: list[dict[str, Any]], q: Any) -> dict[str, Any]:
    """``limit`` + one of ``page`` / ``after_id`` / ``before_id`` over ``items`` (already ordered)."""
    try:
        limit = int(q.get("limit", 20))
    except ValueError as exc:
        raise invalid("limit must be an integer.") from exc
    if not 1 <= limit <= 100:
        raise invalid("limit must be between 1 and 100.")
    cursors = [c for c in ("page", "after_id", "before_id") if q.get(c)]
    if len(cursors) > 1:
        raise invalid("Send at most one of page, after_id, before_id.")
    ids = [item["id"] for item in items]
    start, end = 0, len(items)
    if cursors:
        name = cursors[0]
        cursor = _decode_cursor(q["page"]) if name == "page" else q[name]
        if cursor not in ids:
            raise ApiError(404, "not_found_error", f"Cursor {cursor} not found.")
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


def _encode_cursor(after_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after_id}).encode()).decode().rstrip("=")


def _decode_cursor(page: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(page + "=" * (-len(page) % 4))
        after = json.loads(raw)["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid("Invalid page cursor.") from exc
    if not isinstance(after, str):
        raise invalid("Invalid page cursor.")
    return after
