"""The pure fold: every fixture's final turn state, and each rule on its own."""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from pathlib import Path

import pytest
from httpx_sse._decoders import SSEDecoder

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
    StreamReconnecting,
    Terminated,
    ThinkingPreviewStart,
    ToolConfirmation,
    ToolResult,
    ToolUse,
    Unknown,
    UserInterrupt,
    parse_frame,
)
from bot.turn import RECONNECTING_NOTICE, TERMINATED_SENTENCE, TextItem, ToolItem, TurnState, fold

FIXTURES = Path("/work/shared/qoder-fixtures")


def fixture_events(name: str) -> list[QoderEvent]:
    decoder, stream, events = SSEDecoder(), StreamDecoder(), []
    for line in (FIXTURES / name).read_text().splitlines():
        sse = decoder.decode(line)
        if sse is not None and sse.data and (event := parse_frame(sse.event, sse.data, sse.id or None)):
            events.append(stream.feed(event))
    return events


def run(events: Iterable[QoderEvent], state: TurnState | None = None) -> TurnState:
    return reduce(fold, events, state or TurnState())


def texts(state: TurnState) -> list[str]:
    return [i.text for i in state.items if isinstance(i, TextItem)]


def tools(state: TurnState) -> list[tuple[str, str, str]]:
    return [(i.name, i.status, i.result) for i in state.items if isinstance(i, ToolItem)]


# --- fixtures -----------------------------------------------------------------------------------------


def test_fixture_01_simple_turn() -> None:
    state = run(fixture_events("01-simple-text-turn.sse"))
    assert state.phase == "done" and state.stop_reason == "end_turn" and state.error is None
    assert texts(state) == [
        "Hello! I'm your Qoder cloud agent, ready to help with code, commands and research."
    ]
    assert state.credits == 4.05
    assert not state.thinking
    assert state.started_at == pytest.approx(1789372923.401, abs=1e-3)
    assert state.ended_at == pytest.approx(1789372928.015, abs=1e-3)


def test_fixture_02_tools_paired_and_messages_in_order() -> None:
    state = run(fixture_events("02-thinking-tool-use-turn.sse"))
    assert state.phase == "done"
    assert [i.kind for i in state.items] == ["text", "tool", "tool", "text"]
    assert tools(state) == [("Write", "done", "Wrote 163 bytes to fib.py"), ("Bash", "done", "ok 832040")]
    assert texts(state)[1].startswith("Done. `fib.py` defines")
    assert state.credits == 7.39


def test_fixture_03_deltas_replaced_by_the_buffered_message() -> None:
    events = fixture_events("03-incremental-deltas-turn.sse")
    final_index = next(i for i, e in enumerate(events) if isinstance(e, AgentMessage))
    preview = run(events[:final_index])
    (item,) = preview.items
    assert isinstance(item, TextItem) and item.partial and item.id == "evt_00jjujk9fbnr4wkj2gh8"
    assert item.text.endswith("every call hangs until the 30 s timeout.")

    state = run(events)
    (final,) = state.items
    assert isinstance(final, TextItem) and not final.partial and not final.aborted and final.blocks == ()
    assert final.text == item.text
    assert state.phase == "done" and state.credits == 2.96


def test_fixture_04_interrupted_preview_is_aborted() -> None:
    state = run(fixture_events("04-interrupted-turn.sse"))
    assert state.phase == "stopped" and state.interrupted and state.stop_reason == "cancelled"
    assert tools(state)[0][:2] == ("Bash", "done")
    text = state.items[-1]
    assert isinstance(text, TextItem) and text.aborted and not text.partial
    assert (
        text.text == "Seven tests fail. I'll start by splitting `PaymentService` into a gateway client and "
    )
    assert state.credits == 2.82


def test_fixture_05_retries_exhausted() -> None:
    events = fixture_events("05-error-retries-exhausted-turn.sse")
    retrying = next(i for i, e in enumerate(events) if isinstance(e, SessionError))
    assert (
        run(events[: retrying + 1]).notice
        == "Qoder is retrying: The model is currently overloaded. Retrying."
    )
    state = run(events)
    assert state.phase == "failed" and state.stop_reason == "retries_exhausted"
    assert state.error == (
        "The agent gave up after repeated errors: The model is currently overloaded. Please try again later."
    )
    assert state.notice is None and state.items == () and state.credits == 0.0


def test_fixture_06_terminal_error_then_terminated() -> None:
    events = fixture_events("06-error-terminal-session.sse")
    expected = f"Failed to connect to MCP server 'tracker': connection refused. {TERMINATED_SENTENCE}"
    ended = run(events[:-1])  # the terminal error alone already says the session is over
    assert ended.phase == "terminated" and ended.error == expected
    state = run(events)
    assert state.phase == "terminated"
    assert (
        state.error == f"Failed to connect to MCP server 'tracker': connection refused. {TERMINATED_SENTENCE}"
    )
    terminal_error = next(e for e in events if isinstance(e, SessionError) and e.retry_status == "terminal")
    assert state.ended_at == terminal_error.processed_at is not None


