"""End to end: opening the app's Home tab publishes the viewer's recent sessions, how to start one and
the workspace's defaults."""

from __future__ import annotations

import json

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    eventually,
    finished,
    mention,
)
from tests.e2e.slash import slash
from tests.fakes.slack_api import blocks_text


def home_text(slack: FakeSlack, user: str) -> str:
    return blocks_text(slack.views.homes[user].blocks)


async def test_the_home_tab_shows_the_viewers_sessions_newest_first(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    alpha = await mention(slack, events, "alpha task")
    await eventually(lambda: finished(slack, alpha, "You said: alpha task"))
    await slash(slack, events, "new beta task", channel="C2")
    await eventually(lambda: len(qoder.user_messages()) == 2)
    other = slack.add_user_message(CHANNEL, "<@UBOT> someone else's task", user="U5")
    await events.send(events.app_mention(CHANNEL, "U5", "<@UBOT> someone else's task", other))
    await eventually(lambda: len(qoder.user_messages()) == 3)

    assert await events.send(events.app_home_opened("U1")) == 200
    await eventually(lambda: "U1" in slack.views.homes, message="no Home tab published")
    text = home_text(slack, "U1")
    assert text.index("Your recent sessions") < text.index("beta task") < text.index("alpha task")
    assert "someone else's" not in text
    assert "<#C2>" in text and "<#C1>" in text and "idle" in text
    assert f"archives/{CHANNEL}/p{alpha.replace('.', '')}" in text
    assert "/qoder new &lt;task&gt;" in text and "Ask Qoder" in text
    assert "agent `agent_test`" in text and "environment `env_test`" in text

    assert await events.send(events.app_home_opened("U5")) == 200
    await eventually(lambda: "U5" in slack.views.homes)
    assert "someone else's task" in home_text(slack, "U5") and "alpha" not in home_text(slack, "U5")


async def test_a_new_viewer_sees_how_to_start_and_the_messages_tab_publishes_nothing(
    bot: InProcessBot, slack: FakeSlack, events: SlackEvents
) -> None:
    assert await events.send(events.app_home_opened("U9", tab="messages")) == 200
    assert await events.send(events.app_home_opened("U9")) == 200
    await eventually(lambda: "U9" in slack.views.homes)
    assert "None yet" in home_text(slack, "U9")
    assert [user for user, _ in slack.views.publishes] == ["U9"]
    assert json.dumps(slack.views.homes["U9"].definition).count('"type": "home"') == 1
