"""Folding outcome events into a turn: the transcripts in tests/fixtures/qoder, and each rule on its own."""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from pathlib import Path

from httpx_sse._decoders import SSEDecoder

from bot.qoder import (
    AgentThinking,
    OutcomeDefined,
    OutcomeGrading,
    OutcomeVerdict,
    QoderEvent,
    StatusIdle,
    StreamDecoder,
    UserInterrupt,
    parse_frame,
)
from bot.turn import TurnState, fold
from bot.turn_outcome import OutcomeState, advance

TRANSCRIPTS = Path(__file__).parent.parent / "fixtures" / "qoder"


def transcript(name: str) -> list[QoderEvent]:
    decoder, stream, events = SSEDecoder(), StreamDecoder(), []
    for line in (TRANSCRIPTS / name).read_text().splitlines():
        sse = decoder.decode(line)
        if sse is not None and sse.data and (event := parse_frame(sse.event, sse.data, sse.id or None)):
            events.append(stream.feed(event))
    return events


def run(events: Iterable[QoderEvent], state: TurnState | None = None) -> TurnState:
    return reduce(fold, events, state or TurnState())


def test_the_current_transcript_ends_satisfied_on_the_second_iteration() -> None:
    events = transcript("outcome-revised-then-satisfied.sse")
    state = run(events)
    assert state.phase == "done" and state.outcome is not None
    assert state.outcome.model_dump() == {
        "description": "The flaky refund test passes 20 runs in a row",
        "outcome_id": "outc_019f2a7000000000000000000000aa01",
        "max_iterations": 3,
        "iteration": 1,
        "verdicts": 2,
        "grading": False,
        "result": "satisfied",
        "explanation": "All 20 runs pass.",
    }
    assert state.outcome.final
    assert state.credits == 1.5 + 0.4 + 1.25 + 0.35 + 0.5, "model requests and grading both cost"


def test_the_current_transcript_shows_grading_and_revision_on_the_way() -> None:
    events = transcript("outcome-revised-then-satisfied.sse")
    seen = []
    state = TurnState()
    for event in events:
        state = fold(state, event)
        if state.outcome is not None:
            seen.append((state.outcome.iteration, state.outcome.grading, state.outcome.result))
    assert (0, True, None) in seen, "grading the first attempt"
    assert (0, False, "needs_revision") in seen, "the agent revises"
    assert (1, True, "needs_revision") in seen, "grading the second attempt"
    assert seen[-1] == (1, False, "satisfied")


def test_the_legacy_transcript_counts_iterations_itself() -> None:
    state = run(transcript("outcome-legacy-max-iterations.sse"))
    assert state.phase == "done" and state.outcome is not None
    assert (state.outcome.description, state.outcome.max_iterations) == (
        "Coverage of payments/ is at least 90%",
        None,
    )
    assert (state.outcome.iteration, state.outcome.verdicts) == (1, 2)
    assert (state.outcome.result, state.outcome.explanation) == ("max_iterations_reached", "Coverage is 87%.")
    assert state.credits is None, "token-count usage has no credits"


def test_what_the_bridge_asked_for_is_kept_when_the_echo_says_less() -> None:
    asked = TurnState(outcome=OutcomeState(description="tests pass", max_iterations=5))
    state = fold(asked, OutcomeDefined(id="e1", outcome_id="outc_1", description="other words"))
    assert state.outcome == OutcomeState(description="tests pass", outcome_id="outc_1", max_iterations=5)


def test_events_of_another_outcome_start_a_fresh_state() -> None:
    first = OutcomeState(description="a", outcome_id="outc_1", result="satisfied", verdicts=1)
    after = advance(first, OutcomeGrading(id="e", outcome_id="outc_2", iteration=0, first=True))
    assert after == OutcomeState(outcome_id="outc_2", iteration=0, grading=True)
    same = advance(first, OutcomeGrading(id="e", outcome_id=None, iteration=3))
    assert same.description == "a" and same.iteration == 3, "an event without an id belongs to the one held"


def test_spans_without_an_outcome_defined_still_show() -> None:
    state = fold(TurnState(), OutcomeVerdict(id="e", result="failed", explanation="rubric contradicts task"))
    assert state.outcome == OutcomeState(verdicts=1, result="failed", explanation="rubric contradicts task")


def test_grading_clears_the_thinking_indicator_and_a_verdict_adds_its_credits() -> None:
    state = run([AgentThinking(id="t"), OutcomeGrading(id="g", iteration=0, first=True)])
    assert not state.thinking and state.outcome is not None and state.outcome.grading
    state = fold(state.model_copy(update={"credits": 1.0}), OutcomeVerdict(id="v", result="x", credits=0.25))
    assert state.credits == 1.25


def test_an_interrupted_outcome_turn_is_stopped() -> None:
    events: list[QoderEvent] = [
        OutcomeGrading(id="g", outcome_id="outc_1", iteration=0, first=True),
        UserInterrupt(id="i"),
        OutcomeVerdict(id="v", outcome_id="outc_1", iteration=0, result="interrupted"),
        StatusIdle(id="s", stop_reason="cancelled"),
    ]
    state = run(events, TurnState(outcome=OutcomeState(description="d", max_iterations=3)))
    assert state.phase == "stopped" and state.outcome is not None and state.outcome.result == "interrupted"


def test_a_turn_ended_mid_evaluation_keeps_what_was_known() -> None:
    events: list[QoderEvent] = [
        OutcomeVerdict(id="v", iteration=0, result="needs_revision", explanation="not yet"),
        StatusIdle(id="s", stop_reason="end_turn"),
    ]
    state = run(events, TurnState(outcome=OutcomeState(description="d")))
    assert state.phase == "done" and state.outcome is not None and not state.outcome.final


def test_outcome_state_survives_being_stored() -> None:
    state = run(transcript("outcome-revised-then-satisfied.sse"))
    assert TurnState.model_validate_json(state.model_dump_json()) == state
    assert TurnState.model_validate_json('{"phase": "running"}').outcome is None, "records from before"


def test_as_defined_forgets_the_evaluation() -> None:
    graded = OutcomeState(description="d", outcome_id="o", max_iterations=2, verdicts=2, result="failed")
    assert graded.as_defined() == OutcomeState(description="d", outcome_id="o", max_iterations=2)
