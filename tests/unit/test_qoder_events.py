"""Wire → typed events: every recorded fixture, and every tolerance rule of qoder-api.md §7."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from httpx_sse._decoders import SSEDecoder
from hypothesis import given
from hypothesis import strategies as st

from bot.qoder import (
    AgentMessage,
    AgentThinking,
    MessageDelta,
    MessagePreviewStart,
    ModelRequestEnd,
    QoderEvent,
    SessionError,
    StatusIdle,
    StatusRunning,
    StreamDecoder,
    StreamError,
    Terminated,
    ThinkingPreviewStart,
    ToolConfirmation,
    ToolResult,
    ToolUse,
    Unknown,
    Usage,
    UserInterrupt,
    UserMessage,
    parse_event,
    parse_frame,
)
from bot.qoder._parse import content_text

FIXTURES = Path("/work/shared/qoder-fixtures")
ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.sse"))


def fixture_events(name: str) -> list[QoderEvent]:
    """Frames of a fixture, decoded by httpx-sse's own decoder, parsed, passed through a StreamDecoder."""
    decoder, stream, events = SSEDecoder(), StreamDecoder(), []
    for line in (FIXTURES / name).read_text().splitlines():
        sse = decoder.decode(line)
        if sse is None or not sse.data:
            continue
        event = parse_frame(sse.event, sse.data, sse.id or None)
        if event is not None:
            events.append(stream.feed(event))
    return events


def kinds(events: list[QoderEvent]) -> list[str]:
    return [e.type if isinstance(e, Unknown) else type(e).__name__ for e in events]


def frame(obj: dict[str, Any], event: str = "message", sse_id: str | None = None) -> QoderEvent | None:
    return parse_frame(event, json.dumps(obj), sse_id)


def test_there_are_fixtures_to_test() -> None:
    assert len(ALL_FIXTURES) == 11


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_parses_into_known_kinds(name: str) -> None:
    events = fixture_events(name)
    assert events
    assert not any(isinstance(e, StreamError) for e in events)
    # events with an SSE id carry it as their cursor (previews: the previewed message id)
    for event in events:
        if event.id is not None and not isinstance(event, MessageDelta | MessagePreviewStart):
            assert event.cursor == event.id


def test_fixture_01_simple_turn() -> None:
    events = fixture_events("01-simple-text-turn.sse")
    assert kinds(events) == [
        "StatusRunning",
        "session.thread_status_running",
        "UserMessage",
        "span.model_request_start",
        "AgentThinking",
        "AgentMessage",
        "ModelRequestEnd",
        "session.thread_status_idle",
        "StatusIdle",
    ]
    user, message, end, idle = events[2], events[5], events[6], events[8]
    assert isinstance(user, UserMessage) and user.text == "Say hello in one sentence."
    assert isinstance(message, AgentMessage)
    assert message.id == message.cursor == "evt_019f2a6d1f337e4f9a0b1c2d3e4f5a6b"
    assert message.text.startswith("Hello! I'm your Qoder cloud agent")
    assert message.processed_at == pytest.approx(1789372927.930123, abs=1e-3)
    assert isinstance(end, ModelRequestEnd) and end.credits == 4.05 and not end.is_error
    assert isinstance(idle, StatusIdle) and idle.stop_reason == "end_turn" and idle.event_ids == ()


def test_fixture_02_tool_pairs() -> None:
    events = fixture_events("02-thinking-tool-use-turn.sse")
    uses = [e for e in events if isinstance(e, ToolUse)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(u.name, u.permission, u.custom, u.server) for u in uses] == [
        ("Write", "allow", False, None),
        ("Bash", "allow", False, None),
    ]
    assert uses[1].input == {"command": "python3 fib.py"}
    assert [u.tool_use_id for u in uses] == [u.id for u in uses]
    assert [r.tool_use_id for r in results] == [u.id for u in uses]
    assert results[1].text == "ok 832040\n" and not results[1].is_error


def test_fixture_03_preview_frames_have_no_event_id() -> None:
    events = fixture_events("03-incremental-deltas-turn.sse")
    message_id = "evt_00jjujk9fbnr4wkj2gh8"
    thinking_start = next(e for e in events if isinstance(e, ThinkingPreviewStart))
    assert thinking_start.id is None and thinking_start.cursor == "evt_00jjujk7x2q8m1c0ta4d"
    start = next(e for e in events if isinstance(e, MessagePreviewStart))
    assert start == MessagePreviewStart(message_id=message_id, cursor=message_id)
    deltas = [e for e in events if isinstance(e, MessageDelta)]
    assert len(deltas) == 5
    assert all(d.id is None and d.cursor == message_id == d.message_id and d.index == 0 for d in deltas)
    assert all(d.processed_at is None for d in deltas)
    final = next(e for e in events if isinstance(e, AgentMessage))
    assert final.id == message_id and final.text == "".join(d.text for d in deltas)


