"""Approvals people can trust: each tool call waiting for a person has its own prompt, decided by the
person who started the turn or an approver, once; the decision stays on the reply; prompts survive a
restart, remind once, and go away when the run is stopped or goes on without them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

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
    reply,
    thread_text,
)
from tests.fakes.qoder_api import Text, Tool


def prompts(slack: FakeSlack, thread_ts: str) -> dict[str, dict[str, str]]:
    """Per tool call (block_id ``qoder_approval:<id>``) on the bot's replies: its buttons' action_id → value."""
    return {
        str(block["block_id"]).removeprefix("qoder_approval:"): {
            str(e["action_id"]): str(e["value"]) for e in block["elements"]
        }
        for message in slack.bot_replies(CHANNEL, thread_ts)
        for block in message.blocks or []
        if block.get("type") == "actions" and str(block.get("block_id", "")).startswith("qoder_approval:")
    }


def confirmations(qoder: FakeQoder) -> list[dict[str, Any]]:
    return [
        event
        for request in qoder.requests
        if request.json
        for event in request.json.get("events", [])
        if event.get("type") == "user.tool_confirmation"
    ]


def tool_id(qoder: FakeQoder, command: str) -> str:
    """The id Qoder gave the Bash call running ``command``."""
    return next(
        str(echo["id"])
        for session in qoder.sessions.values()
        for echo in session.events
        if echo["type"] == "agent.tool_use" and echo.get("input", {}).get("command") == command
    )


async def click(
    slack: FakeSlack, events: SlackEvents, ts: str, tool: str, action: str, *, user: str = "U1"
) -> None:
    value = prompts(slack, ts)[tool][action]
    holder = next(m for m in slack.bot_replies(CHANNEL, ts) if any(value in str(b) for b in m.blocks or []))
    status = await events.block_action(
        action, value, channel=CHANNEL, message_ts=holder.ts, thread_ts=ts, user=user
    )
    assert status == 200


async def paused_with(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, *commands: str, then: str = "All done."
) -> str:
    qoder.script(
        [Tool("Bash", {"command": c}, permission="ask", result=f"ran {c}") for c in commands], [Text(then)]
    )
    ts = await mention(slack, events, "do the things")
    await eventually(
        lambda: len(prompts(slack, ts)) == len(commands), message=thread_text(slack, CHANNEL, ts)
    )
    return ts


async def test_several_calls_waiting_at_once_are_decided_separately(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await paused_with(slack, qoder, events, "make build", "make test", "make deploy")
    build, test, deploy = (tool_id(qoder, c) for c in ("make build", "make test", "make deploy"))
    text = thread_text(slack, CHANNEL, ts)
    assert "make build" in text and "make deploy" in text, "each prompt shows what will run"

    await click(slack, events, ts, test, "qoder_deny")
    await eventually(
        lambda: set(prompts(slack, ts)) == {build, deploy}, message=thread_text(slack, CHANNEL, ts)
    )
    assert "denied by <@U1>" in thread_text(slack, CHANNEL, ts)
    await click(slack, events, ts, build, "qoder_approve")
    await eventually(lambda: set(prompts(slack, ts)) == {deploy}, message=thread_text(slack, CHANNEL, ts))
    assert "approved by <@U1>" in thread_text(slack, CHANNEL, ts)
    assert "Working…" not in thread_text(slack, CHANNEL, ts), "still paused on the third call"

    await click(slack, events, ts, deploy, "qoder_approve")
    await eventually(lambda: finished(slack, ts, "All done."), message=thread_text(slack, CHANNEL, ts))
    assert [(c["tool_use_id"], c["result"]) for c in confirmations(qoder)] == [
        (test, "deny"),
        (build, "allow"),
        (deploy, "allow"),
    ]
    final = thread_text(slack, CHANNEL, ts)
    assert prompts(slack, ts) == {}
    assert final.count("approved by <@U1>") == 2 and final.count("denied by <@U1>") == 1, final
    assert len(slack.bot_replies(CHANNEL, ts)) == 1, "the same reply went on"


@pytest.fixture
async def approvers_bot(env: dict[str, str], slack: FakeSlack) -> AsyncIterator[InProcessBot]:
    slack.usergroups.add("S1", ["U9"])
    running = InProcessBot({**env, "APPROVERS": "U8,S1"})
    await running.start()
    yield running
    await running.stop()


async def test_only_the_starter_and_approvers_may_decide(
    approvers_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await paused_with(slack, qoder, events, "rm -rf build", "git push")
    rm, push = tool_id(qoder, "rm -rf build"), tool_id(qoder, "git push")

    await click(slack, events, ts, rm, "qoder_approve", user="U7")
    told = await eventually(lambda: slack.ephemerals.seen_by("U7", CHANNEL))
    assert "<@U1>" in told[0].text and "approver" in told[0].text
    assert confirmations(qoder) == [], "nothing reaches Qoder"
    assert set(prompts(slack, ts)) == {rm, push}

    await click(slack, events, ts, rm, "qoder_approve", user="U9")  # a member of user group S1
    await eventually(lambda: set(prompts(slack, ts)) == {push}, message=thread_text(slack, CHANNEL, ts))
    assert "approved by <@U9>" in thread_text(slack, CHANNEL, ts)
    await click(slack, events, ts, push, "qoder_deny", user="U8")  # named in APPROVERS
    await eventually(lambda: finished(slack, ts, "All done."), message=thread_text(slack, CHANNEL, ts))
    assert [(c["tool_use_id"], c["result"]) for c in confirmations(qoder)] == [(rm, "allow"), (push, "deny")]
    assert "<@U8>" in confirmations(qoder)[1]["deny_message"]


async def test_a_denial_can_say_why(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await paused_with(slack, qoder, events, "kubectl delete ns prod", then="Understood.")
    call = tool_id(qoder, "kubectl delete ns prod")
    await click(slack, events, ts, call, "qoder_deny_reason")
    modal = await eventually(lambda: slack.views.modals, message="no modal opened")
    assert confirmations(qoder) == [], "opening the form decides nothing"
    status, answer = await events.submit_view(
        modal[-1].payload(), {"reason": "use the <!here> staging cluster"}, user="U1"
    )
    assert status == 200 and answer is None
    await eventually(lambda: finished(slack, ts, "Understood."), message=thread_text(slack, CHANNEL, ts))
    [denial] = confirmations(qoder)
    assert denial["result"] == "deny"
    assert denial["deny_message"] == "Denied in Slack by <@U1>: use the <!here> staging cluster"
    text = thread_text(slack, CHANNEL, ts)
    assert "denied by <@U1>" in text and "staging cluster" in text
    assert "<!here>" not in text, "the reason is shown neutralised"


async def test_a_pending_approval_survives_a_restart(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str]
) -> None:
    first = InProcessBot(env)
    await first.start()
    ts = await paused_with(slack, qoder, events, "make release", then="Released.")
    await first.stop()

    second = InProcessBot(env)
    await second.start()
    try:
        call = tool_id(qoder, "make release")
        assert set(prompts(slack, ts)) == {call}, "the prompt is still there"
        await click(slack, events, ts, call, "qoder_approve")
        await eventually(lambda: finished(slack, ts, "Released."), message=thread_text(slack, CHANNEL, ts))
    finally:
        await second.stop()
    assert [c["result"] for c in confirmations(qoder)] == ["allow"]
    assert len(slack.bot_replies(CHANNEL, ts)) == 1


@pytest.fixture
async def reminding_bot(env: dict[str, str]) -> AsyncIterator[InProcessBot]:
    running = InProcessBot({**env, "APPROVAL_REMIND_AFTER": "0.5"})
    await running.start()
    yield running
    await running.stop()


def reminders(slack: FakeSlack, ts: str) -> list[str]:
    return [text for text in thread_text(slack, CHANNEL, ts).split("\n") if "still waiting" in text]


async def test_a_waiting_approval_reminds_its_starter_once(
    reminding_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await paused_with(slack, qoder, events, "terraform apply")
    [reminder] = await eventually(lambda: reminders(slack, ts), timeout=5)
    assert reminder.startswith("<@U1> the agent is still waiting for your approval to run *Bash*")
    await asyncio.sleep(1.5)  # three more reminder periods pass
    assert len(reminders(slack, ts)) == 1, "one reminder per pause"
    assert confirmations(qoder) == [], "a waiting approval is never turned into a denial"
    assert set(prompts(slack, ts)) == {tool_id(qoder, "terraform apply")}


async def test_the_reminder_survives_a_restart_and_is_sent_once(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str]
) -> None:
    remind = {**env, "APPROVAL_REMIND_AFTER": "2"}
    first = InProcessBot(remind)
    await first.start()
    ts = await paused_with(slack, qoder, events, "terraform apply")
    await first.stop()  # before the reminder is due
    assert reminders(slack, ts) == []
    for _ in range(2):  # the second restart finds the reminder already sent
        bot = InProcessBot(remind)
        await bot.start()
        try:
            await eventually(lambda: reminders(slack, ts), timeout=5)
            await asyncio.sleep(0.5)
        finally:
            await bot.stop()
    assert len(reminders(slack, ts)) == 1
    assert confirmations(qoder) == []


async def test_a_stopped_paused_turn_loses_its_buttons(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await paused_with(slack, qoder, events, "make clean")
    call = tool_id(qoder, "make clean")
    value = prompts(slack, ts)[call]["qoder_approve"]
    holder = slack.bot_replies(CHANNEL, ts)[-1]
    await reply(slack, events, ts, "!stop")
    await eventually(lambda: not prompts(slack, ts), message=thread_text(slack, CHANNEL, ts))
    assert qoder.interrupts() == 1
    assert "not decided: the run was stopped" in thread_text(slack, CHANNEL, ts)
    await eventually(lambda: "octagonal_sign" in slack.messages[(CHANNEL, ts)].reactions)

    # a click on the old buttons (a client that had not refreshed) sends nothing
    await events.block_action("qoder_approve", value, channel=CHANNEL, message_ts=holder.ts, thread_ts=ts)
    await eventually(lambda: slack.ephemerals.seen_by("U1", CHANNEL))
    assert confirmations(qoder) == []


async def test_a_new_message_goes_past_a_pause_and_its_buttons_go(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    # the fake plays its scripts in order: the one after the pause answers the new message
    ts = await paused_with(slack, qoder, events, "make clean", then="Doing something else instead.")
    await reply(slack, events, ts, "never mind, do something else")
    await eventually(
        lambda: "something else instead" in thread_text(slack, CHANNEL, ts) and not prompts(slack, ts),
    )
    assert "not decided: a new message in the thread went on without it" in thread_text(slack, CHANNEL, ts)
    assert qoder.user_messages()[-1] == "never mind, do something else"
    assert confirmations(qoder) == []


@pytest.fixture
async def native_bot(env: dict[str, str]) -> AsyncIterator[InProcessBot]:
    running = InProcessBot({**env, "STREAM_MODE": "native"})
    await running.start()
    yield running
    await running.stop()


async def test_a_native_stream_pauses_with_prompts_and_shows_each_decision(
    native_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await paused_with(slack, qoder, events, "make a", "make b", then="Both ran.")
    [streamed] = slack.bot_replies(CHANNEL, ts)
    assert slack.calls_to("chat.stopStream"), "the prompts came with the stream's end"
    a, b = tool_id(qoder, "make a"), tool_id(qoder, "make b")
    await click(slack, events, ts, a, "qoder_approve")
    await eventually(lambda: set(prompts(slack, ts)) == {b}, message=thread_text(slack, CHANNEL, ts))
    assert "approved by <@U1>" in thread_text(slack, CHANNEL, ts)
    await click(slack, events, ts, b, "qoder_approve")
    await eventually(lambda: finished(slack, ts, "Both ran."), message=thread_text(slack, CHANNEL, ts))
    assert next(m.ts for m in slack.bot_replies(CHANNEL, ts)) == streamed.ts
    assert prompts(slack, ts) == {}
