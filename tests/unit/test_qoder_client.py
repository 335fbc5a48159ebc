"""QoderClient: requests and errors over httpx.MockTransport; the SSE stream against a local aiohttp server
(real sockets, so dropped connections and idle read timeouts behave as they do in production). Waits
between retries and reconnects run on virtual time: they are recorded, not slept."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.qoder import (
    AgentMessage,
    AuthenticationError,
    ConflictError,
    MessageDelta,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QoderClient,
    QoderEvent,
    RateLimitedError,
    ServerError,
    Terminated,
)

TOKEN = "pt-secret-token"
BASE = "https://qoder.test/api/v1/cloud"
FIXTURES = Path("/work/shared/qoder-fixtures")

Handler = Callable[[httpx.Request], httpx.Response]


class VirtualTime:
    """The client's clock, sleep and jitter: sleeping records the wait and moves ``now`` at once; every
    jitter draw returns ``factor`` of the way from its low to its high end (1.0: no jitter taken off)."""

    def __init__(self, factor: float = 1.0) -> None:
        self.now = 0.0
        self.factor = factor
        self.slept: list[float] = []
        self.draws: list[tuple[float, float]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def uniform(self, low: float, high: float) -> float:
        self.draws.append((low, high))
        return low + (high - low) * self.factor

    def options(self) -> dict[str, Any]:
        return {"clock": self.clock, "sleep": self.sleep, "uniform": self.uniform}


def client_for(
    handler: Handler, time: VirtualTime | None = None, **kwargs: Any
) -> tuple[QoderClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    options = {**(time or VirtualTime()).options(), **kwargs}
    return QoderClient(BASE, TOKEN, http=http, **options), seen


def session_json(**overrides: Any) -> dict[str, Any]:
    return {"id": "sess_1", "type": "session", "status": "idle", "title": "t", "metadata": {"k": "v"},
            "usage": {"total_credits": 4.63}, "archived_at": None, **overrides}  # fmt: skip


def error_response(status: int, error_type: str, message: str, **kwargs: Any) -> httpx.Response:
    body = {"type": "error", "request_id": "req_1", "error": {"type": error_type, "message": message}}
    return httpx.Response(status, json=body, **kwargs)


# --- requests -----------------------------------------------------------------------------------------


async def test_create_session_sends_bearer_and_a_stable_idempotency_uuid() -> None:
    client, seen = client_for(lambda r: httpx.Response(201, json=session_json(status="running")))
    args: dict[str, Any] = {
        "agent": "agent_1",
        "environment_id": "env_1",
        "title": "T",
        "metadata": {"a": "b"},
    }
    session = await client.create_session(**args, idempotency_key="slack-msg-C1-1700.1")
    await client.create_session(**args, idempotency_key="slack-msg-C1-1700.1")
    await client.create_session(**args, idempotency_key="slack-msg-C1-1700.2")

    assert session.id == "sess_1" and session.status == "running" and session.credits == 4.63
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in seen)
    keys = [r.headers["Idempotency-Key"] for r in seen]
    assert uuid.UUID(keys[0]) and keys[0] == keys[1] != keys[2]
    assert seen[0].method == "POST" and str(seen[0].url) == f"{BASE}/sessions"
    assert json.loads(seen[0].content) == {**args, "agent": "agent_1"}


@pytest.mark.parametrize(
    ("wire", "status", "archived"),
    [
        ({"status": "processing"}, "running", False),
        ({"status": "rescheduling"}, "running", False),
        ({"status": "canceling"}, "canceling", False),
        ({"status": "cancelled"}, "terminated", False),
        ({"status": "idle", "archived_at": "2026-09-14T08:01:02Z"}, "idle", True),
        ({"status": "brand_new"}, "running", False),
    ],
)
async def test_get_session_normalises_status(wire: dict[str, Any], status: str, archived: bool) -> None:
    client, seen = client_for(lambda r: httpx.Response(200, json=session_json(**wire)))
    session = await client.get_session("sess_1")
    assert (session.status, session.archived) == (status, archived)
    assert seen[0].method == "GET" and seen[0].url.path == "/api/v1/cloud/sessions/sess_1"


@pytest.mark.parametrize("status", [200, 202])
async def test_send_message_wraps_an_array_and_returns_the_echo_id(status: int) -> None:
    echo = {"data": [{"id": "evt_echo", "type": "user.message"}]}
    client, seen = client_for(lambda r: httpx.Response(status, json=echo))
    assert await client.send_message("sess_1", "hi", idempotency_key="k") == "evt_echo"
    assert json.loads(seen[0].content) == {
        "events": [{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]
    }
    assert uuid.UUID(seen[0].headers["Idempotency-Key"])
    assert seen[0].url.path == "/api/v1/cloud/sessions/sess_1/events"


async def test_send_message_without_echo_returns_empty() -> None:
    client, _ = client_for(lambda r: httpx.Response(200, json={"data": []}))
    assert await client.send_message("sess_1", "hi", idempotency_key="k") == ""


async def test_custom_tool_result_answers_the_tool_use_with_text_blocks_and_a_stable_key() -> None:
    echo = {"data": [{"id": "evt_r", "type": "user.custom_tool_result"}]}
    client, seen = client_for(lambda r: httpx.Response(200, json=echo))
    for _ in range(2):
        echo_id = await client.custom_tool_result(
            "sess_1", "evt_7", text="Not here.", is_error=True, idempotency_key="slack-custom-tool:evt_7"
        )
        assert echo_id == "evt_r"
    assert json.loads(seen[0].content) == {
        "events": [
            {
                "type": "user.custom_tool_result",
                "custom_tool_use_id": "evt_7",
                "content": [{"type": "text", "text": "Not here."}],
                "is_error": True,
            }
        ]
    }
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


async def test_the_same_key_on_different_operations_gives_different_uuids() -> None:
    client, seen = client_for(lambda r: httpx.Response(200, json=session_json()))
    await client.create_session(agent="a", environment_id="e", title="", metadata={}, idempotency_key="k")
    await client.send_message("sess_1", "hi", idempotency_key="k")
    assert seen[0].headers["Idempotency-Key"] != seen[1].headers["Idempotency-Key"]


async def test_interrupt_falls_back_to_cancel_on_a_4xx() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return error_response(400, "invalid_request_error", "unknown event type")
        return httpx.Response(202, json={"id": "sess_1", "type": "session", "status": "canceling"})

    client, seen = client_for(handler)
    await client.interrupt("sess_1", idempotency_key="stop-1")
    assert json.loads(seen[0].content) == {"events": [{"type": "user.interrupt"}]}
    assert [r.url.path.rsplit("/", 1)[-1] for r in seen] == ["events", "cancel"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError)],
)
async def test_interrupt_does_not_fall_back_on_401_403_404(status: int, error: type[Exception]) -> None:
    client, seen = client_for(lambda r: error_response(status, "x", "no"))
    with pytest.raises(error):
        await client.interrupt("sess_1", idempotency_key="stop-1")
    assert len(seen) == 1


async def test_list_events_follows_next_page_then_last_id() -> None:
    pages = [
        {
            "data": [{"id": "e1", "type": "agent.message", "content": "a"}],
            "next_page": "P2",
            "has_more": True,
        },
        {
            "data": [{"id": "e2", "type": "agent.thinking"}],
            "next_page": None,
            "has_more": True,
            "last_id": "e2",
        },
        {"data": [{"id": "e3", "type": "session.status_idle"}], "has_more": False, "last_id": "e3"},
    ]
    client, seen = client_for(lambda r: httpx.Response(200, json=pages[len(seen) - 1]))
    events = [e async for e in client.list_events("sess_1", after_id="e0", limit=50)]
    assert [e.id for e in events] == ["e1", "e2", "e3"]
    assert [dict(r.url.params) for r in seen] == [
        {"limit": "50", "after_id": "e0"},
        {"limit": "50", "page": "P2"},
        {"limit": "50", "after_id": "e2"},
    ]


# --- errors and retries -------------------------------------------------------------------------------


async def test_401_is_an_authentication_error_with_message_and_request_id() -> None:
    client, seen = client_for(
        lambda r: error_response(401, "authentication_error", "Invalid API key or token.")
    )
    with pytest.raises(AuthenticationError) as caught:
        await client.get_session("sess_1")
    assert caught.value.message == "Invalid API key or token."
    assert caught.value.request_id == "req_1" and caught.value.status == 401
    assert caught.value.error_type == "authentication_error"
    assert len(seen) == 1


async def test_403_is_a_permission_error_not_an_authentication_error() -> None:
    client, seen = client_for(lambda r: error_response(403, "permission_error", "nope"))
    with pytest.raises(PermissionDeniedError) as caught:
        await client.get_session("sess_1")
    assert not isinstance(caught.value, AuthenticationError)
    assert caught.value.status == 403 and len(seen) == 1


async def test_404_with_a_plain_text_body_and_request_id_header() -> None:
    client, _ = client_for(
        lambda r: httpx.Response(404, text="404 page not found", headers={"x-request-id": "h1"})
    )
    with pytest.raises(NotFoundError) as caught:
        await client.get_session("sess_1")
    assert caught.value.message == "404 page not found" and caught.value.request_id == "h1"


@pytest.mark.parametrize(
    ("body", "busy", "archived"),
    [
        ({}, True, False),
        ({"type": "error", "error": {"type": "conflict_error", "message": "Session is busy"}}, True, False),
        ({"error": {"type": "conflict_error", "message": "Idempotency key reused with a different request body."}},
         False, False),
        ({"error": {"type": "conflict_error", "code": "session_archived", "message": "archived"}}, False, True),
    ],
)  # fmt: skip
async def test_409_on_send_message(body: dict[str, Any], busy: bool, archived: bool) -> None:
    client, seen = client_for(lambda r: httpx.Response(409, json=body))
    with pytest.raises(ConflictError) as caught:
        await client.send_message("sess_1", "hi", idempotency_key="k")
    assert (caught.value.busy, caught.value.archived) == (busy, archived)
    assert len(seen) == 1  # 409 is never retried


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After-Ms": "1500"}, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
        ({}, None),
    ],
)
async def test_429_carries_retry_after(headers: dict[str, str], retry_after: float | None) -> None:
    client, _ = client_for(
        lambda r: error_response(429, "rate_limit_error", "slow", headers=headers), max_retries=0
    )
    with pytest.raises(RateLimitedError) as caught:
        await client.get_session("sess_1")
    assert caught.value.retry_after == retry_after


@pytest.mark.parametrize(("retry_after", "waited"), [("3", 3.0), ("600", 60.0)])
async def test_retries_honour_retry_after_up_to_a_minute(retry_after: str, waited: float) -> None:
    time = VirtualTime()
    answers = [error_response(429, "rate_limit_error", "slow", headers={"Retry-After": retry_after}),
               httpx.Response(200, json=session_json())]  # fmt: skip
    client, seen = client_for(lambda r: answers[len(seen) - 1], time)
    await client.get_session("sess_1")
    assert time.slept == [waited] and len(seen) == 2
    assert time.draws == [], "a server-given wait is not jittered"


async def test_5xx_is_retried_then_succeeds() -> None:
    time = VirtualTime()
    answers = [httpx.Response(500), httpx.Response(503), httpx.Response(200, json=session_json())]
    client, seen = client_for(lambda r: answers[len(seen) - 1], time, backoff_base=0.5)
    assert (await client.get_session("sess_1")).id == "sess_1"
    assert len(seen) == 3 and time.slept == [0.5, 1.0]


@pytest.mark.parametrize(("factor", "waits"), [(1.0, [1.0, 2.0, 4.0, 4.0]), (0.0, [0.5, 1.0, 2.0, 2.0])])
async def test_backoff_doubles_up_to_the_cap_with_jitter_between_half_and_all(
    factor: float, waits: list[float]
) -> None:
    time = VirtualTime(factor)
    client, seen = client_for(
        lambda r: httpx.Response(503), time, max_retries=4, backoff_base=1.0, backoff_max=4.0
    )
    with pytest.raises(ServerError):
        await client.get_session("sess_1")
    assert len(seen) == 5 and time.slept == waits
    assert time.draws == [(0.5, 1.0)] * 4


async def test_5xx_gives_a_server_error_after_max_retries(caplog: pytest.LogCaptureFixture) -> None:
    client, seen = client_for(lambda r: error_response(500, "api_error", "internal"), max_retries=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(ServerError) as caught:
        await client.send_message("sess_1", "hi", idempotency_key="k")
    assert len(seen) == 3 and caught.value.message == "internal" and caught.value.request_id == "req_1"
    assert TOKEN not in caplog.text and caplog.text  # retries are logged, the token never is


async def test_a_post_without_idempotency_key_is_not_retried_on_5xx() -> None:
    client, seen = client_for(lambda r: httpx.Response(502))
    with pytest.raises(ServerError):
        await client.cancel("sess_1")
    assert len(seen) == 1


async def test_network_errors_are_retried_then_raised_as_network_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, seen = client_for(refuse, max_retries=1)
    with pytest.raises(NetworkError) as caught:
        await client.get_session("sess_1")
    assert len(seen) == 2 and caught.value.status is None


# --- the stream ---------------------------------------------------------------------------------------


def sse(event_id: str | None, event_type: str, data: dict[str, Any] | str) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data)
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event_type}\ndata: {body}\n\n".encode()


def message(event_id: str, text: str = "x") -> bytes:
    return sse(event_id, "agent.message", {"id": event_id, "type": "agent.message", "content": text})


HANG = b"<hang>"  # in a script: keep the connection open, silently
Script = list[bytes] | Callable[[web.Request], Awaitable[web.StreamResponse]]


def unavailable(retry_after: str | None = None) -> Script:
    """A connection answered 503 (with ``Retry-After`` when given)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        body = {"type": "error", "error": {"type": "api_error", "message": "down"}}
        headers = {"Retry-After": retry_after} if retry_after else {}
        return web.json_response(body, status=503, headers=headers)

    return answer


