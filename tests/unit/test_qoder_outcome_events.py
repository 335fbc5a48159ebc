"""Outcome events on the wire → typed events: the transcripts in tests/fixtures/qoder and each variant alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from httpx_sse._decoders import SSEDecoder

from bot.qoder import (
    OutcomeDefined,
    OutcomeGrading,
    OutcomeVerdict,
    QoderEvent,
    StreamDecoder,
    parse_event,
    parse_frame,
)

TRANSCRIPTS = Path(__file__).parent.parent / "fixtures" / "qoder"


def transcript(name: str) -> list[QoderEvent]:
    decoder, stream, events = SSEDecoder(), StreamDecoder(), []
    for line in (TRANSCRIPTS / name).read_text().splitlines():
        sse = decoder.decode(line)
        if sse is not None and sse.data and (event := parse_frame(sse.event, sse.data, sse.id or None)):
            events.append(stream.feed(event))
    return events


OutcomeEvent = OutcomeDefined | OutcomeGrading | OutcomeVerdict


def outcome_events(events: list[QoderEvent]) -> list[OutcomeEvent]:
    return [e for e in events if isinstance(e, OutcomeDefined | OutcomeGrading | OutcomeVerdict)]


def test_current_transcript_gives_the_echo_then_two_graded_iterations() -> None:
    events = outcome_events(transcript("outcome-revised-then-satisfied.sse"))
    outcome = "outc_019f2a7000000000000000000000aa01"
    defined = events[0]
    assert isinstance(defined, OutcomeDefined)
    assert defined.outcome_id == outcome and defined.max_iterations == 3
    assert defined.description == "The flaky refund test passes 20 runs in a row"
    gradings = [(e.iteration, e.first) for e in events if isinstance(e, OutcomeGrading)]
    assert gradings == [(0, True), (0, False), (1, True), (1, False)]
    verdicts = [e for e in events if isinstance(e, OutcomeVerdict)]
    assert [(v.iteration, v.result, v.final, v.credits) for v in verdicts] == [
        (0, "needs_revision", False, 0.4),
        (1, "satisfied", True, 0.35),
    ]
    assert verdicts[0].explanation == "Two of twenty runs still fail with a TimeoutError."
    assert all(e.outcome_id == outcome and e.id and e.cursor == e.id for e in events)


def test_legacy_transcript_takes_type_and_id_from_the_sse_lines() -> None:
    events = transcript("outcome-legacy-max-iterations.sse")
    found = outcome_events(events)
    assert [type(e).__name__ for e in found] == [
        "OutcomeDefined",
        *["OutcomeGrading", "OutcomeGrading", "OutcomeVerdict"] * 2,
    ]
    assert all(e.id and e.id.startswith("evt_019f2a8") and e.processed_at for e in found)
    defined = found[0]
    assert isinstance(defined, OutcomeDefined)
    assert defined.description == "Coverage of payments/ is at least 90%"
    assert defined.outcome_id is None and defined.max_iterations is None
    verdicts = [e for e in found if isinstance(e, OutcomeVerdict)]
    assert [(v.result, v.explanation, v.iteration, v.credits) for v in verdicts] == [
        ("needs_revision", "Coverage is 84%.", None, None),
        ("max_iterations_reached", "Coverage is 87%.", None, None),
    ]


def echo(**fields: Any) -> QoderEvent | None:
    return parse_event({"id": "evt_1", "type": "user.define_outcome", **fields})


def test_the_echo_reads_every_documented_description_shape() -> None:
    current = echo(description="  tests pass ", max_iterations=5, outcome_id="outc_1")
    assert current == OutcomeDefined(
        id="evt_1", cursor="evt_1", outcome_id="outc_1", description="tests pass", max_iterations=5
    )
    assert isinstance(older := echo(outcome="docs updated"), OutcomeDefined)
    assert older.description == "docs updated"
    assert isinstance(o_era := echo(content=[{"type": "text", "text": "PR open"}]), OutcomeDefined)
    assert o_era.description == "PR open"


@pytest.mark.parametrize("value", [-1, 2.5, "3", True, None])
def test_counts_that_are_not_non_negative_integers_are_unknown(value: Any) -> None:
    defined = echo(description="x", max_iterations=value)
    assert isinstance(defined, OutcomeDefined) and defined.max_iterations is None
    grading = parse_event({"type": "span.outcome_evaluation_ongoing", "id": "e", "iteration": value})
    assert isinstance(grading, OutcomeGrading) and grading.iteration is None and not grading.first


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("satisfied", "satisfied"),
        ({"type": "failed"}, "failed"),
        ("graded_by_a_newer_server", "graded_by_a_newer_server"),
        (None, "unknown"),
        ({}, "unknown"),
        (7, "unknown"),
    ],
)
def test_the_verdict_result_is_a_string_or_an_object_with_a_type(result: Any, expected: str) -> None:
    verdict = parse_event({"type": "span.outcome_evaluation_end", "id": "e", "result": result})
    assert isinstance(verdict, OutcomeVerdict) and verdict.result == expected
    assert verdict.final is True


@pytest.mark.parametrize(
    ("explanation", "usage", "text", "credits"),
    [
        ("plain", {"credits": 0.25}, "plain", 0.25),
        ({"text": "an object"}, {"input_tokens": 10, "output_tokens": 2}, "an object", None),
        ([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], None, "ab", None),
        (None, "not an object", "", None),
    ],
)
def test_explanation_and_usage_are_read_in_every_shape(
    explanation: Any, usage: Any, text: str, credits: float | None
) -> None:
    wire = {"type": "span.outcome_evaluation_end", "id": "e", "result": "needs_revision"}
    verdict = parse_event({**wire, "explanation": explanation, "usage": usage})
    assert isinstance(verdict, OutcomeVerdict)
    assert (verdict.explanation, verdict.credits, verdict.final) == (text, credits, False)


def test_a_frame_without_json_type_is_typed_from_its_event_line() -> None:
    data = json.dumps({"outcome_id": "outc_9", "iteration": 2})
    event = parse_frame("span.outcome_evaluation_start", data, "evt_7")
    assert event == OutcomeGrading(id="evt_7", cursor="evt_7", outcome_id="outc_9", iteration=2, first=True)
