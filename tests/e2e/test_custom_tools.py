"""Custom tools never hang a run: a tool the Slack bridge does not provide is answered at once with an
error, a tool ``CUSTOM_TOOLS`` gives to ``ask_thread`` asks its question in the thread and answers with a
person's reply, each exactly once, across restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.turn import TurnState
from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    SubprocessBot,
    eventually,
    finished,
    mention,
    reply,
    thread_text,
)
from tests.e2e.test_activity import approval_buttons
from tests.fakes.qoder_api import CustomTool, Sleep, Text, Tool

ASK_ENV = {"CUSTOM_TOOLS": "ask_user=ask_thread"}


def results(qoder: FakeQoder) -> list[tuple[str, bool]]:
    """(text, is_error) of every ``user.custom_tool_result`` the fake accepted, in order."""
    return [(str(echo["content"][0]["text"]), bool(echo["is_error"])) for echo in qoder.custom_tool_results()]


def questions(slack: FakeSlack, thread_ts: str) -> list[str]:
    return [text for text in thread_text(slack, CHANNEL, thread_ts).split("\n") if "The agent asks" in text]


@pytest.fixture
async def asking_bot(env: dict[str, str]) -> AsyncIterator[InProcessBot]:
    running = InProcessBot({**env, **ASK_ENV})
    await running.start()
    yield running
    await running.stop()


async def test_a_tool_the_bridge_does_not_provide_is_answered_with_an_error_and_the_run_goes_on(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([CustomTool("lookup_oncall", {"team": "payments"})], [Text("No pager tool; carrying on.")])
    ts = await mention(slack, events, "who is on call?")
    await eventually(lambda: finished(slack, ts, "carrying on"), message=thread_text(slack, CHANNEL, ts))

    assert results(qoder) == [("The Slack bridge does not provide the tool `lookup_oncall`.", True)]
    assert qoder.user_messages() == ["who is on call?"], "nobody had to write again"
    notice = "asked for the tool `lookup_oncall`, which the Slack bridge does not provide"
    await eventually(
        lambda: notice in thread_text(slack, CHANNEL, ts), message=thread_text(slack, CHANNEL, ts)
    )
    assert "1 failed" in thread_text(slack, CHANNEL, ts), "the reply counts the tool as failed"
    await eventually(lambda: "white_check_mark" in slack.messages[(CHANNEL, ts)].reactions)


async def test_ask_thread_asks_in_the_thread_and_returns_a_persons_reply(
    asking_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script(
        [Text("Checking.", chunks=1), CustomTool("ask_user", {"question": "Which branch, @channel?"})],
        [Text("Deploying main.")],
    )
    ts = await mention(slack, events, "deploy")
    asked = await eventually(lambda: questions(slack, ts), message=thread_text(slack, CHANNEL, ts))
    question = next(m for m in slack.bot_replies(CHANNEL, ts) if "The agent asks" in slack.visible_text(m))
    assert "<@U1>" in question.text, "the question mentions who started the turn"
    assert "Which branch, @\u2060channel?" in question.text, "the agent's words are neutralised"
    assert len(asked) == 1
    assert results(qoder) == [], "the answer waits for a person"

    answer_ts = await reply(slack, events, ts, "main, please", user="U2")
    await eventually(lambda: finished(slack, ts, "Deploying main."), message=thread_text(slack, CHANNEL, ts))
    assert results(qoder) == [("main, please", False)]
    assert qoder.user_messages() == ["deploy"], "the reply was the answer, not a new message"
    await eventually(lambda: "white_check_mark" in slack.messages[(CHANNEL, answer_ts)].reactions)

    await reply(slack, events, ts, "thanks")  # no question waits any more: an ordinary message
    await eventually(lambda: qoder.user_messages() == ["deploy", "thanks"])
    assert len(results(qoder)) == 1


async def test_a_waiting_question_survives_a_restart_and_is_asked_and_answered_once(
    env: dict[str, str], slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([CustomTool("ask_user", {"env": "prod"})], [Text("Rolled back.")])
    first = InProcessBot({**env, **ASK_ENV})
    await first.start()
    try:
        ts = await mention(slack, events, "roll back?")
        asked = await eventually(lambda: questions(slack, ts), message=thread_text(slack, CHANNEL, ts))
        assert '{"env":"prod"}' in thread_text(slack, CHANNEL, ts), asked  # no question: the input itself
    finally:
        await first.stop()

    second = InProcessBot({**env, **ASK_ENV})
    await second.start()
    try:
        await reply(slack, events, ts, "yes")
        await eventually(lambda: finished(slack, ts, "Rolled back."), message=thread_text(slack, CHANNEL, ts))
    finally:
        await second.stop()
    assert results(qoder) == [("yes", False)]
    assert len(questions(slack, ts)) == 1, "the restart did not ask again"


def custom_tool_result_requests(qoder: FakeQoder) -> list[int | None]:
    """The status of every request that carried a ``user.custom_tool_result`` (None: not answered yet)."""
    return [
        request.status
        for request in qoder.requests
        if request.method == "POST"
        and request.path.endswith("/events")
        and any(
            event.get("type") == "user.custom_tool_result" for event in (request.json or {}).get("events", [])
        )
    ]


async def test_a_reply_taken_as_the_answer_survives_a_crash_before_it_reaches_qoder(
    env: dict[str, str], slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([CustomTool("ask_user", {"question": "Which branch?"})], [Text("Deploying main.")])
    first = SubprocessBot({**env, **ASK_ENV})
    await first.start()
    try:
        ts = await mention(slack, events, "deploy")
        await eventually(lambda: questions(slack, ts), message=thread_text(slack, CHANNEL, ts))
        # The answer is held at Qoder's door until the process is gone: it never arrives, as if the bot
        # had died on the way (a late arrival would be a replay of the same idempotency key).
        qoder.delay("POST", "/events", 30.0, times=1)
        answer_ts = await reply(slack, events, ts, "main, please", user="U2")
        await eventually(lambda: custom_tool_result_requests(qoder) == [None])
    finally:
        first.kill()
    assert results(qoder) == []

    second = SubprocessBot({**env, **ASK_ENV})
    await second.start()
    try:
        await eventually(
            lambda: finished(slack, ts, "Deploying main."), message=thread_text(slack, CHANNEL, ts)
        )
        await eventually(lambda: "white_check_mark" in slack.messages[(CHANNEL, answer_ts)].reactions)
    finally:
        await second.terminate()
    assert results(qoder) == [("main, please", False)], "the reply the first process took is the answer"
    assert qoder.user_messages() == ["deploy"], "and not a new message"
    assert len(questions(slack, ts)) == 1, "the question was not asked again"


async def test_a_pause_with_an_approval_and_a_custom_tool(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script(
        [
            Tool("Bash", {"command": "make clean"}, permission="ask", result="cleaned"),
            CustomTool("notify", {}),
        ],
        [Text("Cleaned, nobody notified.")],
    )
    ts = await mention(slack, events, "clean up")
    await eventually(lambda: results(qoder), message="the custom tool should be answered at once")
    assert results(qoder) == [("The Slack bridge does not provide the tool `notify`.", True)]
    buttons = await eventually(lambda: approval_buttons(slack, ts), message=thread_text(slack, CHANNEL, ts))
    assert "Waiting for your approval to run *Bash*" in thread_text(slack, CHANNEL, ts)
    # Qoder re-emits requires_action with the approval alone; the turn pauses on it again.
    assert bot.runtime is not None
    store = bot.runtime.store
    (sid,) = qoder.sessions

    bash = next(e["id"] for e in qoder.history(sid) if e["type"] == "agent.tool_use")

    async def paused_on_approval_only() -> bool:
        turn = await store.get_turn(sid)
        if turn is None or turn.active:
            return False
        return TurnState.model_validate_json(turn.state_json).pending_action_ids == (bash,)

    await eventually(paused_on_approval_only)

    reply_ts = slack.bot_replies(CHANNEL, ts)[0].ts
    value = str(buttons["qoder_approve"]["value"])
    await events.block_action("qoder_approve", value, channel=CHANNEL, message_ts=reply_ts, thread_ts=ts)
    await eventually(lambda: finished(slack, ts, "nobody notified"), message=thread_text(slack, CHANNEL, ts))
    confirmations = [
        e
        for r in qoder.requests
        if r.json
        for e in r.json.get("events", [])
        if e.get("type") == "user.tool_confirmation"
    ]
    assert [c["result"] for c in confirmations] == ["allow"]
    assert len(results(qoder)) == 1, "answered once, though the turn paused twice"


async def test_stop_while_a_question_waits_stops_the_run(
    asking_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([CustomTool("ask_user", {"question": "Proceed?"})], [Text("Proceeding anyway.")])
    ts = await mention(slack, events, "migrate")
    await eventually(lambda: questions(slack, ts), message=thread_text(slack, CHANNEL, ts))

    await reply(slack, events, ts, "!stop")
    await eventually(lambda: qoder.interrupts() == 1, message=thread_text(slack, CHANNEL, ts))
    await eventually(
        lambda: "Stopped" in thread_text(slack, CHANNEL, ts), message=thread_text(slack, CHANNEL, ts)
    )
    await eventually(lambda: "octagonal_sign" in slack.messages[(CHANNEL, ts)].reactions)
    assert [error for _, error in results(qoder)] == [True]
    assert qoder.user_messages() == ["migrate"], "!stop was not taken as the answer"


async def test_a_pause_left_unanswered_by_a_crash_is_answered_at_startup(
    env: dict[str, str], slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    # The pause comes a second after the message, so the failure below is armed before the bot answers it.
    qoder.script([Sleep(1.0), CustomTool("lookup_oncall", {})], [Text("Moving on.")])
    first = InProcessBot(env)
    await first.start()
    try:
        ts = await mention(slack, events, "page someone")
        await eventually(lambda: qoder.user_messages() == ["page someone"])
        # The answer never reaches Qoder, as if the bot had died between the pause and the answer.
        qoder.fail_next("POST", "/events", 403)
        await eventually(
            lambda: "couldn't give the agent the result" in thread_text(slack, CHANNEL, ts),
            message=thread_text(slack, CHANNEL, ts),
        )
    finally:
        await first.stop()
    assert results(qoder) == []

    second = InProcessBot(env)
    await second.start()
    try:
        await eventually(lambda: finished(slack, ts, "Moving on."), message=thread_text(slack, CHANNEL, ts))
    finally:
        await second.stop()
    assert [error for _, error in results(qoder)] == [True]
    assert qoder.user_messages() == ["page someone"]


async def test_a_stop_reaction_on_the_question_stops_the_run(
    asking_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([CustomTool("ask_user", {"question": "Drop the table?"})], [Text("Dropped.")])
    ts = await mention(slack, events, "tidy the database")
    await eventually(lambda: questions(slack, ts), message=thread_text(slack, CHANNEL, ts))
    question = next(m for m in slack.bot_replies(CHANNEL, ts) if "The agent asks" in slack.visible_text(m))

    assert await events.send(events.reaction(CHANNEL, "U2", "octagonal_sign", question.ts)) == 200
    await eventually(
        lambda: "Stopped" in thread_text(slack, CHANNEL, ts), message=thread_text(slack, CHANNEL, ts)
    )
    assert qoder.interrupts() == 1
    assert "Dropped." not in thread_text(slack, CHANNEL, ts)