class FakeStream:
    """One scripted answer per connection; records each connection's request."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.requests: list[web.Request] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        script = self.scripts[min(len(self.requests), len(self.scripts)) - 1]
        if callable(script):
            return await script(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in script:
            if chunk == HANG:
                await asyncio.sleep(3600)
            await response.write(chunk)
        return response  # ends the body: the connection drops without a terminal event


Serve = Callable[..., Awaitable[tuple[QoderClient, FakeStream]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``await serve(scripts, time=None, **client_options)``: a client of a fresh fake stream server."""
    servers: list[TestServer] = []
    clients: list[QoderClient] = []

    async def start(
        scripts: list[Script], time: VirtualTime | None = None, **options: Any
    ) -> tuple[QoderClient, FakeStream]:
        fake = FakeStream(scripts)
        app = web.Application()
        app.router.add_get("/api/v1/cloud/sessions/{sid}/events/stream", fake.handle)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        options = {"idle_timeout": 0.5, **(time or VirtualTime()).options(), **options}
        client = QoderClient(str(server.make_url("/api/v1/cloud")), TOKEN, **options)
        clients.append(client)
        return client, fake

    yield start
    for client in clients:
        await client.aclose()
    for server in servers:
        await server.close()


async def collect(stream: AsyncIterator[QoderEvent], count: int, timeout: float = 5.0) -> list[QoderEvent]:
    events: list[QoderEvent] = []

    async def run() -> None:
        async for event in stream:
            events.append(event)
            if len(events) == count:
                return

    await asyncio.wait_for(run(), timeout)
    return events


