"""Rendering an outcome turn: goldens of the outcome transcripts, every verdict's words, the running lines,
the native stream's card and footer, and safety of the text that comes from people and the grader."""

from __future__ import annotations

from functools import reduce
from pathlib import Path

import pytest

from bot.qoder import OutcomeGrading, OutcomeVerdict, QoderEvent, ToolResult, ToolUse
from bot.render import render_stream, render_turn
from bot.turn import TurnState, fold
from bot.turn_outcome import OutcomeState
from tests.unit.test_render_fixtures import assert_golden, fixture_events, rendered

TRANSCRIPTS = Path(__file__).parent.parent / "fixtures" / "qoder"
STOP = "T1:C1:1700000000.000100"
ASKED = OutcomeState(description="the refund test passes", max_iterations=3)


def text(state: TurnState) -> str:
    return "\n".join(message.text for message in render_turn(state, stop_value=STOP, now=100.0))


@pytest.mark.parametrize("name", ["outcome-revised-then-satisfied", "outcome-legacy-max-iterations"])
def test_outcome_transcripts_final_frame(name: str) -> None:
    assert_golden(name, rendered(fixture_events(TRANSCRIPTS / f"{name}.sse")))


def test_outcome_transcript_while_grading() -> None:
    events = fixture_events(TRANSCRIPTS / "outcome-revised-then-satisfied.sse")
    grading = next(i for i, e in enumerate(events) if isinstance(e, OutcomeGrading) and e.iteration == 1)
    payloads = rendered(events[: grading + 1])
    assert "Grading (iteration 2 of 3)" in payloads[-1]["text"]
    assert_golden("outcome-revised-then-satisfied.grading", payloads)


def after(*events: QoderEvent, phase: str = "done") -> TurnState:
    state = reduce(fold, events, TurnState(outcome=ASKED, started_at=0.0))
    return state.model_copy(update={"phase": phase, "ended_at": 41.0})


@pytest.mark.parametrize(
    ("result", "words"),
    [
        ("satisfied", ":white_check_mark: satisfied (iteration 2 of 3)"),
        ("max_iterations_reached", ":x: not met: max iterations reached (iteration 2 of 3)"),
        ("failed", ":warning: failed (iteration 2 of 3)"),
        ("interrupted", ":octagonal_sign: interrupted (iteration 2 of 3)"),
        ("needs_revision", ":repeat: needs revision (iteration 2 of 3)"),
        ("graded_by_a_newer_server", ":grey_question: graded by a newer server (iteration 2 of 3)"),
    ],
)
def test_every_verdict_is_on_the_summary_line_with_the_graders_words(result: str, words: str) -> None:
    state = after(OutcomeVerdict(id="v", iteration=1, result=result, explanation="Because  of\nreasons."))
    first = render_turn(state, stop_value=STOP, now=100.0)[0]
    summary = first.blocks[0]
    assert summary["type"] == "context"
    lines = summary["elements"][0]["text"].split("\n")
    assert lines == [f":dart: Outcome “the refund test passes” {words}", "_Grader:_ Because of reasons."]


def test_the_verdict_joins_the_tools_line_and_an_ungraded_outcome_says_so() -> None:
    state = after(ToolUse(id="t", tool_use_id="t", name="Bash"), ToolResult(id="r", tool_use_id="t"))
    summary = render_turn(state, stop_value=STOP, now=100.0)[0].blocks[0]["elements"][0]["text"]
    assert (
        summary == ":white_check_mark: Ran 1 tool in 41s · :dart: Outcome “the refund test passes” not graded"
    )


def test_running_lines_show_grading_then_revision() -> None:
    grading = after(OutcomeGrading(id="g", iteration=0, first=True), phase="running")
    assert ":hourglass_flowing_sand: Grading (iteration 1 of 3)…" in text(grading)
    revising = fold(
        grading, OutcomeVerdict(id="v", iteration=0, result="needs_revision", explanation="2 fail")
    )
    shown = text(revising)
    assert ":repeat: Needs revision (iteration 1 of 3); revising…" in shown and "_Grader:_ 2 fail" in shown
    assert ":dart: Outcome “the refund test passes”" in shown and "_Working…_" in shown
    final = fold(revising, OutcomeVerdict(id="w", iteration=1, result="satisfied", explanation="ok"))
    assert ":white_check_mark: Satisfied (iteration 2 of 3)" in text(final), "the last reply is being written"


def test_an_unknown_limit_shows_the_iteration_alone() -> None:
    state = after(OutcomeVerdict(id="v", result="satisfied")).model_copy(
        update={"outcome": OutcomeState(description="d", verdicts=1, result="satisfied")}
    )
    assert "satisfied (iteration 1)" in text(state)


def test_text_from_people_and_the_grader_cannot_ping_or_break_out() -> None:
    outcome = OutcomeState(
        description="<!channel> ping @here ```x```",
        verdicts=1,
        result="<@U1>",
        explanation="see <https://evil|here> @everyone",
    )
    shown = text(TurnState(outcome=outcome, phase="done"))
    for raw in ("<!channel>", "<@U1>", "<https://evil", "@here", "@everyone", "```"):
        assert raw not in shown
    assert "&lt;!channel&gt;" in shown


def test_a_long_description_and_explanation_are_cut() -> None:
    outcome = OutcomeState(description="d" * 500, verdicts=1, result="failed", explanation="e" * 2000)
    shown = text(TurnState(outcome=outcome, phase="done"))
    assert "d" * 149 + "…" in shown and "d" * 151 not in shown
    assert "e" * 299 + "…" in shown and "e" * 301 not in shown


def test_a_turn_without_an_outcome_says_nothing_of_outcomes() -> None:
    assert "Outcome" not in text(TurnState(phase="done")) and "Grad" not in text(TurnState())


def test_native_stream_has_one_outcome_card_and_the_verdict_in_its_footer() -> None:
    grading = after(OutcomeGrading(id="g", iteration=0, first=True), phase="running")
    [card] = render_stream(grading).tasks
    assert (card.id, card.status, card.title) == (
        "outcome",
        "in_progress",
        "Grading the outcome (iteration 1 of 3)",
    )
    assert render_stream(grading).footer == ""
    cases = {"needs_revision": "complete", "satisfied": "complete", "failed": "error", "interrupted": "error"}
    for result, status in cases.items():
        state = fold(grading, OutcomeVerdict(id="v", iteration=0, result=result, explanation="why"))
        [card] = render_stream(state).tasks
        assert (card.status, card.output) == (status, "why")
    done = after(OutcomeVerdict(id="v", iteration=0, result="satisfied", explanation="all good"))
    footer = render_stream(done, now=100.0).footer
    assert ":dart: Outcome “the refund test passes” :white_check_mark: satisfied (iteration 1 of 3)" in footer
    assert "_Grader:_ all good" in footer
    assert render_stream(TurnState(outcome=ASKED)).tasks == (), "no card before grading starts"
