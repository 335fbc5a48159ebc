"""End to end: the "Ask Qoder" message shortcut opens a modal and starts a session in the message's
thread, with the message as quoted context."""

from __future__ import annotations

from typing import Any

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
from tests.e2e.slash import answers_to
from tests.fakes.slack_views import View

ASK = "qoder_ask"
REPORT = (
    "The nightly build fails in test_refund since <https://ci.example.com/42|build 42> &amp; nobody knows why"
)


async def ask(
    slack: FakeSlack,
    events: SlackEvents,
    ts: str,
    *,
    channel: str = CHANNEL,
    author: str = "U2",
    thread_ts: str | None = None,
) -> View:
    """U1 chooses Ask Qoder on message ``ts``; returns the modal the bot opened."""
    before = len(slack.views.modals)
    text = slack.messages[(channel, ts)].text
    status = await events.message_shortcut(
        ASK, channel=channel, ts=ts, text=text, author=author, thread_ts=thread_ts
    )
    assert status == 200
    modals: list[View] = await eventually(lambda: slack.views.modals[before:], message="no modal opened")
    return modals[0]


def field(view: View, block_id: str) -> dict[str, Any]:
    block = next(b for b in view.blocks if b.get("block_id") == block_id)
    return dict(block["element"])


async def test_ask_qoder_starts_a_session_under_the_message_with_it_as_context(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    report = slack.add_user_message(CHANNEL, REPORT, user="U2")
    modal = await ask(slack, events, report)
    prefill = field(modal, "task")["initial_value"]
    assert prefill.startswith("Help with this message: “The nightly build fails in test_refund")
    assert "<@U2>" in str(modal.blocks[0])

    status, answer = await events.submit_view(
        modal.payload(), {"task": "Find out why and propose a fix", "outcome": "the cause is named"}
    )
    assert (status, answer) == (200, None), "the modal closes"
    await eventually(
        lambda: finished(slack, report, "satisfied"), message=thread_text(slack, CHANNEL, report), timeout=15
    )

    (asked,) = [m for m in slack.thread(CHANNEL, report) if m.bot_id and "asked Qoder" in m.text]
    assert asked.thread_ts == report and "<@U1> asked Qoder: Find out why and propose a fix" in asked.text
    (session,) = qoder.sessions.values()
    assert session.metadata["slack_thread_ts"] == report
    assert qoder.user_messages() == [], "the outcome's turn starts from the task: no user.message follows"
    (outcome,) = qoder.outcomes(session.id)
    assert outcome["rubric"] == {"type": "text", "content": "the cause is named"}
    first = outcome["description"]
    assert first.startswith("Find out why and propose a fix\n\n[Quoted Slack message")
    assert "From: user-u2 · https://fake-workspace.slack.com/archives/C1/p" in first
    assert (
        "> The nightly build fails in test_refund since build 42 (https://ci.example.com/42) & nobody"
        in first
    )
    assert first.endswith("[End of quoted message]")
    assert "Started a Qoder session" in answers_to(slack, events.response_urls[-1])


async def test_a_submission_without_a_task_is_refused_inside_the_modal(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    report = slack.add_user_message(CHANNEL, "flaky again", user="U2")
    modal = await ask(slack, events, report)
    status, answer = await events.submit_view(modal.payload(), {"task": "   "})
    assert status == 200 and answer == {
        "response_action": "errors",
        "errors": {"task": "Tell Qoder what to do."},
    }
    assert qoder.sessions == {} and slack.bot_replies(CHANNEL, report) == []


async def test_ask_qoder_on_a_reply_continues_that_threads_session(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    root = await mention(slack, events, "look at the deploy")
    await eventually(lambda: finished(slack, root, "You said: look at the deploy"))
    reply = slack.add_user_message(CHANNEL, "it failed again at 10:02", user="U2", thread_ts=root)
    modal = await ask(slack, events, reply, thread_ts=root)
    await events.submit_view(modal.payload(), {"task": "what changed at 10:02?"})
    await eventually(lambda: len(qoder.user_messages()) == 2)
    assert len(qoder.sessions) == 1
    assert qoder.user_messages()[1].startswith("what changed at 10:02?\n\n[Quoted Slack message")
    await eventually(lambda: finished(slack, root, "You said: what changed at 10:02?"))


async def test_ask_qoder_joins_a_public_channel_and_explains_a_private_one(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.conversations.add("C2", "public", member=False)
    slack.conversations.add("G1", "private", member=False)
    public = slack.add_user_message("C2", "public question", user="U2")
    secret = slack.add_user_message("G1", "private question", user="U2")

    modal = await ask(slack, events, secret, channel="G1")
    await events.submit_view(modal.payload(), {"task": "answer it"})
    await eventually(
        lambda: "I'm not in this private conversation" in answers_to(slack, events.response_urls[-1])
    )
    assert qoder.sessions == {}

    modal = await ask(slack, events, public, channel="C2")
    await events.submit_view(modal.payload(), {"task": "answer it"})
    await eventually(lambda: finished(slack, public, "You said: answer it", channel="C2"))
    assert [c.ok for c in slack.calls_to("conversations.join")] == [False, True]
