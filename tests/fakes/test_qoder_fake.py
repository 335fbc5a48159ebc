"""Self-tests of the Qoder API fake, driven the way the bot drives the real API (httpx + httpx-sse)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.fakes.qoder_api import CustomTool, End, FakeQoder, Hold, Text, Thinking, Tool

TOKEN = "pt-test"
DELTAS = {"event_deltas[]": "agent.message"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeQoder]:
    server = FakeQoder(token=TOKEN, heartbeat_interval=0.05, step_delay=0.005)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeQoder) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, timeout=5) as c:
        yield c


class Reader:
    """Reads one SSE connection in the background; ``frames`` holds (sse id, event, parsed data)."""

    def __init__(
        self, client: httpx.AsyncClient, sid: str, *, params: Any = None, last_id: str | None = None
    ) -> None:
        self.frames: list[tuple[str, str, dict[str, Any]]] = []
        self.error: BaseException | None = None
        self.ended = asyncio.Event()
        headers = {"Last-Event-ID": last_id} if last_id else {}
        self._task = asyncio.create_task(self._run(client, sid, params, headers))

    async def _run(self, client: httpx.AsyncClient, sid: str, params: Any, headers: dict[str, str]) -> None:
        url = f"/sessions/{sid}/events/stream"
        try:
            async with aconnect_sse(client, "GET", url, params=params, headers=headers) as source:
                async for sse in source.aiter_sse():
                    if sse.data:  # heartbeat comments surface as empty events
                        self.frames.append((sse.id, sse.event, json.loads(sse.data)))
        except httpx.HTTPError as exc:
            self.error = exc
        finally:
            self.ended.set()

    @property
    def types(self) -> list[str]:
        return [event for _, event, _ in self.frames]

    async def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self.types):
                if self.ended.is_set():
                    raise AssertionError(f"stream ended early: {self.types} ({self.error!r})")
                await asyncio.sleep(0.005)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def new_session(client: httpx.AsyncClient) -> str:
    response = await client.post("/sessions", json={"agent": "agent_1", "environment_id": "env_1"})
    assert response.status_code == 201
    return str(response.json()["id"])


async def send_text(client: httpx.AsyncClient, sid: str, text: str, **kwargs: Any) -> httpx.Response:
    body = {"events": [{"type": "user.message", "content": [{"type": "text", "text": text}]}]}
    return await client.post(f"/sessions/{sid}/events", json=body, **kwargs)


async def test_streamed_turn_shows_deltas_then_final_message(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    fake.script([End()])  # an earlier turn: a tail-only connect must not replay it
    await send_text(client, sid, "earlier")
    await until(lambda: fake.sessions[sid].status == "idle")
    with_deltas = Reader(client, sid, params=DELTAS)
    plain = Reader(client, sid)
    await until(lambda: fake.open_streams(sid) == 2)

    sent = await send_text(client, sid, "hi there")
    assert sent.status_code == 200
    echo_id = sent.json()["data"][0]["id"]
    await with_deltas.wait_for(lambda t: "session.status_idle" in t)
    await plain.wait_for(lambda t: "session.status_idle" in t)

    assert with_deltas.types == [
        "session.status_running",
        "user.message",
        "span.model_request_start",
        "event_start",
        "event_delta",
        "event_delta",
        "event_delta",
        "agent.message",
        "span.model_request_end",
        "session.status_idle",
    ]
    message_id = with_deltas.frames[3][0]
    previews = [f for f in with_deltas.frames if f[1] in ("event_start", "event_delta")]
    assert {f[0] for f in previews} == {message_id}
    assert "".join(f[2]["delta"]["content"]["text"] for f in previews[1:]) == "You said: hi there"
    final = with_deltas.frames[7]
    assert final[0] == final[2]["id"] == message_id
    assert final[2]["content"] == [{"type": "text", "text": "You said: hi there"}]
    assert with_deltas.frames[1][0] == echo_id
    assert with_deltas.frames[-1][2]["stop_reason"] == {"type": "end_turn"}

    # no previews without event_deltas; buffered frames agree with history
    assert "event_start" not in plain.types and "event_delta" not in plain.types
    listed = (await client.get(f"/sessions/{sid}/events", params={"after_id": echo_id, "limit": 100})).json()
    assert [e["id"] for e in listed["data"]] == [f[0] for f in plain.frames[2:]]
    assert listed["has_more"] is False and listed["next_page"] is None
    all_ids = [e["id"] for e in fake.sessions[sid].events]
    assert all_ids == sorted(all_ids)
    assert fake.user_messages(sid) == ["earlier", "hi there"]
    await with_deltas.close()
    await plain.close()
    await until(lambda: fake.open_streams() == 0)


async def test_user_message_while_running_is_409(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    fake.script([Hold()])
    sid = await new_session(client)
    assert (await send_text(client, sid, "first")).status_code == 200
    busy = await send_text(client, sid, "second")
    assert busy.status_code == 409
    body = busy.json()
    assert body["type"] == "error" and body["error"]["type"] == "conflict_error"
    assert body["request_id"] == busy.headers["x-request-id"]
    assert (await client.get(f"/sessions/{sid}")).json()["status"] == "running"
    assert fake.user_messages() == ["first"]


async def test_interrupt_cancels_the_turn_and_session_is_reusable(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    fake.script([Text("partial answer", chunks=2), Hold()])
    sid = await new_session(client)
    reader = Reader(client, sid, params=DELTAS)
    await until(lambda: fake.open_streams(sid) == 1)
    await send_text(client, sid, "go")
    await reader.wait_for(lambda t: "agent.message" in t)

    interrupt = await client.post(f"/sessions/{sid}/events", json={"events": [{"type": "user.interrupt"}]})
    assert interrupt.status_code == 200
    await reader.wait_for(lambda t: "session.status_idle" in t)
    assert reader.types[-3:] == ["user.interrupt", "span.model_request_end", "session.status_idle"]
    assert reader.frames[-1][2]["stop_reason"] == {"type": "cancelled"}
    assert fake.interrupts(sid) == 1
    assert (await client.get(f"/sessions/{sid}")).json()["status"] == "idle"

    assert (await send_text(client, sid, "again")).status_code == 200
    await reader.wait_for(lambda t: t.count("session.status_idle") == 2)
    await reader.close()


async def test_resume_after_last_event_id_is_strictly_after(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    fake.script([Tool("Bash", {"command": "ls"}), Text("done")])
    sid = await new_session(client)
    echo_id = (await send_text(client, sid, "list files")).json()["data"][0]["id"]
    await until(lambda: fake.sessions[sid].status == "idle")

    reader = Reader(client, sid, params=DELTAS, last_id=echo_id)
    await reader.wait_for(lambda t: "session.status_idle" in t)
    history = [e["id"] for e in fake.sessions[sid].events]
    # the message completed before the connect: no preview replay, just the buffered events after the cursor
    assert [f[0] for f in reader.frames] == history[history.index(echo_id) + 1 :]
    assert reader.types[:3] == ["span.model_request_start", "agent.tool_use", "agent.tool_result"]
    assert reader.frames[2][2]["tool_use_id"] == reader.frames[1][0]
    await reader.close()


async def test_resume_inside_a_streaming_message(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    fake.script([Text("abcdefgh", chunks=4, delay=0.15)])
    sid = await new_session(client)
    live = Reader(client, sid, params=DELTAS)
    await until(lambda: fake.open_streams(sid) == 1)
    echo_id = (await send_text(client, sid, "spell")).json()["data"][0]["id"]
    await live.wait_for(lambda t: t.count("event_delta") == 2)
    message_id = live.frames[-1][0]

    before = Reader(client, sid, params=DELTAS, last_id=echo_id)  # case 1: replays start + retained deltas
    inside = Reader(client, sid, params=DELTAS, last_id=message_id)  # case 2: only future deltas
    for reader in (live, before, inside):
        await reader.wait_for(lambda t: "session.status_idle" in t)

    def text(reader: Reader) -> str:
        return "".join(f[2]["delta"]["content"]["text"] for f in reader.frames if f[1] == "event_delta")

    assert before.types[:3] == ["span.model_request_start", "event_start", "event_delta"]
    assert text(before) == text(live) == "abcdefgh"
    assert "event_start" not in inside.types
    assert inside.types[0] == "event_delta"
    assert "abcdefgh".endswith(text(inside)) and len(text(inside)) < len("abcdefgh")
    assert inside.types[-3:] == ["agent.message", "span.model_request_end", "session.status_idle"]
    for reader in (live, before, inside):
        await reader.close()


async def test_thinking_previews_need_their_own_opt_in(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    fake.script([Thinking(), End()])
    sid = await new_session(client)
    message_only = Reader(client, sid, params=DELTAS)
    both = Reader(
        client, sid, params=[("event_deltas[]", "agent.message"), ("event_deltas[]", "agent.thinking")]
    )
    await until(lambda: fake.open_streams(sid) == 2)
    await send_text(client, sid, "think")
    for reader in (message_only, both):
        await reader.wait_for(lambda t: "session.status_idle" in t)
    assert "event_start" not in message_only.types
    start = both.frames[both.types.index("event_start")]
    thinking = both.frames[both.types.index("agent.thinking")]
    assert start[2]["event"] == {"id": thinking[0], "type": "agent.thinking"}
    assert [c.deltas for c in fake.stream_connects] == [True, True]
    for reader in (message_only, both):
        await reader.close()


async def test_requires_action_waits_for_confirmation(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    fake.script(
        [Tool("Bash", {"command": "deploy"}, result="deployed", permission="ask")], [Text("All done.")]
    )
    sid = await new_session(client)
    reader = Reader(client, sid)
    await until(lambda: fake.open_streams(sid) == 1)
    await send_text(client, sid, "deploy it")
    await reader.wait_for(lambda t: "session.status_idle" in t)
    use_id = reader.frames[reader.types.index("agent.tool_use")][0]
    assert reader.frames[-1][2]["stop_reason"] == {"type": "requires_action", "event_ids": [use_id]}
    assert "agent.tool_result" not in reader.types

    confirm = {"type": "user.tool_confirmation", "tool_use_id": use_id, "result": "allow"}
    assert (await client.post(f"/sessions/{sid}/events", json={"events": [confirm]})).status_code == 200
    await reader.wait_for(lambda t: t.count("session.status_idle") == 2)
    tail = reader.frames[reader.types.index("user.tool_confirmation") :]
    assert [f[1] for f in tail[:3]] == [
        "user.tool_confirmation",
        "session.status_running",
        "agent.tool_result",
    ]
    assert tail[2][2]["tool_use_id"] == use_id and tail[2][2]["content"][0]["text"] == "deployed"
    assert tail[-3][2]["content"] == [{"type": "text", "text": "All done."}]
    assert tail[-1][2]["stop_reason"] == {"type": "end_turn"}
    await reader.close()


async def test_custom_tools_wait_for_their_results_one_by_one(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    fake.script([CustomTool("ask_user", {"question": "which?"}), CustomTool("lookup", {})], [Text("Thanks.")])
    sid = await new_session(client)
    reader = Reader(client, sid)
    await until(lambda: fake.open_streams(sid) == 1)
    await send_text(client, sid, "go")
    await reader.wait_for(lambda t: "session.status_idle" in t)
    first, second = (f[0] for f in reader.frames if f[1] == "agent.custom_tool_use")
    assert reader.frames[-1][2]["stop_reason"] == {"type": "requires_action", "event_ids": [first, second]}

    def result(use_id: str, text: str) -> dict[str, Any]:
        return {
            "type": "user.custom_tool_result",
            "custom_tool_use_id": use_id,
            "content": [{"type": "text", "text": text}],
            "is_error": True,
        }

    confirm = {"type": "user.tool_confirmation", "tool_use_id": first, "result": "allow"}
    refused = await client.post(f"/sessions/{sid}/events", json={"events": [confirm]})
    assert refused.status_code == 400, "a custom tool is answered with its result, not a confirmation"
    answer = {"events": [result(first, "main")]}
    key = {"Idempotency-Key": "k-first"}
    assert (await client.post(f"/sessions/{sid}/events", json=answer, headers=key)).status_code == 200
    assert (await client.post(f"/sessions/{sid}/events", json=answer, headers=key)).status_code == 200
    await reader.wait_for(lambda t: t.count("session.status_idle") == 2)
    assert reader.frames[-1][2]["stop_reason"] == {"type": "requires_action", "event_ids": [second]}
    assert [e["custom_tool_use_id"] for e in fake.custom_tool_results(sid)] == [first], "a replay is not new"

    await client.post(f"/sessions/{sid}/events", json={"events": [result(second, "no such tool")]})
    await reader.wait_for(lambda t: t.count("session.status_idle") == 3)
    assert reader.frames[-1][2]["stop_reason"] == {"type": "end_turn"}
    assert [e["is_error"] for e in fake.custom_tool_results()] == [True, True]
    await reader.close()


async def test_idempotent_send_is_replayed_not_rerun(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    sid = await new_session(client)
    key = {"Idempotency-Key": "slack-C1-1.0001"}
    first = await send_text(client, sid, "once", headers=key)
    again = await send_text(client, sid, "once", headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json()["data"][0]["id"] == first.json()["data"][0]["id"]
    assert fake.user_messages(sid) == ["once"]

    other = await send_text(client, sid, "different", headers=key)
    assert other.status_code == 409
    assert other.json()["error"]["message"] == "Idempotency key reused with a different request body."


async def test_ambiguous_write_then_retry_replays_the_real_answer(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    fake.fail_next("POST", "/events", 503, retry_after=1, execute=True)
    key = {"Idempotency-Key": "k-1"}
    failed = await send_text(client, sid, "hello", headers=key)
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "1"
    assert failed.json()["error"]["type"] == "api_error"
    retried = await send_text(client, sid, "hello", headers=key)
    assert retried.status_code == 200
    assert fake.user_messages(sid) == ["hello"]
    assert [r.status for r in fake.requests if r.path.endswith("/events")] == [503, 200]


async def test_drop_streams_after_closes_the_connection(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    sid = await new_session(client)
    reader = Reader(client, sid)
    await until(lambda: fake.open_streams(sid) == 1)
    fake.drop_streams_after(2)
    await send_text(client, sid, "hi")
    await asyncio.wait_for(reader.ended.wait(), 3)
    assert reader.types == ["session.status_running", "user.message"]
    assert isinstance(reader.error, httpx.RemoteProtocolError)
    await until(lambda: fake.open_streams() == 0)


async def test_wire_format_heartbeats_and_auth(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    denied = await client.get("/models", headers={"Authorization": "Bearer nope"})
    assert denied.status_code == 401
    assert denied.json()["error"]["type"] == "authentication_error"
    assert denied.headers["x-request-id"].startswith("req_")
    missing = await client.get("/sessions/sess_missing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"

    sid = await new_session(client)
    fake.script([End()])
    echo_id = (await send_text(client, sid, "x")).json()["data"][0]["id"]
    await until(lambda: fake.sessions[sid].status == "idle")
    lines: list[str] = []
    headers = {"Last-Event-ID": echo_id}
    async with client.stream("GET", f"/sessions/{sid}/events/stream", headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            lines.append(line)
            if line == ": heartbeat":
                break
    start = fake.sessions[sid].events[2]
    assert lines[:4] == [
        f"id: {start['id']}",
        "event: span.model_request_start",
        "data: " + json.dumps(start, separators=(",", ":")),
        "",
    ]


async def test_stop_closes_open_streams_promptly(client: httpx.AsyncClient) -> None:
    server = FakeQoder(token=TOKEN, heartbeat_interval=10)
    await server.start()
    async with httpx.AsyncClient(base_url=server.base_url, headers=client.headers) as other:
        sid = await new_session(other)
        reader = Reader(other, sid)
        await until(lambda: server.open_streams(sid) == 1)
        async with asyncio.timeout(2):
            await server.stop()
            await reader.ended.wait()
        assert server.open_streams() == 0


async def test_delay_holds_matching_answers_back(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    sid = await new_session(client)
    fake.delay("GET", f"/sessions/{sid}", 0.4, times=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await client.get(f"/sessions/{sid}")).status_code == 200
    assert loop.time() - started >= 0.4
    started = loop.time()
    await client.get(f"/sessions/{sid}")
    assert loop.time() - started < 0.3, "times=1: only the next matching request is slow"

    fake.delay("POST", "/sessions", 0.3)
    started = loop.time()
    await new_session(client)
    await new_session(client)
    assert loop.time() - started >= 0.6, "without times every matching request is slow"
    fake.clear_faults()
    started = loop.time()
    await new_session(client)
    assert loop.time() - started < 0.3


async def test_define_outcome_needs_a_description_and_a_rubric_and_starts_the_turn_itself(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    bad = {"type": "user.define_outcome", "description": "tests pass"}
    assert (await client.post(f"/sessions/{sid}/events", json={"events": [bad]})).status_code == 400
    outcome = {**bad, "rubric": {"type": "text", "content": "tests pass"}}
    message = {"type": "user.message", "content": [{"type": "text", "text": "fix it"}]}
    response = await client.post(f"/sessions/{sid}/events", json={"events": [outcome, message]})
    assert response.status_code == 409, "the outcome's turn runs: a message right after it is refused"
    assert fake.user_messages(sid) == [] and fake.outcomes(sid) == []


async def test_deltas_keep_their_schedule_when_the_fake_falls_behind(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    """A model writes on its own clock: deltas that fell due while the fake's loop was busy go out at once,
    rather than each waiting its delay again (which would bunch every stream behind one stall for good)."""
    sid = await new_session(client)
    fake.script([Text("a b c d", chunks=4, delay=0.5)])
    await send_text(client, sid, "go")

    def deltas() -> int:
        return sum(1 for frame in fake.sessions[sid].log if frame.type == "event_delta")

    await until(lambda: deltas() == 1)
    time.sleep(1.5)  # the loop is busy past the moments the next two deltas were due
    await until(lambda: deltas() >= 3, timeout=0.25)