def test_fixture_04_interrupt_and_cancelled() -> None:
    events = fixture_events("04-interrupted-turn.sse")
    assert sum(isinstance(e, UserInterrupt) for e in events) == 1
    assert not any(isinstance(e, AgentMessage) for e in events)
    idle = events[-1]
    assert isinstance(idle, StatusIdle) and idle.stop_reason == "cancelled"


def test_fixture_05_retrying_then_exhausted() -> None:
    events = fixture_events("05-error-retries-exhausted-turn.sse")
    errors = [e for e in events if isinstance(e, SessionError)]
    assert [(e.error_type, e.retry_status) for e in errors] == [
        ("model_overloaded_error", "retrying"),
        ("model_overloaded_error", "exhausted"),
    ]
    assert errors[1].message == "The model is currently overloaded. Please try again later."
    # session.status_rescheduled is read as "running"
    assert kinds(events).count("StatusRunning") == 3
    assert [e.is_error for e in events if isinstance(e, ModelRequestEnd)] == [True, True]
    assert isinstance(events[-1], StatusIdle) and events[-1].stop_reason == "retries_exhausted"


def test_fixture_06_terminal_error() -> None:
    events = fixture_events("06-error-terminal-session.sse")
    error, terminated = events[-2], events[-1]
    assert isinstance(error, SessionError) and error.retry_status == "terminal"
    assert error.error_type == "mcp_connection_failed_error"
    assert isinstance(terminated, Terminated) and not terminated.deleted


def test_fixture_07_requires_action() -> None:
    events = fixture_events("07-requires-action-confirmation-and-custom-tool.sse")
    ask, custom = [e for e in events if isinstance(e, ToolUse)]
    assert ask.permission == "ask" and not ask.custom
    assert custom.custom and custom.name == "lookup_oncall" and custom.input == {"team": "payments"}
    idles = [e for e in events if isinstance(e, StatusIdle)]
    assert [(i.stop_reason, i.event_ids) for i in idles] == [
        ("requires_action", (ask.id,)),
        ("requires_action", (custom.id,)),
        ("end_turn", ()),
    ]
    confirmation = next(e for e in events if isinstance(e, ToolConfirmation))
    assert confirmation.tool_use_id == ask.id and confirmation.allowed
    custom_result = [e for e in events if isinstance(e, ToolResult)][1]
    assert custom_result.tool_use_id == custom.id and custom_result.text == "Primary: @dana, secondary: @lee"


def test_fixture_08_old_quickstart_shapes() -> None:
    events = fixture_events("08-legacy-o-era-quickstart.sse")
    # types from the `event:` line; `event: heartbeat` frames dropped
    assert kinds(events) == [
        "UserMessage",
        "StatusRunning",
        "span.model_request_start",
        "AgentThinking",
        "ToolUse",
        "ToolResult",
        "AgentMessage",
        "ModelRequestEnd",
        "StatusIdle",
    ]
    assert all(e.id is None and e.cursor is None for e in events)
    user, tool, result, end, idle = events[0], events[4], events[5], events[7], events[8]
    assert isinstance(user, UserMessage) and user.text == "List the files in the repository root."
    assert isinstance(tool, ToolUse) and tool.tool_use_id is None and tool.input == {"command": "ls -la"}
    assert isinstance(result, ToolResult) and result.text == "README.md\npackage.json\nsrc\ntests\n"
    assert isinstance(end, ModelRequestEnd) and end.credits is None
    assert isinstance(idle, StatusIdle) and idle.stop_reason == "end_turn"


def test_fixture_09_old_envelope_and_legacy_error() -> None:
    events = fixture_events("09-legacy-o-era-replay-and-error.sse")
    tool = next(e for e in events if isinstance(e, ToolUse))
    assert tool.id == "evt_00jjujka01c" and tool.tool_use_id == "toolu_00jjujka01"
    assert tool.name == "Bash" and tool.input == {"command": "git status --short"} and tool.permission is None
    assert isinstance(events[0], UserMessage) and events[0].text == "Hello"
    error, terminated = events[-2], events[-1]
    assert error == SessionError(
        id="evt_00jjujka02c",
        cursor="evt_00jjujka02c",
        processed_at=error.processed_at,
        error_type="runtime_unavailable",
        message="The sandbox stopped responding",
        retry_status="exhausted",
    )
    assert isinstance(terminated, Terminated) and terminated.reason == "session timed out"