async def test_stream_request_headers_and_query(serve: Serve) -> None:
    client, fake = await serve([[message("e1")]])
    await collect(client.stream("sess_1", last_event_id="evt_echo"), 1)
    request = fake.requests[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Last-Event-ID"] == "evt_echo"
    assert request.query.getall("event_deltas[]") == ["agent.message"]

    client, fake = await serve([[message("e1")]])
    await collect(client.stream("sess_1", last_event_id=None, deltas=False), 1)
    assert "Last-Event-ID" not in fake.requests[0].headers and "event_deltas[]" not in fake.requests[0].query


async def test_reconnects_after_a_drop_resumes_from_the_last_id_and_drops_replays(serve: Serve) -> None:
    heartbeat = b": heartbeat\n\n"
    client, fake = await serve([
        [message("e1"), heartbeat, message("e2"), heartbeat],
        [message("e2"), heartbeat, message("e3")],
    ])  # fmt: skip
    events = await collect(client.stream("sess_1", last_event_id=None), 3)
    assert [e.id for e in events] == ["e1", "e2", "e3"]
    # heartbeats are not events and do not move the cursor
    assert fake.requests[1].headers["Last-Event-ID"] == "e2"


async def test_delta_frames_do_not_move_the_cursor_and_are_not_deduplicated(serve: Serve) -> None:
    start = sse("m", "event_start", {"type": "event_start", "event": {"id": "m", "type": "agent.message"}})

    def delta(text: str) -> bytes:
        return sse("m", "event_delta", {"type": "event_delta", "event_id": "m",
                                        "delta": {"type": "content_delta", "index": 0,
                                                  "content": {"type": "text", "text": text}}})  # fmt: skip

    # The reconnect resumes before the preview (§3.4 case 1), so the server replays its start and deltas;
    # resuming from "m" would skip the message itself if it completed meanwhile (case 3).
    client, fake = await serve(
        [[message("e1"), start, delta("a")], [start, delta("a"), delta("b"), message("m", "ab")]]
    )
    events = await collect(client.stream("sess_1", last_event_id=None), 7)
    assert fake.requests[1].headers["Last-Event-ID"] == "e1"
    assert [(type(e).__name__, getattr(e, "text", None)) for e in events[1:]] == [
        ("MessagePreviewStart", None),
        ("MessageDelta", "a"),
        ("MessagePreviewStart", None),
        ("MessageDelta", "a"),
        ("MessageDelta", "b"),
        ("AgentMessage", "ab"),
    ]
    assert isinstance(events[2], MessageDelta) and events[2].cursor == "m" and events[2].resume_point is None


async def test_a_silent_connection_is_dropped_after_the_idle_timeout(serve: Serve) -> None:
    client, fake = await serve([[message("e1"), HANG], [message("e2")]])
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = await collect(client.stream("sess_1", last_event_id=None), 2, timeout=4.0)
    assert [e.id for e in events] == ["e1", "e2"]
    assert loop.time() - started >= 0.5
    assert fake.requests[1].headers["Last-Event-ID"] == "e1"


async def test_retryable_statuses_and_in_band_errors_reconnect(serve: Serve) -> None:
    in_band = sse(None, "error", {"type": "error", "error": {"type": "overloaded_error", "message": "later"}})
    client, fake = await serve([unavailable(), [message("e1"), in_band, message("never")], [message("e2")]])
    events = await collect(client.stream("sess_1", last_event_id=None), 2)
    assert [e.id for e in events] == ["e1", "e2"]
    assert len(fake.requests) == 3 and fake.requests[2].headers["Last-Event-ID"] == "e1"


async def test_repeated_failures_are_reported_then_cleared_by_the_next_event(serve: Serve) -> None:
    client, _ = await serve([unavailable(), unavailable(), unavailable(), [message("e1")]])
    events = await collect(client.stream("sess_1", last_event_id=None), 3)
    assert [type(e).__name__ for e in events] == ["StreamReconnecting", "StreamReconnecting", "AgentMessage"]
    assert [getattr(e, "attempt", None) for e in events[:2]] == [2, 3]
    assert all(e.cursor is None for e in events[:2]), "a reconnect report never moves the cursor"


async def test_reconnects_back_off_doubling_up_to_the_cap_with_jitter(serve: Serve) -> None:
    time = VirtualTime(factor=0.5)
    scripts = [unavailable(), unavailable(), unavailable(), unavailable(), [message("e1")]]
    client, fake = await serve(scripts, time, backoff_base=1.0, backoff_max=4.0)
    await collect(client.stream("sess_1", last_event_id=None), 4)
    assert time.slept == [0.75, 1.5, 3.0, 3.0] and len(fake.requests) == 5
    assert time.draws == [(0.5, 1.0)] * 4


@pytest.mark.parametrize(("retry_after", "waited"), [("7", 7.0), ("3600", 60.0)])
async def test_a_reconnect_waits_as_long_as_the_server_asks_up_to_a_minute(
    serve: Serve, retry_after: str, waited: float
) -> None:
    time = VirtualTime()
    client, _ = await serve([unavailable(retry_after), [message("e1")]], time)
    await collect(client.stream("sess_1", last_event_id=None), 1)
    assert time.slept == [waited] and time.draws == []


@pytest.mark.parametrize(("held", "waits"), [(4.9, [1.0, 2.0, 4.0, 8.0]), (5.0, [1.0, 2.0, 1.0, 2.0])])
async def test_a_connection_that_stayed_up_five_seconds_resets_the_backoff(
    serve: Serve, held: float, waits: list[float]
) -> None:
    time = VirtualTime()
    scripts = [unavailable(), unavailable(), [message("e1")], unavailable(), [message("e2")]]
    client, _ = await serve(scripts, time, backoff_base=1.0, backoff_max=100.0)

    async def follow() -> None:
        async for event in client.stream("sess_1", last_event_id=None):
            if event.id == "e1":
                time.now += held  # the connection stays up this long, then the server drops it
            if event.id == "e2":
                return

    await asyncio.wait_for(follow(), 5.0)
    assert time.slept == waits


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (403, PermissionDeniedError),
                                               (404, NotFoundError), (409, ConflictError)])  # fmt: skip
