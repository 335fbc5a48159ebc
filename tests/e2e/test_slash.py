"""End to end: ``/qoder new``, ``list``, ``stop``, ``status`` and ``help`` over HTTP, answered within Slack's
3 s and then through the command's response_url."""

from __future__ import annotations

import asyncio

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
from tests.e2e.slash import bot_roots, slash
from tests.fakes.qoder_api import Hold, Text


async def test_help_and_bad_input_are_answered_in_the_acknowledgement(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    for text in ("", "help"):
        answer = await slash(slack, events, text, answers=0)
        assert (
            "`/qoder stop &lt;n&gt;`" in answer.ack
            and "`/qoder config`" in answer.ack
            and "Ask Qoder" in answer.ack
        )
    refusals = {
        "deploy it": "`/qoder deploy` isn't a command",
        "new": "Tell me what to do",
        "new fix it --agent": "`--agent` needs a value",
        'new fix it --outcome "never closed': "opens a quote that never closes",
        "stop": "Which one?",
        "stop three": "`three` isn't a session number",
        "config colour blue": "Use `/qoder config`",
    }
    for text, expected in refusals.items():
        answer = await slash(slack, events, text, answers=0)
        assert expected in answer.ack, (text, answer.ack)
    assert slack.responses == [] and bot_roots(slack) == [] and qoder.sessions == {}


async def test_new_with_options_runs_that_agent_environment_and_outcome(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    answer = await slash(
        slack,
        events,
        "new fix the login test --agent agent_other --env=env_other --outcome “CI is green, nothing else changed”",
        user="U7",
    )
    assert answer.ack == "Starting a Qoder session…"
    (root,) = await eventually(lambda: bot_roots(slack))
    assert (
        "<https://fake-workspace.slack.com/archives/C1/p" in answer.text and "in this thread" in answer.text
    )
    root_text = slack.messages[(CHANNEL, root)].text
    assert (
        "<@U7> asked Qoder: fix the login test" in root_text
        and "CI is green, nothing else changed" in root_text
    )
    assert "agent `agent_other`" in root_text

    await eventually(lambda: finished(slack, root, "satisfied"), timeout=15)
    (session,) = qoder.sessions.values()
    assert (session.agent["id"], session.environment_id) == ("agent_other", "env_other")
    assert session.metadata["slack_thread_ts"] == root
    types = [e["type"] for e in qoder.history(session.id) if e["type"].startswith("user.")]
    assert types == ["user.define_outcome"], "defining the outcome starts the turn: no user.message follows"
    (outcome,) = qoder.outcomes(session.id)
    assert outcome["description"] == "fix the login test"
    assert outcome["rubric"] == {"type": "text", "content": "CI is green, nothing else changed"}
    assert "Working on: fix the login test" in thread_text(slack, CHANNEL, root)


async def test_list_numbers_the_channels_sessions_and_stop_takes_a_number(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("on it", chunks=1), Hold()])
    long_ts = await mention(slack, events, "the long task")
    await eventually(lambda: "on it" in thread_text(slack, CHANNEL, long_ts))
    quick_ts = await mention(slack, events, "the quick task")
    await eventually(lambda: finished(slack, quick_ts, "You said: the quick task"))
    await mention(slack, events, "elsewhere", channel="C9")

    listing = (await slash(slack, events, "list")).text
    first, second = listing.index("*1.*"), listing.index("*2.*")
    assert first < listing.index("the quick task") < second < listing.index("the long task")
    assert "elsewhere" not in listing and "running" in listing and "idle" in listing
    assert f"archives/{CHANNEL}/p{long_ts.replace('.', '')}" in listing

    assert "isn't running" in (await slash(slack, events, "stop 1")).text
    assert "There's no session 3 here: `/qoder list` shows 2" in (await slash(slack, events, "stop 3")).text
    assert qoder.interrupts() == 0

    answer = await slash(slack, events, "stop 2")
    assert "Stopping *2.*" in answer.text and "the long task" in answer.text
    await eventually(lambda: qoder.interrupts() == 1)
    await eventually(lambda: "Stopped" in thread_text(slack, CHANNEL, long_ts))
    assert "There are no Qoder sessions" in (await slash(slack, events, "stop 1", channel="C5")).text


async def test_status_reports_health_and_what_this_channel_runs(
    bot: InProcessBot, slack: FakeSlack, events: SlackEvents
) -> None:
    answer = await slash(slack, events, "status")
    assert answer.ack == ""
    assert "store ok" in answer.text and "Qoder reachable" in answer.text and "0 active run" in answer.text
    assert "agent `agent_test`" in answer.text and "environment `env_test`" in answer.text


async def test_new_in_a_public_channel_the_bot_is_not_in_joins_it(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.conversations.add("C2", "public", member=False)
    answer = await slash(slack, events, "new summarise the open incidents", channel="C2")
    assert "Started a Qoder session" in answer.text
    assert [c.ok for c in slack.calls_to("conversations.join")] == [True]
    (root,) = bot_roots(slack, "C2")
    await eventually(lambda: finished(slack, root, "You said: summarise the open incidents", channel="C2"))


async def test_new_where_the_bot_cannot_post_says_why_and_starts_nothing(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.conversations.add("G1", "private", member=False)
    slack.conversations.add("D5", "im", member=False)
    private = await slash(slack, events, "new fix it", channel="G1")
    assert private.ack == "Starting a Qoder session…"
    assert "I'm not in this private conversation" in private.text and "/invite @Qoder" in private.text
    direct = await slash(slack, events, "new fix it", channel="D5")
    assert "I can't post in a conversation between other people" in direct.text
    assert qoder.sessions == {} and [c for c in slack.calls_to("chat.postMessage") if c.ok] == []


async def test_new_reaches_qoder_without_waiting_for_the_link_it_answers_with(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.delay("chat.getPermalink", 1.5)
    qoder.script([Text("on it")])
    answering = asyncio.create_task(slash(slack, events, "new look into the outage"))
    await eventually(lambda: qoder.user_messages(), timeout=1.2, message="the session waited for the link")
    answer = await answering
    assert "<https://fake-workspace.slack.com/archives/C1/p" in answer.text