def test_fixture_10_raw_incremental_events_become_previews() -> None:
    events = fixture_events("10-legacy-m-era-incremental.sse")
    start = next(e for e in events if isinstance(e, MessagePreviewStart))
    assert start.message_id == "msg_019e6b1f3c6f7a8b" and start.id == "evt_019e6b1f3c707a8b9c0d1e2f3a4b5c6f"
    assert any(isinstance(e, ThinkingPreviewStart) for e in events)
    deltas = [e for e in events if isinstance(e, MessageDelta)]
    assert {(d.message_id, d.index) for d in deltas} == {("msg_019e6b1f3c6f7a8b", 1)}
    assert "".join(d.text for d in deltas).startswith("HTTP 409 Conflict means the request clashes")
    # thinking and signature deltas carry nothing to show
    assert "Simple definitional question." not in "".join(d.text for d in deltas)
    final = next(e for e in events if isinstance(e, AgentMessage))
    assert final.preview_id == "msg_019e6b1f3c6f7a8b"


def test_fixture_11_cli_chunks() -> None:
    events = fixture_events("11-legacy-cli-era-delta-chunks.sse")
    assert isinstance(events[0], StatusRunning)
    chunks = [e for e in events if isinstance(e, AgentMessage)]
    assert [(c.text, c.delta) for c in chunks] == [
        ("I wrote ", True),
        ("quicksort() to ", True),
        ("quicksort.py.", True),
    ]


# --- tolerance rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("plain", "plain"),
        ({"type": "text", "text": "obj"}, "obj"),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "ab"),
        ([{"type": "redacted"}], "[redacted]"),
        ([{"type": "image", "source": {}}, {"type": "text", "text": "x"}], "x"),
        ([{"type": "search_result", "content": [{"type": "text", "text": "hit"}]}], "hit"),
        (None, ""),
        (42, ""),
    ],
)
def test_content_is_normalised(content: Any, text: str) -> None:
    assert content_text(content) == text
    event = frame({"type": "agent.message", "id": "e", "content": content})
    assert isinstance(event, AgentMessage) and event.text == text


@pytest.mark.parametrize(
    ("stop_reason", "expected", "ids"),
    [
        ({"type": "end_turn"}, "end_turn", ()),
        ("budget_reached", "budget_reached", ()),
        (None, "end_turn", ()),
        ({}, "end_turn", ()),
        ({"type": "requires_action", "event_ids": ["a", "b"]}, "requires_action", ("a", "b")),
        ({"type": "requires_action", "requires_action": {"event_ids": ["c"]}}, "requires_action", ("c",)),
        ({"type": "something_new"}, "something_new", ()),
    ],
)
def test_stop_reason_variants(stop_reason: Any, expected: str, ids: tuple[str, ...]) -> None:
    obj: dict[str, Any] = {"type": "session.status_idle", "id": "e"}
    if stop_reason is not None:
        obj["stop_reason"] = stop_reason
    event = frame(obj)
    assert isinstance(event, StatusIdle) and event.stop_reason == expected and event.event_ids == ids


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"type": "billing_error", "message": "no credits"}, ("billing_error", "no credits", "exhausted")),
        ({"message": "m", "retry_status": {"type": "retrying"}}, ("unknown_error", "m", "retrying")),
        ({"message": "m", "retry_status": "terminal"}, ("unknown_error", "m", "terminal")),
    ],
)
def test_session_error_variants(error: dict[str, Any], expected: tuple[str, str, str]) -> None:
    event = frame({"type": "session.error", "error": error})
    assert isinstance(event, SessionError)
    assert (event.error_type, event.message, event.retry_status) == expected


def test_ids_and_types_are_filled_from_the_frame() -> None:
    event = parse_frame("agent.message", '{"content":"hi"}', "evt_1")
    assert isinstance(event, AgentMessage) and event.id == event.cursor == "evt_1"
    # the JSON id wins over the frame's
    event = parse_frame("message", '{"type":"agent.thinking","id":"evt_2"}', "evt_x")
    assert isinstance(event, AgentThinking) and event.id == "evt_2" and event.cursor == "evt_x"


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("heartbeat", "{}"),
        ("ping", "{}"),
        ("message", '{"type":"ping"}'),
        ("message", "[DONE]"),
        ("message", ""),
        ("message", "[1, 2]"),
        ("message", '"text"'),
    ],
)
def test_keepalives_and_non_events_give_none(event: str, data: str) -> None:
    assert parse_frame(event, data, "evt_1") is None


def test_malformed_json_gives_none_and_logs_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="bot.qoder._parse"):
        assert parse_frame("agent.message", '{"content": [', "evt_1") is None
    assert any(r.levelno == logging.DEBUG and "malformed" in r.getMessage() for r in caplog.records)


