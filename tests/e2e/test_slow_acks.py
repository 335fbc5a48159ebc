"""End to end: with Qoder (and some of Slack) answering slowly, every command, shortcut, submission and
button is still acknowledged within Slack's 3 s (the sender raises ``AckTimeout`` otherwise), and the
answers follow through the response_url."""

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
    thread_text,
)
from tests.e2e.slash import answers_to, slash
from tests.fakes.qoder_api import Hold, Text

SLOW = 4.0


async def test_commands_are_acknowledged_at_once_while_qoder_and_slack_are_slow(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("on it", chunks=1), Hold()])
    running = await mention(slack, events, "a long task")
    await eventually(lambda: "on it" in thread_text(slack, CHANNEL, running))

    qoder.delay("GET", "", SLOW)  # session status and the health check
    qoder.delay("POST", "/sessions", SLOW)  # creating a session
    qoder.delay("POST", "/events", SLOW)  # messages and interrupts
    slack.delay("chat.getPermalink", SLOW)

    started = time.monotonic()
    listing = await slash(slack, events, "list")
    assert listing.ack == "" and "unknown" in listing.text and "a long task" in listing.text
    assert time.monotonic() - started < SLOW, "the list gives up on slow lookups rather than wait for them"

    status = await slash(slack, events, "status")
    assert "Qoder not reachable" in status.text

    stop = await slash(slack, events, "stop 1")
    assert "Stopping *1.*" in stop.text, "said before Qoder took the interrupt"

    config = await slash(slack, events, "config agent agent_slow")
    assert "*Saved.*" in config.text

    new = await slash(slack, events, "new while everything is slow")
    assert new.ack == "Starting a Qoder session…" and "Started a Qoder session" in new.text
    button = await events.block_action(
        "qoder_stop", f"T1:{CHANNEL}:{running}", channel=CHANNEL, message_ts=running, thread_ts=running
    )
    assert button == 200

    # Everything asked for while Qoder was slow still happens once it is quick again.
    qoder.clear_faults()
    slack.delay("chat.getPermalink", 0)
    await eventually(lambda: qoder.interrupts() == 1, timeout=20)
    await eventually(lambda: "Stopped" in thread_text(slack, CHANNEL, running), timeout=20)
    roots = [m.ts for m in slack.messages.values() if m.bot_id and m.thread_ts is None]
    await eventually(lambda: finished(slack, roots[0], "You said: while everything is slow"), timeout=20)
    assert qoder.sessions[next(iter(qoder.sessions))].agent["id"] == "agent_test"
    assert [s.agent["id"] for s in qoder.sessions.values()][-1] == "agent_slow"


async def test_the_shortcut_and_its_form_are_acknowledged_at_once_while_qoder_is_slow(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.delay("POST", "/sessions", SLOW)
    slack.delay("users.info", SLOW)
    report = slack.add_user_message(CHANNEL, "the cache is stale", user="U2")
    assert (
        await events.message_shortcut(
            "qoder_ask", channel=CHANNEL, ts=report, text="the cache is stale", author="U2"
        )
        == 200
    )
    modal = await eventually(lambda: slack.views.modals[-1] if slack.views.modals else None)
    status, answer = await events.submit_view(modal.payload(), {"task": "why?"})
    assert (status, answer) == (200, None)
    await eventually(lambda: "Started a Qoder session" in answers_to(slack, events.response_urls[-1]))
    await eventually(lambda: finished(slack, report, "You said: why?"), timeout=20)
    assert "From: U2" in qoder.user_messages()[0], "the author's name was not waited for"

    assert await events.send(events.app_home_opened("U1")) == 200
    await eventually(lambda: "U1" in slack.views.homes)
