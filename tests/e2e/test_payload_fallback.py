"""When Slack refuses a reply's blocks, the reply goes on in plain text: the answer arrives, never "Working…"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    eventually,
    mention,
    thread_text,
)
from tests.fakes.qoder_api import Text, Tool

ANSWER = "The build is green: " + " ".join(f"word{i:02d}" for i in range(40)) + "."
LAST_WORD = "word39."


def finished(slack: FakeSlack, ts: str) -> bool:
    text = thread_text(slack, CHANNEL, ts)
    replies = slack.bot_replies(CHANNEL, ts)
    return LAST_WORD in text and "Working…" not in text and not any(m.streaming for m in replies)


def refused(slack: FakeSlack) -> list[str]:
    return [str(c.error) for c in slack.calls if c.error == "invalid_blocks"]


async def test_a_reply_whose_blocks_slack_always_refuses_ends_in_plain_text_with_the_answer(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.refuse_blocks(1_000)
    qoder.script([Tool("Bash", {"command": "make"}, result="ok"), Text(ANSWER, chunks=5, delay=0.05)])
    ts = await mention(slack, events, "is the build green?")
    await eventually(lambda: finished(slack, ts), timeout=20, message=thread_text(slack, CHANNEL, ts))
    await eventually(lambda: slack.statuses.get((CHANNEL, ts)) == "", message="turn end not reached")
    [reply] = slack.bot_replies(CHANNEL, ts)
    assert reply.blocks is None and ANSWER in reply.text
    assert refused(slack), "Slack refused the blocks"


async def test_after_one_refusal_the_finished_reply_shows_its_blocks_again(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.refuse_blocks(1)
    qoder.script([Text(ANSWER, chunks=5, delay=0.1)])
    ts = await mention(slack, events, "is the build green?")
    await eventually(lambda: finished(slack, ts), timeout=20, message=thread_text(slack, CHANNEL, ts))
    [reply] = slack.bot_replies(CHANNEL, ts)
    await eventually(lambda: bool(reply.blocks), message="the final answer has its blocks back")
    assert refused(slack) == ["invalid_blocks"]
    assert LAST_WORD in slack.visible_text(reply)


@pytest.fixture
async def native_bot(env: dict[str, str]) -> AsyncIterator[InProcessBot]:
    running = InProcessBot({**env, "STREAM_MODE": "native"})
    await running.start()
    yield running
    await running.stop()


async def test_a_stream_whose_footer_and_edits_slack_refuses_ends_in_plain_text(
    native_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.refuse_blocks(1_000, methods=("chat.stopStream", "chat.update", "chat.postMessage"))
    qoder.script([Text(ANSWER, chunks=5, delay=0.05)])
    ts = await mention(slack, events, "is the build green?")
    await eventually(lambda: finished(slack, ts), timeout=20, message=thread_text(slack, CHANNEL, ts))
    await eventually(lambda: slack.statuses.get((CHANNEL, ts)) == "", message="turn end not reached")
    assert refused(slack), "Slack refused the footer"

    # the edit writer took over, in text: an edit of the reply, or (when the edit could not come soon) the
    # answer posted anew; the streamed message may show the answer before that edit is made
    def plain_answer() -> bool:
        calls = (*slack.calls_to("chat.update"), *slack.calls_to("chat.postMessage"))
        return any(c.ok and not c.args.get("blocks") and LAST_WORD in str(c.args.get("text")) for c in calls)

    await eventually(plain_answer, timeout=10, message="the edit writer took over, in text")
    text = thread_text(slack, CHANNEL, ts)
    assert text.count(LAST_WORD) == 1, text
