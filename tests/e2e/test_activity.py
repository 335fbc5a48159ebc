"""Live activity around a turn: the working status, the reactions on the user's message, the Stop button."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    eventually,
    finished,
    mention,
    thread_text,
)
from tests.fakes.qoder_api import Hold, Sleep, Text, Tool


def stop_buttons(slack: FakeSlack, thread_ts: str) -> list[dict[str, object]]:
    return [
        element
        for message in slack.bot_replies(CHANNEL, thread_ts)
        for block in message.blocks or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("action_id") == "qoder_stop"
    ]


async def test_thread_shows_working_status_while_the_turn_runs_and_clears_it(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Tool("Grep", {"pattern": "TODO"}), Sleep(0.5), Text("found them")])
    ts = await mention(slack, events, "find the TODOs")
    await eventually(
        lambda: slack.statuses.get((CHANNEL, ts)) == "is working…", message=str(slack.status_history)
    )
    await eventually(
        lambda: "found them" in thread_text(slack, CHANNEL, ts) and slack.statuses.get((CHANNEL, ts)) == ""
    )
    set_after_reply = [s for (c, t, s) in slack.status_history if (c, t) == (CHANNEL, ts)]
    assert set_after_reply[-1] == "", "the status is cleared when the turn ends"


async def test_stop_button_interrupts_and_disappears_after_the_turn(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("on my way", chunks=1), Hold()])
    ts = await mention(slack, events, "long job")
    buttons = await eventually(lambda: stop_buttons(slack, ts), message="no Stop button while running")
    reply = slack.bot_replies(CHANNEL, ts)[-1]

    status = await events.block_action(
        "qoder_stop", str(buttons[0]["value"]), channel=CHANNEL, message_ts=reply.ts, thread_ts=ts
    )
    assert status == 200
    await eventually(lambda: qoder.interrupts() == 1, message="the Stop button sent no interrupt")
    await eventually(lambda: "Stopped" in thread_text(slack, CHANNEL, ts))
    await eventually(
        lambda: not stop_buttons(slack, ts), message="the Stop button should be gone after the turn"
    )
    await eventually(lambda: "octagonal_sign" in slack.messages[(CHANNEL, ts)].reactions)


async def test_a_forged_stop_value_is_ignored(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("busy", chunks=1), Sleep(1.0), Text("finished")])
    ts = await mention(slack, events, "job")
    await eventually(lambda: stop_buttons(slack, ts))
    reply = slack.bot_replies(CHANNEL, ts)[-1]
    assert await events.block_action("qoder_stop", "nonsense", channel=CHANNEL, message_ts=reply.ts) == 200
    assert (
        await events.block_action("qoder_stop", f"T1:C1:{reply.ts}", channel=CHANNEL, message_ts=reply.ts)
        == 200
    )
    await eventually(lambda: "finished" in thread_text(slack, CHANNEL, ts) and not stop_buttons(slack, ts))
    assert qoder.interrupts() == 0


@pytest.fixture
async def custom_bot(env: dict[str, str]) -> AsyncIterator[InProcessBot]:
    running = InProcessBot(
        {**env, "REACTION_RECEIVED": "inbox_tray", "REACTION_DONE": ":tada:", "WORKING_STATUS": ""}
    )
    await running.start()
    yield running
    await running.stop()


async def test_reaction_names_and_status_are_configurable(
    custom_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "hi")
    await eventually(lambda: set(slack.messages[(CHANNEL, ts)].reactions) == {"tada"})
    names = [c.args.get("name") for c in slack.calls_to("reactions.add")]
    assert names == ["inbox_tray", "tada"]
    assert slack.calls_to("assistant.threads.setStatus") == [], "an empty WORKING_STATUS turns the status off"


def approval_buttons(slack: FakeSlack, thread_ts: str) -> dict[str, dict[str, object]]:
    return {
        str(element["action_id"]): element
        for message in slack.bot_replies(CHANNEL, thread_ts)
        for block in message.blocks or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if str(element.get("action_id", "")).startswith(("qoder_approve", "qoder_deny"))
    }


async def test_a_tool_waiting_for_approval_is_approved_from_slack(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script(
        [Tool("Bash", {"command": "rm -rf build"}, permission="ask", result="removed")],
        [Text("Build directory cleaned.")],
    )
    ts = await mention(slack, events, "clean the build")
    buttons = await eventually(lambda: approval_buttons(slack, ts), message=thread_text(slack, CHANNEL, ts))
    assert "Waiting for your approval" in thread_text(slack, CHANNEL, ts)
    assert set(buttons) == {"qoder_approve", "qoder_deny", "qoder_deny_reason"}
    reply = slack.bot_replies(CHANNEL, ts)[-1]

    value = str(buttons["qoder_approve"]["value"])
    assert (
        await events.block_action("qoder_approve", value, channel=CHANNEL, message_ts=reply.ts, thread_ts=ts)
        == 200
    )
    assert (
        await events.block_action("qoder_approve", value, channel=CHANNEL, message_ts=reply.ts, thread_ts=ts)
        == 200
    )
    await eventually(
        lambda: finished(slack, ts, "Build directory cleaned."), message=thread_text(slack, CHANNEL, ts)
    )
    confirmations = [
        e
        for r in qoder.requests
        if r.json
        for e in r.json.get("events", [])
        if e.get("type") == "user.tool_confirmation"
    ]
    assert [c["result"] for c in confirmations] == ["allow"], "a double click answers once"
    assert not approval_buttons(slack, ts), "the buttons are gone once the turn goes on"
    assert len(slack.bot_replies(CHANNEL, ts)) == 1, "the same reply continues"


async def test_a_denied_tool_is_reported_to_the_agent(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script(
        [Tool("Bash", {"command": "git push --force"}, permission="ask")], [Text("Understood, not pushing.")]
    )
    ts = await mention(slack, events, "push it")
    buttons = await eventually(lambda: approval_buttons(slack, ts))
    reply = slack.bot_replies(CHANNEL, ts)[-1]
    value = str(buttons["qoder_deny"]["value"])
    await events.block_action(
        "qoder_deny", value, channel=CHANNEL, message_ts=reply.ts, thread_ts=ts, user="U1"
    )
    await eventually(lambda: finished(slack, ts, "not pushing"), message=thread_text(slack, CHANNEL, ts))
    denial = next(
        e
        for r in qoder.requests
        if r.json
        for e in r.json.get("events", [])
        if e.get("type") == "user.tool_confirmation"
    )
    assert denial["result"] == "deny" and "<@U1>" in denial["deny_message"]
