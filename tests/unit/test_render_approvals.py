"""Approval prompts: one per waiting call with what it will run, safe; decisions in their place; Slack's
block limit kept however many calls wait."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bot.interactive import parse_approval_value
from bot.models import ThreadKey
from bot.render import render_stream, render_turn
from bot.turn import Decision, ToolItem, TurnState
from tests.fakes.slack_content import validate_blocks

THREAD = ThreadKey("T1", "C1", "1700000000.000100")
VALUE = str(THREAD)


def paused(*tools: ToolItem) -> TurnState:
    return TurnState(items=tools, phase="needs_action", pending_action_ids=tuple(t.id for t in tools))


def bash(tool_id: str, command: str, **fields: Any) -> ToolItem:
    return ToolItem(
        id=tool_id, name="Bash", input={"command": command}, status="waiting", asked=True, **fields
    )


def actions(state: TurnState) -> list[dict[str, Any]]:
    return [b for m in render_turn(state, stop_value=VALUE) for b in m.blocks if b["type"] == "actions"]


def test_each_waiting_call_has_its_own_prompt_and_buttons() -> None:
    state = paused(bash("t1", "make a"), bash("t2", "make b"))
    [message] = render_turn(state, stop_value=VALUE)
    blocks = [b for b in message.blocks if b["type"] in ("section", "actions")]
    prompts = [
        (b["text"]["text"], n["block_id"]) for b, n in itertools.pairwise(blocks) if n["type"] == "actions"
    ]
    assert prompts == [
        (":raised_hand: *Bash* wants to run:\n```\nmake a\n```", "qoder_approval:t1"),
        (":raised_hand: *Bash* wants to run:\n```\nmake b\n```", "qoder_approval:t2"),
    ]
    for block, tool_id in zip(actions(state), ("t1", "t2"), strict=True):
        assert {parse_approval_value(e["value"]) for e in block["elements"]} == {(THREAD, tool_id)}


def test_many_waiting_calls_spill_over_messages_within_slacks_limits() -> None:
    state = paused(*(bash(f"t{i}", f"step {i}") for i in range(40)))
    messages = render_turn(state, stop_value=VALUE)
    assert len(messages) > 1
    for message in messages:
        validate_blocks(list(message.blocks))  # ≤ 50 blocks, sections ≤ 3000, as the fake Slack checks
        ids = [b.get("block_id") for b in message.blocks if b.get("block_id")]
        assert len(ids) == len(set(ids))
    assert [b["block_id"] for b in actions(state)] == [f"qoder_approval:t{i}" for i in range(40)]
    for message in messages:  # a prompt and its buttons stay together
        for block, after in zip(message.blocks, [*message.blocks[1:], None], strict=False):
            if block["type"] == "section" and "wants to run" in block["text"]["text"]:
                assert after is not None and after["type"] == "actions"


@pytest.mark.parametrize(
    "command",
    ["echo ``` <!here> <@U123> & done", "```\nrm -rf /\n```", "x" * 5000, "<" * 3000, "&" * 3000],
)
def test_what_will_run_is_neutralised_and_cannot_break_its_code_block(command: str) -> None:
    [message] = render_turn(paused(bash("t1", command)), stop_value=VALUE)
    text = next(
        b["text"]["text"] for b in message.blocks if b["type"] == "section" and "wants" in b["text"]["text"]
    )
    inner = text.split("```\n", 1)[1].rsplit("\n```", 1)[0]
    assert "```" not in inner and "<" not in inner and "<!here>" not in text
    assert len(text) <= 3000
    validate_blocks(list(message.blocks))


def test_other_tools_show_their_input_as_compact_json() -> None:
    tool = ToolItem(id="t1", name="Write", input={"file_path": "a.py", "n": 1}, status="waiting")
    [message] = render_turn(paused(tool), stop_value=VALUE)
    assert ':raised_hand: *Write* wants to run:\n```\n{"file_path":"a.py","n":1}\n```' in message.text


def test_a_decided_call_says_who_decided_what_and_when_without_buttons() -> None:
    denied = bash(
        "t1", "git push", decision=Decision(allow=False, by="U1", at=1700000000, reason="<!channel> no")
    )
    state = paused(denied, bash("t2", "make"))
    [message] = render_turn(state, stop_value=VALUE)
    assert (
        ":no_entry_sign: *Bash* `git push` — denied by <@U1> at <!date^1700000000^{time}|22:13 UTC>: "
        "“&lt;!channel&gt; no”"
    ) in message.text.split("\n\n")
    assert "<!channel>" not in message.text
    assert [b["block_id"] for b in actions(state)] == ["qoder_approval:t2"]


def test_a_forged_decider_is_not_shown_as_a_mention() -> None:
    tool = bash("t1", "ls", decision=Decision(allow=True, by="<!here>", at=0))
    [message] = render_turn(paused(tool, bash("t2", "x")), stop_value=VALUE)
    assert "— approved" in message.text and "<!here>" not in message.text


def test_a_stopped_turn_keeps_the_record_and_offers_nothing() -> None:
    state = TurnState(
        items=(
            bash("t1", "ls", decision=Decision(allow=True, by="U1", at=0)),
            bash("t2", "rm", undecided="the run was stopped"),
        ),
        phase="stopped",
    )
    [message] = render_turn(state, stop_value=VALUE)
    assert not actions(state)
    assert ":white_check_mark: *Bash* `ls` — approved by <@U1>" in message.text
    assert ":heavy_minus_sign: *Bash* `rm` — not decided: the run was stopped" in message.text


def test_a_paused_native_stream_ends_with_the_prompts_within_its_block_budget() -> None:
    view = render_stream(paused(*(bash(f"t{i}", f"s{i}") for i in range(30))), thread_value=VALUE)
    assert len(view.blocks) <= 40
    validate_blocks(list(view.blocks))
    assert "more waiting" in str(view.blocks[-1])
    assert render_stream(paused(bash("t1", "s")), thread_value=None).blocks[-1]["type"] == "section"
    assert render_stream(TurnState(phase="done")).blocks == ()
