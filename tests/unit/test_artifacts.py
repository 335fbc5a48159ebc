"""``agent.artifact_delivered``: parsed (tolerating missing fields), folded into the turn once, and shown in
the reply's timeline and the native stream with the agent-given name neutralised."""

from __future__ import annotations

from functools import reduce

import pytest

from bot.qoder import AgentMessage, ArtifactDelivered, QoderEvent, StatusIdle, parse_event, parse_frame
from bot.render import (
    artifact_name,
    format_size,
    render_stream,
    render_turn,
    upload_filename,
    upload_title,
)
from bot.turn import ArtifactItem, TextItem, TurnState, fold
from tests.fakes.slack_content import blocks_text

WIRE = (
    '{"id":"evt_1","type":"agent.artifact_delivered","file_id":"file_019f","original_filename":"ci-report.md",'
    '"content_type":"text/markdown","size":2048,"processed_at":"2026-09-14T08:06:10.000000Z"}'
)


def run(*events: QoderEvent, state: TurnState | None = None) -> TurnState:
    return reduce(fold, events, state or TurnState())


def delivered(
    file_id: str = "file_1", filename: str = "ci-report.md", size: int | None = 2048
) -> ArtifactDelivered:
    return ArtifactDelivered(id=f"evt_{file_id}", file_id=file_id, filename=filename, size=size)


def visible(state: TurnState) -> str:
    return "\n".join(blocks_text(list(message.blocks)) for message in render_turn(state))


# --- parsing ------------------------------------------------------------------------------------------------


def test_the_documented_frame_parses_into_a_typed_event() -> None:
    event = parse_frame("agent.artifact_delivered", WIRE, "evt_1")
    assert event == ArtifactDelivered(
        id="evt_1",
        cursor="evt_1",
        processed_at=event.processed_at if event is not None else None,
        file_id="file_019f",
        filename="ci-report.md",
        content_type="text/markdown",
        size=2048,
    )
    assert event is not None and event.processed_at is not None and event.resume_point == "evt_1"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ArtifactDelivered(id="evt_2", cursor="evt_2")),
        ({"size": "2048", "original_filename": 7}, ArtifactDelivered(id="evt_2", cursor="evt_2")),
        ({"size": -1, "filename": "a.txt"}, ArtifactDelivered(id="evt_2", cursor="evt_2", filename="a.txt")),
        ({"size": True, "file_id": "f"}, ArtifactDelivered(id="evt_2", cursor="evt_2", file_id="f")),
    ],
)
def test_missing_or_odd_fields_are_tolerated(fields: dict[str, object], expected: ArtifactDelivered) -> None:
    assert parse_event({"type": "agent.artifact_delivered", "id": "evt_2", **fields}) == expected


# --- folding ------------------------------------------------------------------------------------------------


def test_a_delivered_file_joins_the_timeline_in_stream_order() -> None:
    state = run(AgentMessage(id="m1", text="Here it is."), delivered(), AgentMessage(id="m2", text="Done."))
    assert [type(item) for item in state.items] == [TextItem, ArtifactItem, TextItem]
    assert state.items[1] == ArtifactItem(id="file_1", filename="ci-report.md", size=2048)


def test_a_replayed_delivery_is_folded_once_and_the_state_round_trips() -> None:
    state = run(delivered(), delivered(), delivered("file_2", "b.txt", None))
    assert [item.id for item in state.items] == ["file_1", "file_2"]
    assert TurnState.model_validate_json(state.model_dump_json()) == state


def test_an_event_without_file_id_still_shows_under_its_event_id() -> None:
    state = run(ArtifactDelivered(id="evt_9", filename="x.txt"))
    assert state.items == (ArtifactItem(id="evt_9", filename="x.txt"),)


def test_a_finished_turn_takes_no_more_files() -> None:
    done = run(StatusIdle(stop_reason="end_turn"))
    assert run(delivered(), state=done) == done


# --- rendering ----------------------------------------------------------------------------------------------


def test_the_running_and_finished_reply_list_the_file_with_its_size() -> None:
    running = run(AgentMessage(id="m1", text="Report:"), delivered())
    assert ":paperclip: ci-report.md (2 KB)" in visible(running)
    finished = run(StatusIdle(stop_reason="end_turn"), state=running)
    assert ":paperclip: ci-report.md (2 KB)" in visible(finished)


def test_an_agent_given_name_cannot_mention_anyone_or_break_lines() -> None:
    shown = visible(run(delivered(filename="<!channel>\n@here <@U123>.md", size=None)))
    assert "<!channel>" not in shown and "<@U123>" not in shown and "@here" not in shown
    assert ":paperclip: &lt;!channel&gt; @\u2060here &lt;@U123&gt;.md" in shown


def test_the_native_stream_shows_the_file_as_a_complete_card() -> None:
    view = render_stream(run(AgentMessage(id="m1", text="Report:"), delivered(filename="<!here>.md")))
    (card,) = view.tasks
    assert card.status == "complete" and card.id == "artifact-file_1"
    assert card.title.endswith(".md (2 KB)") and "<!" not in card.title
    assert card.position == len(view.markdown)


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (512, "512 B"), (1536, "1.5 KB"), (2048, "2 KB"), (20_971_520, "20 MB"), (3 << 30, "3 GB")],
)
def test_sizes_read_like_people_write_them(size: int, text: str) -> None:
    assert format_size(size) == text


def test_names_are_one_line_and_short_and_the_upload_keeps_the_original() -> None:
    assert artifact_name("a\tb\x00c\n.md") == "a b c .md"
    assert artifact_name("") == "file"
    assert len(artifact_name("x" * 500)) == 80
    assert upload_title("ci-report.md") == "ci-report.md"
    assert upload_filename("out/reports\\ci-report.md") == "ci-report.md"
    assert upload_filename("dir/") == "file"
