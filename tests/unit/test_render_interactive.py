"""Button values: what the renderer puts on a button is what the listeners read back from a click."""

from __future__ import annotations

import pytest

from bot.interactive import (
    APPROVE_ACTION_ID,
    DENY_ACTION_ID,
    DENY_REASON_ACTION_ID,
    STOP_ACTION_ID,
    approval_value,
    parse_approval_value,
    parse_stop_value,
    stop_value,
)
from bot.models import ThreadKey
from bot.render import render_turn
from bot.turn import TextItem, ToolItem, TurnState

THREAD = ThreadKey("T1", "C1", "1700000000.000100")


def elements(state: TurnState) -> list[dict[str, str]]:
    blocks = render_turn(state, stop_value=stop_value(THREAD))[-1].blocks
    return [element for block in blocks if block["type"] == "actions" for element in block["elements"]]


def test_the_stop_button_names_its_thread() -> None:
    [button] = elements(TurnState(items=(TextItem(id="a", text="hi", partial=True),)))
    assert button["action_id"] == STOP_ACTION_ID
    assert parse_stop_value(button["value"]) == THREAD


def test_approval_buttons_name_their_thread_and_tool_call() -> None:
    tool = ToolItem(id="toolu_1", name="Bash", input={"command": "ls"}, status="waiting")
    buttons = elements(TurnState(items=(tool,), phase="needs_action", pending_action_ids=("toolu_1",)))
    assert [button["action_id"] for button in buttons] == [
        APPROVE_ACTION_ID,
        DENY_ACTION_ID,
        DENY_REASON_ACTION_ID,
    ]
    for button in buttons:
        assert parse_approval_value(button["value"]) == (THREAD, "toolu_1")


def test_the_action_ids_are_distinct() -> None:
    assert len({STOP_ACTION_ID, APPROVE_ACTION_ID, DENY_ACTION_ID, DENY_REASON_ACTION_ID}) == 4


@pytest.mark.parametrize("value", ["", "nonsense", "T1:C1", "T1::1.0", "a:b:c:d"])
def test_a_stop_value_the_bot_did_not_make_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_stop_value(value)


@pytest.mark.parametrize("value", ["", "toolu_1", "|toolu_1", "nonsense|toolu_1", f"{THREAD}"])
def test_an_approval_value_the_bot_did_not_make_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_approval_value(value)


def test_approval_values_round_trip() -> None:
    assert parse_approval_value(approval_value(stop_value(THREAD), "t1")) == (THREAD, "t1")


@pytest.mark.parametrize("tool_use_id", ["toolu_1", "a|b", "|", "x:y|z"])
def test_any_tool_call_id_survives_the_round_trip(tool_use_id: str) -> None:
    assert parse_approval_value(approval_value(stop_value(THREAD), tool_use_id)) == (THREAD, tool_use_id)
