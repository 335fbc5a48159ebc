"""End to end: concurrent streamed answers share Slack's rate limits without tripping them or losing text.

The fake Slack enforces Tier-3-like limits scaled down so the tests are quick: chat.update 10 calls per 5 s
for the workspace, chat.postMessage 1 per second per channel. The bot is configured for 48 updates a minute
with a burst of 4: its budget keeps any minute at or under that, and the burst plus 0.8 calls a second stays
under 10 in any 5 seconds.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import FakeQoder, FakeSlack, InProcessBot, SlackEvents, eventually, thread_text
from tests.fakes.qoder_api import Text
from tests.fakes.slack_api import RateLimit

TOKEN = re.compile(r"\bt\d+w\d{3}\b")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(
        rate_limits={
            "chat.update": RateLimit(10, 5.0, "workspace"),
            "chat.postMessage": RateLimit(1, 1.0, "channel"),
        }
    )
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "SLACK_UPDATES_PER_MINUTE": "48",
        "SLACK_UPDATES_BURST": "4",
        "SLACK_POSTS_PER_SECOND": "1",
    }


def answer(turn: int, words: int) -> str:
    return " ".join(f"t{turn}w{i:03d}" for i in range(words))


def tokens(slack: FakeSlack, channel: str, ts: str) -> list[str]:
    return TOKEN.findall(thread_text(slack, channel, ts))


def finished(slack: FakeSlack, channel: str, ts: str) -> bool:
    text = thread_text(slack, channel, ts)
    return bool(text) and "Working…" not in text and "Thinking…" not in text


async def mention(slack: FakeSlack, events: SlackEvents, channel: str, text: str) -> str:
    ts = slack.add_user_message(channel, f"<@UBOT> {text}", user="U1")
    assert await events.send(events.app_mention(channel, "U1", f"<@UBOT> {text}", ts)) == 200
    return ts


async def test_concurrent_streams_never_trip_the_limits_and_every_answer_arrives_whole(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    words = 40
    turns = 4
    qoder.script(*[[Text(answer(turn, words), chunks=words, delay=0.05)] for turn in range(turns)])
    threads = [(f"C{turn % 2 + 1}", f"question {turn}") for turn in range(turns)]
    posted = await asyncio.gather(*(mention(slack, events, channel, text) for channel, text in threads))
    roots = [(channel, ts) for (channel, _), ts in zip(threads, posted, strict=True)]

    await eventually(
        lambda: all(finished(slack, channel, ts) for channel, ts in roots),
        timeout=90,
        message="not every answer finished in its thread",
    )
    assert slack.rate_limited == 0, "the bot went over a limit Slack enforces"
    seen = []
    for channel, ts in roots:
        shown = tokens(slack, channel, ts)
        assert shown, f"no answer in {channel}/{ts}"
        turn = int(shown[0][1 : shown[0].index("w")])
        assert " ".join(shown) == answer(turn, words), f"{channel}/{ts}: text lost, repeated or out of order"
        seen.append(turn)
    assert sorted(seen) == list(range(turns)), "each thread got its own answer"
    assert all(c.status != 429 for c in slack.calls)
    assert len(slack.calls_to("chat.update")) >= turns, "the answers were streamed by editing the replies"


async def test_a_429_mid_stream_pauses_the_edits_and_the_answer_still_arrives_whole(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    words = 60
    qoder.script([Text(answer(0, words), chunks=words, delay=0.05)])
    ts = await mention(slack, events, "C1", "stream please")
    await eventually(lambda: tokens(slack, "C1", ts), message="the answer never started streaming")
    slack.fail_next("chat.update", status=429, retry_after=1)

    await eventually(lambda: finished(slack, "C1", ts), timeout=60, message=thread_text(slack, "C1", ts))
    refused = [c for c in slack.calls_to("chat.update") if c.status == 429]
    assert len(refused) == 1, "the injected 429 was met, and the bot caused no other"
    assert slack.rate_limited == 0
    assert " ".join(tokens(slack, "C1", ts)) == answer(0, words)
    after = [c for c in slack.calls_to("chat.update") if c.at > refused[0].at]
    assert after and after[-1].ok, "the reply was edited again after the pause"
