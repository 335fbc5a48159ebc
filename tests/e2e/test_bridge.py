"""End to end: the real app over HTTP, signed Slack events in, fake Slack and fake Qoder on the other side."""

from __future__ import annotations

import time

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
    reply_texts,
    thread_text,
)
from tests.e2e.slash import slash
from tests.fakes.qoder_api import Hold, Sleep, Text, Tool


async def test_mention_starts_a_session_and_streams_the_answer(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script(
        [
            Tool("Bash", {"command": "pytest -q"}, result="3 passed"),
            Text("All *three* tests pass.", chunks=6, delay=0.15),
        ]
    )
    ts = await mention(slack, events, "are the tests green?")

    session = await eventually(
        lambda: next(iter(qoder.sessions.values()), None), message="no session created"
    )
    assert session.metadata == {
        "source": "slack",
        "slack_team": "T1",
        "slack_channel": CHANNEL,
        "slack_thread_ts": ts,
    }
    assert qoder.user_messages() == ["are the tests green?"]
    await eventually(lambda: finished(slack, ts, "All"), message="answer never finished in the thread")

    replies = slack.bot_replies(CHANNEL, ts)
    assert len(replies) == 1, "one turn, one reply"
    assert "All" in slack.visible_text(replies[0]) and "three" in slack.visible_text(replies[0])
    assert replies[0].edits >= 2, "the reply should edit itself while the answer streams"
    assert any("Bash" in version or "pytest" in version for version in replies[0].versions)
    added = [(c.args.get("timestamp"), c.args.get("name")) for c in slack.calls_to("reactions.add") if c.ok]
    assert (ts, "eyes") in added, "the user's message showed it was received"
    await eventually(
        lambda: set(slack.messages[(CHANNEL, ts)].reactions) == {"white_check_mark"},
        message="the user's message should end up marked done (and no longer as received)",
    )


async def test_follow_up_in_thread_continues_the_same_session(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "first question")
    await eventually(lambda: finished(slack, ts, "You said: first question"))
    await reply(slack, events, ts, "and a follow-up")

    await eventually(lambda: finished(slack, ts, "You said: and a follow-up"))
    assert len(qoder.sessions) == 1
    assert qoder.user_messages() == ["first question", "and a follow-up"]
    assert len(slack.bot_replies(CHANNEL, ts)) == 2


async def test_reply_in_an_unknown_thread_is_ignored(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    root = slack.add_user_message(CHANNEL, "people chatting", user="U2")
    await reply(slack, events, root, "not for the bot")
    await mention(slack, events, "canary")  # processed after the ignored one
    await eventually(lambda: qoder.user_messages() == ["canary"], message=str(qoder.user_messages()))
    assert slack.bot_replies(CHANNEL, root) == []


async def test_direct_message_gets_its_own_session(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = slack.add_user_message("D1", "hello in private", user="U1")
    assert await events.send(events.message("D1", "U1", "hello in private", ts, channel_type="im")) == 200
    await eventually(lambda: finished(slack, ts, "You said: hello in private", channel="D1"))
    session = next(iter(qoder.sessions.values()))
    assert session.metadata["slack_channel"] == "D1"


async def test_stop_reaction_on_the_root_interrupts_the_run(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("Working on it", chunks=1), Hold()])
    ts = await mention(slack, events, "long task")
    await eventually(lambda: "Working on it" in thread_text(slack, CHANNEL, ts))

    assert await events.send(events.reaction(CHANNEL, "U1", "octagonal_sign", ts)) == 200
    await eventually(lambda: qoder.interrupts() == 1, message="no interrupt reached Qoder")
    await eventually(
        lambda: "Stopped" in thread_text(slack, CHANNEL, ts), message=thread_text(slack, CHANNEL, ts)
    )
    assert "Working on it" in thread_text(slack, CHANNEL, ts), "what was said before the stop stays"


async def test_stop_reaction_on_a_bot_reply_with_skin_tone_interrupts(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("Step one", chunks=1), Hold()])
    ts = await mention(slack, events, "another long task")
    await eventually(lambda: "Step one" in thread_text(slack, CHANNEL, ts))
    bot_reply = slack.bot_replies(CHANNEL, ts)[0]

    await events.send(events.reaction(CHANNEL, "U2", "no_entry::skin-tone-3", bot_reply.ts))
    await eventually(lambda: "Stopped" in thread_text(slack, CHANNEL, ts))
    assert qoder.interrupts() == 1


async def test_other_reactions_do_not_stop(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("thinking hard", chunks=1), Sleep(1.0), Text("done now")])
    ts = await mention(slack, events, "task")
    await events.send(events.reaction(CHANNEL, "U1", "thumbsup", ts))
    await eventually(lambda: finished(slack, ts, "done now"))
    assert qoder.interrupts() == 0


