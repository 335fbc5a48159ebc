"""QoderClient's outcome and archive calls over httpx.MockTransport, and the session fields they read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.qoder import ConflictError, OutcomeSpec, QoderClient, Session

BASE = "https://qoder.test/api/v1/cloud"

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler) -> tuple[QoderClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return QoderClient(BASE, "pt-token", http=http, max_retries=0), seen


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


SPEC = OutcomeSpec(description="fix the flaky test", rubric="it passes 20 runs in a row", max_iterations=4)
EVENT = {
    "type": "user.define_outcome",
    "description": "fix the flaky test",
    "rubric": {"type": "text", "content": "it passes 20 runs in a row"},
    "max_iterations": 4,
}


async def test_define_outcome_sends_a_wrapped_event_and_returns_the_echo_id() -> None:
    echo = {"data": [{"id": "evt_9", **EVENT, "outcome_id": "outc_1"}]}
    client, seen = client_for(lambda request: httpx.Response(200, json=echo))
    assert await client.define_outcome("sess_1", SPEC, idempotency_key="k") == "evt_9"
    assert seen[0].method == "POST" and seen[0].url.path == "/api/v1/cloud/sessions/sess_1/events"
    assert body(seen[0]) == {"events": [EVENT]}
    assert seen[0].headers["Idempotency-Key"]


async def test_define_outcome_while_running_is_a_busy_conflict() -> None:
    error = {"type": "error", "error": {"type": "conflict_error", "message": "session is running"}}
    client, _ = client_for(lambda request: httpx.Response(409, json=error))
    with pytest.raises(ConflictError) as raised:
        await client.define_outcome("sess_1", SPEC, idempotency_key="k")
    assert raised.value.busy


@pytest.mark.parametrize(("asked", "sent"), [(0, 1), (3, 3), (25, 20)])
def test_max_iterations_is_kept_within_what_qoder_accepts(asked: int, sent: int) -> None:
    spec = OutcomeSpec(description="d", rubric="r", max_iterations=asked)
    assert spec.event()["max_iterations"] == sent


async def test_create_session_with_an_outcome_puts_it_in_initial_events() -> None:
    wire = {"id": "sess_2", "status": "running", "outcome_evaluations": [{"outcome_id": "outc_7"}]}
    client, seen = client_for(lambda request: httpx.Response(201, json=wire))
    session = await client.create_session(
        agent="agent_1", environment_id="env_1", title="t", metadata={}, idempotency_key="k", outcome=SPEC
    )
    assert body(seen[0])["initial_events"] == [EVENT]
    assert session.outcome_ids == ("outc_7",) and session.status == "running"


async def test_create_session_without_an_outcome_sends_no_initial_events() -> None:
    client, seen = client_for(lambda request: httpx.Response(201, json={"id": "sess_3", "status": "idle"}))
    await client.create_session(agent="a", environment_id="e", title="t", metadata={}, idempotency_key="k")
    assert "initial_events" not in body(seen[0])


async def test_archive_posts_to_the_archive_path_and_reads_the_session() -> None:
    wire = {"id": "sess_4", "status": "idle", "archived_at": "2026-09-14T08:00:00Z"}
    client, seen = client_for(lambda request: httpx.Response(200, json=wire))
    session = await client.archive("sess_4")
    assert seen[0].method == "POST" and seen[0].url.path == "/api/v1/cloud/sessions/sess_4/archive"
    assert session.archived and session.status == "idle"


@pytest.mark.parametrize(
    ("wire", "active", "outcomes"),
    [
        ({"stats": {"active_seconds": 95, "duration_seconds": 300}}, 95.0, ()),
        ({"stats": {"active_seconds": True}}, None, ()),
        ({"stats": "n/a", "outcome_evaluations": "none"}, None, ()),
        ({"outcome_evaluations": [{"outcome_id": "outc_1"}, {"result": "failed"}, 3]}, None, ("outc_1",)),
    ],
)
def test_session_reads_active_time_and_outcomes_tolerantly(
    wire: dict[str, Any], active: float | None, outcomes: tuple[str, ...]
) -> None:
    session = Session.from_wire({"id": "sess_5", **wire})
    assert (session.active_seconds, session.outcome_ids) == (active, outcomes)
