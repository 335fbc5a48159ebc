"""The fold and the helpers that keep a turn's approvals: which calls wait, decisions, ends without one."""

from __future__ import annotations

from functools import reduce

from bot.qoder import QoderEvent, StatusIdle, StatusRunning, ToolConfirmation, ToolUse
from bot.turn import Decision, ToolItem, TurnState, abandon, all_decided, awaiting, decide, fold

PAUSE: list[QoderEvent] = [
    ToolUse(tool_use_id="t1", name="Bash", input={"command": "a"}, permission="ask"),
    ToolUse(tool_use_id="t2", name="Bash", input={"command": "b"}, permission="ask"),
    ToolUse(tool_use_id="c1", name="lookup", custom=True),
    StatusIdle(stop_reason="requires_action", event_ids=("t1", "t2", "c1")),
]
BY_U1 = Decision(allow=True, by="U1", at=1700000000.0)


def run(events: list[QoderEvent], state: TurnState | None = None) -> TurnState:
    return reduce(fold, events, state or TurnState())


def tool(state: TurnState, tool_id: str) -> ToolItem:
    return next(i for i in state.items if isinstance(i, ToolItem) and i.id == tool_id)


def test_a_pause_names_the_calls_a_person_decides_never_a_custom_tool() -> None:
    state = run(PAUSE)
    assert state.phase == "needs_action"
    assert awaiting(state) == ("t1", "t2")
    assert tool(state, "t1").asked and not tool(state, "c1").asked


def test_decisions_are_recorded_one_at_a_time_and_only_on_waiting_calls() -> None:
    state = decide(run(PAUSE), "t2", Decision(allow=False, by="U1", reason="no"))
    assert awaiting(state) == ("t1",) and not all_decided(state), "the custom tool still waits as well"
    assert decide(state, "t2", BY_U1) == state, "a second decision changes nothing"
    assert decide(state, "c1", BY_U1) == state, "the bridge answers custom tools"


def test_qoders_echo_keeps_the_recorded_decision() -> None:
    state = decide(run(PAUSE), "t1", BY_U1)
    echoed = fold(state, ToolConfirmation(tool_use_id="t1", allowed=True))
    assert tool(echoed, "t1").status == "running" and tool(echoed, "t1").decision == BY_U1
    other = fold(run(PAUSE), ToolConfirmation(tool_use_id="t2", allowed=False, deny_message="nope"))
    assert tool(other, "t2").decision == Decision(allow=False), "an answer from elsewhere, who unknown"
    assert decide(other, "t2", Decision(allow=False, by="U3")).items != other.items, "who is added later"


def test_a_pause_on_calls_answered_since_is_no_pause() -> None:
    paused = run([*PAUSE[:2], StatusIdle(stop_reason="requires_action", event_ids=("t1", "t2"))])
    both = decide(decide(paused, "t1", BY_U1), "t2", BY_U1)
    assert all_decided(both)
    going_on = both.model_copy(update={"phase": "running", "pending_action_ids": ()})
    # the stream replays the partial answer's re-emitted pause (only t2 then), then goes on
    after = run([StatusIdle(stop_reason="requires_action", event_ids=("t2",))], going_on)
    assert after.phase == "running"
    assert run([StatusRunning()], after).phase == "running"
    undecided = run([StatusIdle(stop_reason="requires_action", event_ids=("t9",))], going_on)
    assert undecided.phase == "needs_action", "a pause on anything not decided still pauses"


def test_a_paused_turn_that_ends_without_a_decision_says_why() -> None:
    state = decide(run(PAUSE), "t1", BY_U1)
    stopped = abandon(state, "the run was stopped", stopped=True)
    assert stopped.phase == "stopped" and awaiting(stopped) == () and stopped.pending_action_ids == ()
    assert tool(stopped, "t2").undecided == "the run was stopped"
    assert tool(stopped, "t1").undecided == "" and tool(stopped, "t1").decision == BY_U1
    assert abandon(state, "went on", stopped=False).phase == "done"
