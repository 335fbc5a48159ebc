"""Golden payloads: every fixture transcript folded into a turn and rendered as the bot would post it.

Regenerate with ``UPDATE_GOLDEN=1`` and read the diff as a person would before committing it.
"""

from __future__ import annotations

import json
import os
from functools import reduce
from pathlib import Path
from typing import Any

import pytest
from httpx_sse._decoders import SSEDecoder

from bot.qoder import QoderEvent, StreamDecoder, parse_frame
from bot.render import render_turn
from bot.turn import TurnState, fold

FIXTURES = Path("/work/shared/qoder-fixtures")
GOLDEN = Path(__file__).parent.parent / "golden" / "fixtures"
STOP_VALUE = "T1:C1:1700000000.000100"
NOW = 1_789_372_800.0  # when a transcript carries no times at all
RUNNING_FRAMES = ("02-thinking-tool-use-turn", "03-incremental-deltas-turn")


def fixture_events(path: Path) -> list[QoderEvent]:
    decoder, stream, events = SSEDecoder(), StreamDecoder(), []
    for line in path.read_text(encoding="utf-8").splitlines():
        sse = decoder.decode(line)
        if sse is not None and sse.data and (event := parse_frame(sse.event, sse.data, sse.id or None)):
            events.append(stream.feed(event))
    return events


def rendered(events: list[QoderEvent]) -> list[dict[str, Any]]:
    """The payloads for the turn after ``events``; "now" is the last event's time, so goldens are stable."""
    state = reduce(fold, events, TurnState())
    times = [event.processed_at for event in events if event.processed_at is not None]
    now = max(times) if times else NOW
    return [message.payload() for message in render_turn(state, stop_value=STOP_VALUE, now=now)]


def assert_golden(name: str, actual: list[dict[str, Any]]) -> None:
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"no golden yet: run with UPDATE_GOLDEN=1 ({path})"
    assert actual == json.loads(path.read_text(encoding="utf-8")), f"regenerate with UPDATE_GOLDEN=1 ({path})"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.sse")), ids=lambda path: path.stem)
def test_fixture_final_frame(path: Path) -> None:
    assert_golden(path.stem, rendered(fixture_events(path)))


@pytest.mark.parametrize("name", RUNNING_FRAMES)
def test_fixture_running_frame(name: str) -> None:
    events = fixture_events(FIXTURES / f"{name}.sse")
    payloads = rendered(events[: len(events) // 2])
    assert any(block["type"] == "actions" for block in payloads[-1]["blocks"]), "still running: stop button"
    assert_golden(f"{name}.running", payloads)
