"""End to end: when long work ends, the person who asked is told with a mention (edits notify no one)."""

from __future__ import annotations

import re

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
    reply_texts,
)
from tests.fakes.qoder_api import Sleep, Text


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "NOTIFY_AFTER": "1"}


def announcements(slack: FakeSlack, thread_ts: str) -> list[str]:
    return [text for text in reply_texts(slack, CHANNEL, thread_ts) if text.startswith("<@U1>")]


async def test_a_long_turn_ends_with_a_mention_and_a_link_to_the_answer(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Sleep(1.5), Text("all fixed")])
    ts = await mention(slack, events, "fix everything")
    await eventually(lambda: announcements(slack, ts), timeout=20)
    [said] = announcements(slack, ts)
    assert re.fullmatch(r"<@U1> your request is done after \ds\. <https://\S+\|See the answer\.>", said), said
    [answer] = slack.bot_replies(CHANNEL, ts)[:1]
    assert answer.ts.replace(".", "") in said, "the link points at the answer"


async def test_a_quick_turn_is_not_announced(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("quick")])
    ts = await mention(slack, events, "quick one")
    await eventually(lambda: finished(slack, ts, "quick"), timeout=20)
    await eventually(lambda: "white_check_mark" in slack.messages[(CHANNEL, ts)].reactions, timeout=10)
    assert announcements(slack, ts) == []
