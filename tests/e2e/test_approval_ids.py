"""Approve / Deny buttons keep their action_ids unique within their block (Slack refuses repeats), and a
click on any of the numbered ones is still an approval or a denial."""

from __future__ import annotations

import pytest

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    eventually,
    mention,
    thread_text,
)
from tests.fakes.qoder_api import Text, Tool


def approval_values(slack: FakeSlack, thread_ts: str) -> list[str]:
    return [
        str(element["value"])
        for message in slack.bot_replies(CHANNEL, thread_ts)
        for block in message.blocks or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if str(element.get("action_id", "")).startswith("qoder_deny")
    ]


@pytest.mark.parametrize(("action_id", "result"), [("qoder_deny.3", "deny"), ("qoder_approve.1", "allow")])
async def test_a_numbered_approval_button_answers_the_tool_call_it_names(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, action_id: str, result: str
) -> None:
    qoder.script([Tool("Bash", {"command": "make deploy"}, permission="ask", result="done")], [Text("Over.")])
    ts = await mention(slack, events, "deploy")
    [value] = await eventually(lambda: approval_values(slack, ts), message=thread_text(slack, CHANNEL, ts))
    reply = slack.bot_replies(CHANNEL, ts)[-1]
    status = await events.block_action(action_id, value, channel=CHANNEL, message_ts=reply.ts, thread_ts=ts)
    assert status == 200
    confirmations = await eventually(
        lambda: [
            e
            for r in qoder.requests
            if r.json
            for e in r.json.get("events", [])
            if e.get("type") == "user.tool_confirmation"
        ]
    )
    assert [c["result"] for c in confirmations] == [result]
