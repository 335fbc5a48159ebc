"""A bot killed or restarted in the middle of a turn finishes the same reply, without losing or repeating text."""

from __future__ import annotations

from tests.e2e.harness import (
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    SubprocessBot,
    eventually,
    reply_texts,
)
from tests.fakes.qoder_api import Text, Tool

CHANNEL = "C1"
ANSWER = " ".join(f"word{i:03d}" for i in range(60))


async def start_turn(slack: FakeSlack, qoder: FakeQoder, events: SlackEvents) -> str:
    qoder.script([Tool("Read", {"file_path": "README.md"}), Text(ANSWER, chunks=30, delay=0.12)])
    ts = slack.add_user_message(CHANNEL, "<@UBOT> write a long answer", user="U1")
    assert await events.send(events.app_mention(CHANNEL, "U1", "<@UBOT> write a long answer", ts)) == 200
    return ts


def complete(slack: FakeSlack, ts: str) -> bool:
    texts = reply_texts(slack, CHANNEL, ts)
    return bool(texts) and "word059" in texts[-1] and "Working…" not in texts[-1]


async def test_sigkill_mid_turn_then_restart_completes_the_same_reply(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str]
) -> None:
    first = SubprocessBot(env)
    await first.start()
    try:
        ts = await start_turn(slack, qoder, events)
        await eventually(
            lambda: "word005" in "".join(reply_texts(slack, CHANNEL, ts)), message="no partial answer"
        )
    finally:
        first.kill()
    assert not complete(slack, ts), "the turn should still be running when the bot dies"
    replies_before = [m.ts for m in slack.bot_replies(CHANNEL, ts)]

    second = SubprocessBot(env)
    await second.start()
    try:
        await eventually(
            lambda: complete(slack, ts), timeout=20, message="\n".join(reply_texts(slack, CHANNEL, ts))
        )
    finally:
        await second.terminate()

    replies = slack.bot_replies(CHANNEL, ts)
    assert [m.ts for m in replies] == replies_before, "the restarted bot keeps editing the same reply"
    text = slack.visible_text(replies[0])
    assert text.count("word030") == 1 and text.count("word059") == 1, "no text repeated"
    assert all(f"word{i:03d}" in text for i in range(60)), "no text lost"
    assert qoder.user_messages() == ["write a long answer"], "the message is not sent again"


async def test_graceful_restart_mid_turn_completes_the_same_reply(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str]
) -> None:
    first = InProcessBot(env)
    await first.start()
    ts = await start_turn(slack, qoder, events)
    await eventually(lambda: "word005" in "".join(reply_texts(slack, CHANNEL, ts)))
    await first.stop()

    second = InProcessBot(env)
    await second.start()
    try:
        await eventually(lambda: complete(slack, ts), timeout=20)
    finally:
        await second.stop()
    replies = slack.bot_replies(CHANNEL, ts)
    assert len(replies) == 1
    assert slack.visible_text(replies[0]).count("word059") == 1