def test_fixture_07_pauses_for_action_then_completes() -> None:
    events = fixture_events("07-requires-action-confirmation-and-custom-tool.sse")
    first_idle = next(i for i, e in enumerate(events) if isinstance(e, StatusIdle))
    paused = run(events[: first_idle + 1])
    assert paused.phase == "needs_action" and paused.finished
    assert paused.pending_action_ids == ("evt_019f2a7302b37c4d5e6f708192a3b4c5",)
    assert tools(paused) == [("Bash", "waiting", "")]

    confirmed = run(events[: first_idle + 2])  # + user.tool_confirmation (allow)
    assert tools(confirmed) == [("Bash", "running", "")]

    state = run(events)
    assert state.phase == "done" and state.pending_action_ids == ()
    assert tools(state) == [
        ("Bash", "done", "deployment.apps/worker restarted"),
        ("lookup_oncall", "done", "Primary: @dana, secondary: @lee"),
    ]
    custom = state.items[1]
    assert isinstance(custom, ToolItem) and custom.custom and custom.input == {"team": "payments"}
    assert texts(state) == [
        "The staging worker was restarted. Payments on-call: @dana (primary), @lee (secondary)."
    ]
    assert state.credits == 4.28


def test_fixture_08_legacy_without_ids() -> None:
    state = run(fixture_events("08-legacy-o-era-quickstart.sse"))
    assert state.phase == "done" and state.started_at is None and state.credits is None
    assert tools(state) == [("Bash", "done", "README.md\npackage.json\nsrc\ntests")]
    assert texts(state) == [
        "The repository root contains README.md, package.json, and the src/ and tests/ directories."
    ]


def test_fixture_09_replayed_turn_and_legacy_termination() -> None:
    events = fixture_events("09-legacy-o-era-replay-and-error.sse")
    first_idle = next(i for i, e in enumerate(events) if isinstance(e, StatusIdle))
    replayed, live = events[: first_idle + 1], events[first_idle + 1 :]

    turn1 = run(replayed)
    assert turn1.phase == "done"
    assert tools(turn1) == [("Bash", "done", "")]
    assert texts(turn1) == ["Hi! The working tree is clean. What should I work on?"]
    assert run(live, turn1) == turn1  # a finished turn does not change any more

    turn2 = run(live)
    assert turn2.phase == "terminated" and turn2.items == ()
    assert turn2.error == f"The sandbox stopped responding. {TERMINATED_SENTENCE}"


def test_fixture_10_raw_preview_replaced_by_final_message() -> None:
    events = fixture_events("10-legacy-m-era-incremental.sse")
    final_index = next(i for i, e in enumerate(events) if isinstance(e, AgentMessage))
    preview = run(events[:final_index])
    (item,) = preview.items
    assert isinstance(item, TextItem) and item.partial and item.id == "msg_019e6b1f3c6f7a8b"
    assert item.blocks[0] == "" and item.text == item.blocks[1]

    state = run(events)
    (final,) = state.items
    assert (
        isinstance(final, TextItem)
        and not final.partial
        and final.id == "evt_019e6b1f3c7d7a8b9c0d1e2f3a4b5c7c"
    )
    assert final.text == item.text
    assert state.phase == "done"


def test_fixture_11_cli_chunks_are_appended() -> None:
    state = run(fixture_events("11-legacy-cli-era-delta-chunks.sse"))
    assert state.phase == "done"
    (item,) = state.items
    assert isinstance(item, TextItem) and item.text == "I wrote quicksort() to quicksort.py."
    assert not item.partial and not item.aborted


# --- rules --------------------------------------------------------------------------------------------


def test_deltas_merge_by_index() -> None:
    state = run(
        [
            MessagePreviewStart(message_id="m"),
            MessageDelta(message_id="m", index=1, text="B"),
            MessageDelta(message_id="m", index=0, text="A"),
            MessageDelta(message_id="m", index=1, text="b"),
            MessageDelta(message_id="m", index=0, text="a"),
        ]
    )
    (item,) = state.items
    assert isinstance(item, TextItem) and item.blocks == ("Aa", "Bb") and item.text == "AaBb" and item.partial


def test_a_replayed_preview_start_restarts_the_preview() -> None:
    # §3.4 case 1: the server replays event_start and all retained deltas after a reconnect
    state = run([MessagePreviewStart(message_id="m"), MessageDelta(message_id="m", text="Hel")])
    state = run([MessagePreviewStart(message_id="m"), MessageDelta(message_id="m", text="Hello")], state)
    assert texts(state) == ["Hello"]


def test_a_preview_start_after_the_final_message_changes_nothing() -> None:
    state = run([AgentMessage(id="m", text="final")])
    assert run([MessagePreviewStart(message_id="m"), MessageDelta(message_id="m", text="x")], state) == state