async def test_duplicate_deliveries_reach_the_agent_once(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "start")
    await eventually(lambda: finished(slack, ts, "You said: start"))

    # A reply that also mentions the bot arrives as app_mention AND message, and Slack retries one of them.
    text = "<@UBOT> once please"
    reply_ts = slack.add_user_message(CHANNEL, text, user="U1", thread_ts=ts)
    assert (
        await events.send(events.app_mention(CHANNEL, "U1", text, reply_ts, thread_ts=ts), event_id="EvA")
        == 200
    )
    assert (
        await events.send(events.message(CHANNEL, "U1", text, reply_ts, thread_ts=ts), event_id="EvB") == 200
    )
    assert (
        await events.send(
            events.app_mention(CHANNEL, "U1", text, reply_ts, thread_ts=ts), event_id="EvA", retry_num=1
        )
        == 200
    )
    await eventually(
        lambda: finished(slack, ts, "You said: once please"),
        message=f"{qoder.user_messages()} {reply_texts(slack, CHANNEL, ts)}",
    )
    await mention(slack, events, "canary", thread_ts=ts)
    await eventually(lambda: finished(slack, ts, "You said: canary"))
    assert qoder.user_messages() == ["start", "once please", "canary"]
    assert len(slack.bot_replies(CHANNEL, ts)) == 3


async def test_bad_signature_is_rejected_and_nothing_is_sent(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = slack.add_user_message(CHANNEL, "<@UBOT> forged", user="U1")
    status = await events.send(events.app_mention(CHANNEL, "U1", "<@UBOT> forged", ts), bad_signature=True)
    assert status == 401
    await mention(slack, events, "genuine")
    await eventually(lambda: qoder.user_messages() == ["genuine"], message=str(qoder.user_messages()))
    assert slack.bot_replies(CHANNEL, ts) == []


async def test_bot_messages_edits_and_joins_are_ignored(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "hello")
    await eventually(lambda: finished(slack, ts, "You said: hello"))
    other = slack.add_user_message(CHANNEL, "from another bot", user="U9", thread_ts=ts)
    await events.send(events.message(CHANNEL, None, "from another bot", other, thread_ts=ts, bot_id="B9"))
    await events.send(events.message(CHANNEL, "U1", "edited", ts, thread_ts=ts, subtype="message_changed"))
    await events.send(events.message(CHANNEL, "U3", "joined", other, thread_ts=ts, subtype="channel_join"))
    await reply(slack, events, ts, "canary")
    await eventually(lambda: finished(slack, ts, "You said: canary"))
    assert qoder.user_messages() == ["hello", "canary"]


async def test_message_while_busy_is_queued_and_sent_after_the_turn(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("slow start", chunks=1), Sleep(1.5), Text("first answer")])
    ts = await mention(slack, events, "first")
    await eventually(lambda: "slow start" in thread_text(slack, CHANNEL, ts))
    second = await reply(slack, events, ts, "second")

    await eventually(lambda: "hourglass_flowing_sand" in slack.messages[(CHANNEL, second)].reactions)
    assert qoder.user_messages() == ["first"], "nothing is sent while the turn runs"
    await eventually(lambda: finished(slack, ts, "You said: second"), timeout=15)
    assert qoder.user_messages() == ["first", "second"]
    texts = reply_texts(slack, CHANNEL, ts)
    assert "first answer" in texts[0] and "You said: second" in texts[1]


async def test_slash_command_help_list_status_and_new(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    answer = await slash(slack, events, "help", answers=0)
    assert "/qoder new" in answer.ack and "octagonal_sign" in answer.ack

    answer = await slash(slack, events, "list")
    assert answer.ack == "" and "No Qoder sessions" in answer.text

    started = time.monotonic()
    answer = await slash(slack, events, "new write the release notes", user="U7")
    assert answer.ack == "Starting a Qoder session…" and time.monotonic() - started < 3
    assert "Started a Qoder session" in answer.text
    root = await eventually(
        lambda: next((m for m in slack.messages.values() if m.thread_ts is None and m.bot_id), None)
    )
    assert "write the release notes" in root.text and "<@U7>" in root.text
    await eventually(lambda: finished(slack, root.ts, "You said: write the release notes"))

    answer = await slash(slack, events, "list")
    assert "write the release notes" in answer.text and "idle" in answer.text

    answer = await slash(slack, events, "status")
    assert "Qoder reachable" in answer.text and "0 active run" in answer.text


async def test_a_bare_mention_gets_a_hint_and_starts_nothing(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = slack.add_user_message(CHANNEL, "<@UBOT>", user="U1")
    assert await events.send(events.app_mention(CHANNEL, "U1", "<@UBOT>  ", ts)) == 200
    await eventually(lambda: "What should the agent do?" in thread_text(slack, CHANNEL, ts))
    assert qoder.sessions == {} and qoder.user_messages() == []


async def test_a_file_without_a_download_reaches_the_agent_as_its_name_with_a_note(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "look at this")
    await eventually(lambda: finished(slack, ts, "You said: look at this"))
    file_ts = slack.add_user_message(CHANNEL, "here is the log", user="U1", thread_ts=ts)
    event = events.message(
        CHANNEL,
        "U1",
        "here is the log",
        file_ts,
        thread_ts=ts,
        subtype="file_share",
        files=[{"id": "F1", "name": "ci.log"}],
    )
    assert await events.send(event) == 200
    await eventually(lambda: len(qoder.user_messages()) == 2)
    assert qoder.user_messages()[1] == "here is the log\n\n(Attached in Slack but not passed on: ci.log)"
    await eventually(lambda: "I couldn't pass ci.log to the agent" in thread_text(slack, CHANNEL, ts))
