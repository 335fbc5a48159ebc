"""Self-tests of the Qoder fake's outcomes: what it refuses, the turn an outcome starts, grading and its
limits, interrupts, ``initial_events`` and the older frame shapes of the spans."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes.qoder_api import FakeQoder, Grade, Hold, Text
from tests.fakes.test_qoder_fake import TOKEN, Reader, new_session, send_text, until

RUBRIC = {"type": "text", "content": "all tests pass"}
GRADING = ["span.outcome_evaluation_start", "span.outcome_evaluation_ongoing", "span.outcome_evaluation_end"]


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


def outcome_event(**overrides: Any) -> dict[str, Any]:
    return {"type": "user.define_outcome", "description": "fix CI", "rubric": RUBRIC, **overrides}


async def define(client: httpx.AsyncClient, sid: str, **overrides: Any) -> httpx.Response:
    return await client.post(f"/sessions/{sid}/events", json={"events": [outcome_event(**overrides)]})


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["error"]["type"])


@pytest.mark.parametrize(
    "overrides",
    [
        {"description": ""},
        {"description": None},
        {"rubric": None},
        {"rubric": "all tests pass"},
        {"rubric": {"type": "text", "content": "  "}},
        {"rubric": {"type": "file"}},
        {"rubric": {"type": "url", "url": "https://x"}},
        {"max_iterations": 0},
        {"max_iterations": 21},
        {"max_iterations": True},
        {"max_iterations": "3"},
    ],
)
async def test_a_malformed_define_outcome_is_a_400_and_starts_nothing(
    fake: FakeQoder, client: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    sid = await new_session(client)
    assert error_of(await define(client, sid, **overrides)) == (400, "invalid_request_error")
    assert fake.sessions[sid].status == "idle" and fake.outcomes() == []


async def test_the_echo_has_an_outcome_id_and_the_documented_default(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    sent = await define(client, sid, rubric={"type": "file", "file_id": "file_1"})
    assert sent.status_code == 200
    echo = sent.json()["data"][0]
    assert echo["type"] == "user.define_outcome" and echo["outcome_id"].startswith("outc_")
    assert (echo["description"], echo["max_iterations"]) == ("fix CI", 3)
    assert fake.outcomes(sid) == [echo]


async def test_defining_an_outcome_starts_a_graded_turn_and_the_session_records_the_verdict(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    reader = Reader(client, sid)
    await until(lambda: fake.open_streams(sid) == 1)
    fake.script([Text("fixed"), Grade("needs_revision", "one test fails"), Text("fixed again"), Grade()])
    echo_id = (await define(client, sid, max_iterations=5)).json()["data"][0]["id"]
    await reader.wait_for(lambda types: "session.status_idle" in types)
    await reader.close()

    types = reader.types
    assert types[:2] == ["session.status_running", "user.define_outcome"] and reader.frames[1][0] == echo_id
    assert "session.status_idle" not in types[:-1], "the session stays running through grading"
    spans = [data for _, kind, data in reader.frames if kind.startswith("span.outcome_evaluation")]
    assert [(s["type"], s["iteration"]) for s in spans] == [
        (GRADING[0], 0),
        (GRADING[1], 0),
        (GRADING[2], 0),
        (GRADING[0], 1),
        (GRADING[1], 1),
        (GRADING[2], 1),
    ]
    assert [s["result"] for s in spans if "result" in s] == ["needs_revision", "satisfied"]
    assert spans[2]["outcome_evaluation_start_id"] == next(f[0] for f in reader.frames if f[1] == GRADING[0])
    record = (await client.get(f"/sessions/{sid}")).json()["outcome_evaluations"]
    assert [(r["result"], r["iteration"], r["completed_at"] is not None) for r in record] == [
        ("satisfied", 1, True)
    ]


async def test_needs_revision_on_the_last_iteration_is_max_iterations_reached(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    fake.script([Grade("needs_revision", "no"), Grade("needs_revision", "still no"), Text("gave up")])
    await define(client, sid, max_iterations=2)
    await until(lambda: fake.sessions[sid].status == "idle")
    ends = [e for e in fake.history(sid) if e["type"] == GRADING[2]]
    assert [(e["iteration"], e["result"]) for e in ends] == [
        (0, "needs_revision"),
        (1, "max_iterations_reached"),
    ]
    assert fake.sessions[sid].outcome is None, "a final verdict ends the outcome"


async def test_a_turn_without_a_final_verdict_is_graded_when_it_ends(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    fake.script([Text("done, I think")])
    await define(client, sid)
    await until(lambda: fake.sessions[sid].status == "idle")
    assert [e["result"] for e in fake.history(sid) if e["type"] == GRADING[2]] == ["satisfied"]


async def test_one_outcome_at_a_time_and_no_message_while_it_runs(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    fake.script([Hold()])
    assert (await define(client, sid)).status_code == 200
    assert error_of(await define(client, sid)) == (409, "conflict_error")
    assert error_of(await send_text(client, sid, "hello?")) == (409, "conflict_error")
    both = {"events": [{"type": "user.message", "content": [{"type": "text", "text": "x"}]}, outcome_event()]}
    other = await new_session(client)
    assert error_of(await client.post(f"/sessions/{other}/events", json=both)) == (409, "conflict_error")
    assert fake.user_messages(other) == [], "a rejected batch accepts nothing"


async def test_an_interrupt_while_grading_ends_the_evaluation_as_interrupted(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    fake.script([Grade("satisfied", ongoing=50, delay=0.05)])
    await define(client, sid)
    await until(lambda: any(e["type"] == GRADING[1] for e in fake.history(sid)))
    await client.post(f"/sessions/{sid}/events", json={"events": [{"type": "user.interrupt"}]})
    await until(lambda: fake.sessions[sid].status == "idle")
    ends = [e for e in fake.history(sid) if e["type"] == GRADING[2]]
    assert [e["result"] for e in ends] == ["interrupted"]
    assert fake.history(sid)[-1]["stop_reason"] == {"type": "cancelled"}
    assert (await define(client, sid)).status_code == 200, "a new outcome may follow a final one"


async def test_initial_events_run_before_create_answers(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    body = {"agent": "agent_1", "environment_id": "env_1", "initial_events": [outcome_event()]}
    created = await client.post("/sessions", json=body)
    assert created.status_code == 201
    session = created.json()
    assert session["status"] == "running"
    assert [r["outcome_id"] for r in session["outcome_evaluations"]] == [fake.outcomes()[0]["outcome_id"]]
    listed = (await client.get(f"/sessions/{session['id']}/events")).json()["data"]
    assert [e["type"] for e in listed[:2]] == ["session.status_running", "user.define_outcome"]


@pytest.mark.parametrize(
    "initial",
    [
        [outcome_event(rubric=None)],
        [{"type": "user.interrupt"}],
        [outcome_event(), outcome_event()],
        "not a list",
        [outcome_event()] * 51,
    ],
)
async def test_bad_initial_events_fail_the_create(
    fake: FakeQoder, client: httpx.AsyncClient, initial: Any
) -> None:
    body = {"agent": "agent_1", "environment_id": "env_1", "initial_events": initial}
    response = await client.post("/sessions", json=body)
    assert response.status_code in (400, 409) and fake.sessions == {}


@pytest.mark.parametrize(("mode", "status"), [("ignored", 201), ("rejected", 400)])
async def test_a_server_that_does_not_know_initial_events(mode: str, status: int) -> None:
    async with FakeQoder(token=TOKEN, initial_events=mode) as server:  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
            body = {"agent": "agent_1", "environment_id": "env_1", "initial_events": [outcome_event()]}
            response = await http.post("/sessions", json=body)
    assert response.status_code == status and server.outcomes() == []
    if mode == "ignored":
        assert response.json()["status"] == "idle" and response.json()["outcome_evaluations"] == []


async def test_legacy_spans_keep_type_and_id_on_the_sse_lines_only(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    sid = await new_session(client)
    reader = Reader(client, sid)
    await until(lambda: fake.open_streams(sid) == 1)
    fake.script([Grade("failed", "the rubric contradicts the task", wire="legacy")])
    await define(client, sid)
    await reader.wait_for(lambda types: "session.status_idle" in types)
    await reader.close()
    spans = [(sse_id, kind, data) for sse_id, kind, data in reader.frames if kind in GRADING]
    assert [kind for _, kind, _ in spans] == GRADING
    for sse_id, _, data in spans:
        assert sse_id.startswith("evt_") and "id" not in data and "type" not in data
        assert "iteration" not in data and "created_at" in data and data["schema_version"] == "1.0"
    end = spans[-1][2]
    assert end["result"] == {"type": "failed"}
    assert end["explanation"] == [{"type": "text", "text": "the rubric contradicts the task"}]
    assert "credits" not in json.dumps(end["usage"])
    history = [e for e in fake.history(sid) if e["type"] == GRADING[2]]
    assert history[0]["result"] == "failed", "history keeps the complete event"