def test_request_end_aborts_open_previews_and_drops_empty_ones() -> None:
    state = run(
        [
            MessagePreviewStart(message_id="a"),
            MessageDelta(message_id="a", text="half"),
            MessagePreviewStart(message_id="b"),
            ModelRequestEnd(credits=1.1),
            ModelRequestEnd(credits=None),
            ModelRequestEnd(credits=0.2),
        ]
    )
    (item,) = state.items
    assert isinstance(item, TextItem) and item.aborted and not item.partial and item.text == "half"
    assert state.credits == 1.3


def test_thinking_is_set_and_cleared_by_output() -> None:
    assert run([AgentThinking()]).thinking
    assert run([ThinkingPreviewStart()]).thinking
    assert not run([AgentThinking(), AgentMessage(id="m", text="x")]).thinking
    assert not run([AgentThinking(), ToolUse(tool_use_id="t", name="Bash")]).thinking
    assert not run([AgentThinking(), MessagePreviewStart(message_id="m")]).thinking
    assert not run([AgentThinking(), StatusIdle()]).thinking


def test_tool_results_pair_by_id_and_fall_back_to_order() -> None:
    state = run(
        [
            ToolUse(tool_use_id="t1", name="A"),
            ToolUse(tool_use_id="t2", name="B"),
            ToolResult(tool_use_id="t2", text="bad", is_error=True),
            ToolResult(tool_use_id=None, text="ok"),
        ]
    )
    assert tools(state) == [("A", "done", "ok"), ("B", "failed", "bad")]


def test_tool_result_text_is_shortened() -> None:
    state = run([ToolUse(tool_use_id="t", name="Bash"), ToolResult(tool_use_id="t", text="x" * 5000)])
    result = tools(state)[0][2]
    assert len(result) == 500 and result.endswith("…")


def test_denied_confirmation_fails_the_tool() -> None:
    state = run(
        [
            ToolUse(tool_use_id="t", name="Bash", permission="ask"),
            ToolConfirmation(tool_use_id="t", allowed=False, deny_message="Not from Slack."),
        ]
    )
    assert tools(state) == [("Bash", "failed", "Not from Slack.")]


@pytest.mark.parametrize(
    ("events", "phase", "error"),
    [
        ([StatusIdle(stop_reason="end_turn")], "done", None),
        ([StatusIdle(stop_reason="something_new")], "done", None),
        ([StatusIdle(stop_reason="cancelled")], "stopped", None),
        ([UserInterrupt(), StatusIdle(stop_reason="end_turn")], "stopped", None),
        ([StatusIdle(stop_reason="budget_reached")], "failed", "The session reached its budget."),
        ([StatusIdle(stop_reason="retries_exhausted")], "failed", "The agent gave up after repeated errors."),
        (
            [SessionError(message="boom", retry_status="terminal")],
            "terminated",
            f"boom. {TERMINATED_SENTENCE}",
        ),
        ([Terminated()], "terminated", TERMINATED_SENTENCE),
        ([Terminated(deleted=True)], "terminated", TERMINATED_SENTENCE),
    ],
)
def test_turn_endings(events: list[QoderEvent], phase: str, error: str | None) -> None:
    state = run([StatusRunning(), *events])
    assert state.phase == phase and state.error == error and state.finished


def test_requires_action_pauses_and_running_resumes() -> None:
    paused = run([ToolUse(tool_use_id="t", name="X", custom=True), StatusIdle(stop_reason="requires_action",
                  event_ids=("t",), processed_at=5.0)])  # fmt: skip
    assert paused.phase == "needs_action" and paused.pending_action_ids == ("t",) and paused.ended_at == 5.0
    resumed = fold(paused, StatusRunning())
    assert resumed.phase == "running" and resumed.pending_action_ids == () and resumed.ended_at is None
    assert not resumed.finished


def test_a_finished_turn_ignores_later_events() -> None:
    done = run([AgentMessage(id="m", text="x"), StatusIdle(processed_at=2.0)])
    for event in (StatusRunning(), AgentMessage(id="n", text="y"), Terminated(), Unknown(type="x")):
        assert fold(done, event) == done


def test_times_come_from_processed_at() -> None:
    state = run([Unknown(type="x"), StatusRunning(processed_at=10.0), AgentThinking(processed_at=11.0),
                 StatusIdle(processed_at=12.0)])  # fmt: skip
    assert (state.started_at, state.ended_at) == (10.0, 12.0)


def test_state_with_a_preview_survives_a_json_round_trip() -> None:
    state = run([ToolUse(tool_use_id="t", name="Bash", input={"command": "ls"}),
                 MessageDelta(message_id="m", index=1, text="b")])  # fmt: skip
    restored = TurnState.model_validate_json(state.model_dump_json())
    assert restored == state
    assert fold(restored, MessageDelta(message_id="m", index=1, text="c")).items[-1] == TextItem(
        id="m", text="bc", partial=True, blocks=("", "bc")
    )


def test_a_reconnect_report_shows_a_notice_until_the_stream_speaks_again() -> None:
    state = fold(TurnState(), StreamReconnecting(reason="HTTP 503", attempt=2))
    assert state.notice == RECONNECTING_NOTICE and state.phase == "running"
    state = fold(state, AgentThinking(id="e1"))
    assert state.notice is None and state.thinking
