"""End to end: the ``!`` commands in threads and DMs, over HTTP against the fakes."""

from __future__ import annotations

import pytest

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    bot_environment,
    eventually,
    finished,
    mention,
    reply,
    thread_text,
)
from tests.fakes.qoder_api import Hold, Text

CONSOLE = "https://console.example/sessions/{session_id}"


@pytest.fixture
def env(slack: FakeSlack, qoder: FakeQoder, store_url: str, port: int) -> dict[str, str]:
    return bot_environment(slack, qoder, store_url, port, QODER_SESSION_URL=CONSOLE)


def told(slack: FakeSlack, thread_ts: str, *, channel: str = CHANNEL, user: str = "U1") -> str:
    """Everything ``user`` was shown in the thread by ephemerals, in order."""
    return "\n".join(e.text for e in slack.ephemerals.seen_by(user, channel, thread_ts))


async def dm(slack: FakeSlack, events: SlackEvents, text: str, *, thread_ts: str | None = None) -> str:
    ts = slack.add_user_message("D1", text, user="U1", thread_ts=thread_ts)
    event = events.message("D1", "U1", text, ts, thread_ts=thread_ts, channel_type="im")
    assert await events.send(event) == 200
    return ts


async def test_help_and_unknown_words_answer_the_sender_alone_and_reach_no_agent(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "first")
    await eventually(lambda: finished(slack, ts, "You said: first"))
    await reply(slack, events, ts, "!help")
    await eventually(lambda: "`!outcome <what done looks like>`" in told(slack, ts), message=told(slack, ts))
    await reply(slack, events, ts, "!frobnicate the build")
    await eventually(lambda: "I don't know `!frobnicate`" in told(slack, ts), message=told(slack, ts))
    assert "`!stop`" in told(slack, ts).split("I don't know")[1], "an unknown word gets the help"
    await reply(slack, events, ts, "canary")
    await eventually(lambda: finished(slack, ts, "You said: canary"))
    assert qoder.user_messages() == ["first", "canary"]
    assert len(slack.bot_replies(CHANNEL, ts)) == 2, "commands post nothing in the thread"
    assert slack.ephemerals.seen_by("U2") == []


async def test_a_double_bang_sends_the_rest_to_the_agent(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "!!stop is my favourite word")
    await eventually(lambda: finished(slack, ts, "You said: !stop is my favourite word"))
    await reply(slack, events, ts, "!!status")
    await eventually(lambda: finished(slack, ts, "You said: !status"))
    assert qoder.user_messages() == ["!stop is my favourite word", "!status"]
    assert slack.ephemerals.shown == []


async def test_stop_interrupts_the_run_and_says_so_when_nothing_runs(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("Working on it", chunks=1), Hold()])
    ts = await mention(slack, events, "long task")
    await eventually(lambda: "Working on it" in thread_text(slack, CHANNEL, ts))
    await reply(slack, events, ts, "!stop")
    await eventually(lambda: qoder.interrupts() == 1, message="no interrupt reached Qoder")
    await eventually(lambda: finished(slack, ts, "Stopped"), message=thread_text(slack, CHANNEL, ts))
    await eventually(lambda: "octagonal_sign" in slack.messages[(CHANNEL, ts)].reactions)
    await reply(slack, events, ts, "!STOP")
    await eventually(lambda: "Nothing is running" in told(slack, ts))
    assert qoder.interrupts() == 1 and qoder.user_messages() == ["long task"]