async def test_non_retryable_statuses_raise(serve: Serve, status: int, error: type[Exception]) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.json_response({"type": "error", "request_id": "r", "error": {"type": "x", "message": "no"}},
                                 status=status)  # fmt: skip

    client, fake = await serve([refuse])
    with pytest.raises(error):
        await collect(client.stream("sess_1", last_event_id=None), 1)
    assert len(fake.requests) == 1


async def test_the_stream_ends_after_termination(serve: Serve) -> None:
    terminated = sse("e2", "session.status_terminated", {"id": "e2", "type": "session.status_terminated"})
    client, fake = await serve([[message("e1"), terminated, message("e3"), HANG]])
    events = [e async for e in client.stream("sess_1", last_event_id=None)]
    assert [type(e) for e in events] == [AgentMessage, Terminated]
    assert len(fake.requests) == 1


async def test_fixture_09_history_replayed_on_reconnect_is_delivered_once(serve: Serve) -> None:
    recording = (FIXTURES / "09-legacy-o-era-replay-and-error.sse").read_bytes()
    frames = [f + b"\n\n" for f in recording.split(b"\n\n") if f.strip()]
    # first connection: the history, then a drop; second: the pre-2026-08-24 full replay, then live
    client, fake = await serve([frames[:5], frames])
    events = [e async for e in client.stream("sess_1", last_event_id=None)]
    ids = [e.id for e in events]
    assert ids == [f"evt_00jjujka0{n}" for n in ("1a", "1b", "1c", "1d", "1e", "1f", "2a", "2b", "2c", "2d")]
    assert isinstance(events[-1], Terminated) and len(fake.requests) == 2