def test_unknown_types_are_kept_as_unknown() -> None:
    event = frame({"type": "agent.thread_message_sent", "id": "e", "to_session_thread_id": "f"})
    assert (
        isinstance(event, Unknown)
        and event.type == "agent.thread_message_sent"
        and event.data["to_session_thread_id"] == "f"
    )


def test_mcp_tool_use_and_result() -> None:
    use = frame(
        {"type": "agent.mcp_tool_use", "id": "u", "name": "search", "mcp_server_name": "docs", "input": {}}
    )
    assert isinstance(use, ToolUse) and use.server == "docs" and use.tool_use_id == "u"
    result = frame({"type": "agent.mcp_tool_result", "id": "r", "mcp_tool_use_id": "u", "is_error": True})
    assert isinstance(result, ToolResult) and result.tool_use_id == "u" and result.is_error


def test_legacy_tool_shapes() -> None:
    use = frame({"type": "agent.tool_use", "id": "e", "tool_name": "Read", "tool_input": {"p": 1}})
    assert isinstance(use, ToolUse) and use.name == "Read" and use.input == {"p": 1}
    confirm = frame({"type": "agent.tool_use", "id": "e", "name": "Bash", "requires_confirmation": True})
    assert isinstance(confirm, ToolUse) and confirm.permission == "ask"
    decision = frame({"type": "user.tool_confirmation", "tool_use_id": "e", "decision": "approve"})
    assert isinstance(decision, ToolConfirmation) and decision.allowed


def test_termination_variants() -> None:
    deleted = frame({"type": "session.deleted", "id": "e"})
    assert isinstance(deleted, Terminated) and deleted.deleted
    old = parse_frame("terminated", '{"reason":"timeout"}', None)
    assert isinstance(old, Terminated) and old.reason == "timeout" and not old.deleted
    assert isinstance(frame({"type": "rescheduled"}), StatusRunning)


def test_usage_snapshot() -> None:
    event = frame({"type": "session.usage", "id": "e", "usage": {"total_credits": 4.63}})
    assert isinstance(event, Usage) and event.credits == 4.63
    tokens_only = frame({"type": "session.usage", "id": "e", "usage": {"input_tokens": 10}})
    assert isinstance(tokens_only, Usage) and tokens_only.credits is None


def test_in_band_error_frame() -> None:
    event = parse_frame(
        "error", '{"type":"error","error":{"type":"overloaded_error","message":"busy"}}', None
    )
    assert event == StreamError(error_type="overloaded_error", message="busy")


def test_list_events_objects_parse_without_frame_fields() -> None:
    event = parse_event({"id": "evt_1", "type": "user.interrupt", "processed_at": "2026-09-14T08:02:20Z"})
    assert isinstance(event, UserInterrupt) and event.cursor == "evt_1" and event.processed_at == 1789372940.0


def test_decoder_fills_a_missing_raw_message_id() -> None:
    decoder = StreamDecoder()
    decoder.feed(MessagePreviewStart(id="e1", message_id="msg_1"))
    delta = decoder.feed(MessageDelta(id="e2", message_id="", text="x"))
    assert isinstance(delta, MessageDelta) and delta.message_id == "msg_1"


def test_decoder_links_a_final_message_to_legacy_chunks() -> None:
    decoder = StreamDecoder()
    decoder.feed(AgentMessage(id="c1", text="a", delta=True))
    decoder.feed(AgentMessage(id="c2", text="b", delta=True))
    final = decoder.feed(AgentMessage(id="f", text="ab"))
    assert isinstance(final, AgentMessage) and final.preview_id == "c1"
    # a current-era preview shares the final id: nothing to link
    decoder.feed(MessagePreviewStart(message_id="m", cursor="m"))
    same = decoder.feed(AgentMessage(id="m", text="t"))
    assert isinstance(same, AgentMessage) and same.preview_id is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_types = st.sampled_from(
    ["agent.message", "session.status_idle", "session.error", "agent.tool_use", "agent.tool_result",
     "event_start", "event_delta", "agent.content_block_delta", "agent.message_start", "session.usage",
     "span.model_request_end", "user.tool_confirmation", "error", "message"]
)  # fmt: skip


@given(kind=_types, body=st.dictionaries(st.text(max_size=12), _json, max_size=6), sse_id=st.text(max_size=5))
def test_parse_never_raises_on_arbitrary_objects(kind: str, body: dict[str, Any], sse_id: str) -> None:
    parse_frame(kind, json.dumps({**body, "type": kind}), sse_id or None)
    parse_frame(kind, json.dumps(body), sse_id or None)


@given(data=st.text(max_size=40))
def test_parse_never_raises_on_arbitrary_text(data: str) -> None:
    parse_frame("message", data, None)