async def test_status_shows_state_running_time_credits_queue_and_link(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    fresh = await mention(slack, events, "!status")
    await eventually(lambda: "no Qoder session in this thread yet" in told(slack, fresh))
    assert qoder.sessions == {}, "asking for the status creates nothing"

    qoder.script([Text("Working on it", chunks=1), Hold()])
    ts = await mention(slack, events, "long task")
    await eventually(lambda: "Working on it" in thread_text(slack, CHANNEL, ts))
    queued = await reply(slack, events, ts, "and then this")
    await eventually(lambda: "hourglass_flowing_sand" in slack.messages[(CHANNEL, queued)].reactions)
    sid = next(iter(qoder.sessions))
    await reply(slack, events, ts, "!status")
    await eventually(lambda: "Queued messages" in told(slack, ts), message=told(slack, ts))
    status = told(slack, ts)
    assert f"*Qoder session* `{sid}` — :hourglass_flowing_sand: running for" in status
    assert "Credits used so far: 0.00" in status and "Agent working time so far: 0s" in status
    assert "Queued messages: 1" in status
    assert f"<https://console.example/sessions/{sid}|Open the session in Qoder>" in status

    await reply(slack, events, ts, "!stop")
    await eventually(lambda: finished(slack, ts, "You said: and then this"), timeout=15)
    await reply(slack, events, ts, "!status")
    await eventually(lambda: told(slack, ts).count("*Qoder session*") == 2)
    last = told(slack, ts).split("*Qoder session*")[-1]
    assert ":white_circle: idle" in last and "Queued messages: 0" in last
    assert "Credits used so far: 0.50" in last, "both turns' model requests are counted"
    assert qoder.user_messages() == ["long task", "and then this"]


async def test_new_archives_the_session_and_the_next_message_starts_a_fresh_one(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "first")
    await eventually(lambda: finished(slack, ts, "You said: first"))
    old = next(iter(qoder.sessions))
    await reply(slack, events, ts, "!new")
    await eventually(lambda: "Started over" in thread_text(slack, CHANNEL, ts))
    assert qoder.sessions[old].archived_at is not None
    await reply(slack, events, ts, "second")
    await eventually(lambda: finished(slack, ts, "You said: second"))
    fresh = [sid for sid in qoder.sessions if sid != old]
    assert len(fresh) == 1 and qoder.user_messages(fresh[0]) == ["second"]
    assert qoder.user_messages(old) == ["first"]
    assert "no longer available" not in thread_text(slack, CHANNEL, ts)
    assert qoder.sessions[fresh[0]].metadata["slack_thread_ts"] == ts


async def test_new_with_a_task_starts_the_fresh_session_with_it_and_waits_for_a_run(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("busy", chunks=1), Hold()])
    ts = await mention(slack, events, "first")
    await eventually(lambda: "busy" in thread_text(slack, CHANNEL, ts))
    old = next(iter(qoder.sessions))
    await reply(slack, events, ts, "!new")
    await eventually(lambda: "`!stop` it first" in told(slack, ts))
    assert qoder.sessions[old].archived_at is None and len(qoder.sessions) == 1

    await reply(slack, events, ts, "!stop")
    await eventually(lambda: finished(slack, ts, "Stopped"))
    await reply(slack, events, ts, "!new  write the release notes")
    await eventually(lambda: finished(slack, ts, "You said: write the release notes"))
    fresh = [sid for sid in qoder.sessions if sid != old]
    assert len(fresh) == 1 and qoder.user_messages(fresh[0]) == ["write the release notes"]
    assert qoder.sessions[old].archived_at is not None


async def test_commands_work_in_direct_messages(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    help_ts = await dm(slack, events, "!help")
    await eventually(lambda: "`!status`" in told(slack, help_ts, channel="D1"))
    ts = await dm(slack, events, "hello in private")
    await eventually(lambda: finished(slack, ts, "You said: hello in private", channel="D1"))
    await dm(slack, events, "!status", thread_ts=ts)
    await eventually(lambda: ":white_circle: idle" in told(slack, ts, channel="D1"))
    await dm(slack, events, "!!help", thread_ts=ts)
    await eventually(lambda: finished(slack, ts, "You said: !help", channel="D1"))
    await dm(slack, events, "!new", thread_ts=ts)
    await eventually(lambda: "Started over" in thread_text(slack, "D1", ts))
    assert qoder.user_messages() == ["hello in private", "!help"]
    assert len(qoder.sessions) == 2, "the DM thread got a fresh session; !help started none"


async def test_an_outcome_without_criteria_gets_its_usage(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "!outcome")
    await eventually(lambda: "Tell me what done looks like" in told(slack, ts))
    assert qoder.sessions == {} and qoder.outcomes() == []


async def test_a_double_bang_asked_mid_thread_keeps_its_meaning_after_the_quoted_context(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    root = slack.add_user_message(CHANNEL, "what does !stop do here?", user="U7")
    await mention(slack, events, "!!stop explain this", thread_ts=root)
    await eventually(lambda: qoder.user_messages(), timeout=15)
    [first] = qoder.user_messages()
    assert "user-u7: what does !stop do here?" in first and first.endswith("\n\n!stop explain this")
    assert qoder.interrupts() == 0
