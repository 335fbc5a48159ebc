"""Abuse and loops, as people see them in Slack: other bots, floods, huge pastes and people not allowed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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


@asynccontextmanager
async def running(env: dict[str, str], **extra: str) -> AsyncIterator[InProcessBot]:
    bot = InProcessBot({**env, **extra})
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def mention_by(
    slack: FakeSlack, events: SlackEvents, user: str, text: str, *, thread_ts: str | None = None
) -> str:
    ts = slack.add_user_message(CHANNEL, f"<@UBOT> {text}", user=user, thread_ts=thread_ts)
    event = events.app_mention(CHANNEL, user, f"<@UBOT> {text}", ts, thread_ts=thread_ts)
    assert await events.send(event) == 200
    return ts


def notices(slack: FakeSlack, thread_ts: str, opening: str) -> int:
    """How many of the bot's replies in the thread begin with ``opening``."""
    return sum(slack.visible_text(m).startswith(opening) for m in slack.bot_replies(CHANNEL, thread_ts))


async def test_other_bots_are_ignored_unless_allowed(
    env: dict[str, str], slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    async with running(env, ALLOWED_BOTS="B7,UOTHER"):
        ts = await mention(slack, events, "hello")
        await eventually(lambda: finished(slack, ts, "You said: hello"))

        stranger = slack.add_user_message(CHANNEL, "loop me", user="U9", thread_ts=ts)
        await events.send(events.message(CHANNEL, "U9", "loop me", stranger, thread_ts=ts, bot_id="B9"))
        listed = slack.add_user_message(CHANNEL, "deploy done", user="U8", thread_ts=ts)
        await events.send(events.message(CHANNEL, "U8", "deploy done", listed, thread_ts=ts, bot_id="B7"))
        await eventually(
            lambda: finished(slack, ts, "You said: deploy done"), message=str(qoder.user_messages())
        )

        # Listed by its bot user id, posting a legacy bot_message (no user field) that mentions us.
        root = slack.add_user_message(CHANNEL, "<@UBOT> nightly report", user="UOTHER")
        event = events.message(
            CHANNEL, None, "<@UBOT> nightly report", root, subtype="bot_message", bot_id="B5"
        )
        event.update(type="app_mention", user="UOTHER")
        await events.send(event)
        await eventually(lambda: finished(slack, root, "You said: nightly report"))
    assert qoder.user_messages() == ["hello", "deploy done", "nightly report"]


async def test_bots_are_ignored_by_default(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    root = slack.add_user_message(CHANNEL, "<@UBOT> ping", user="U8")
    event = events.app_mention(CHANNEL, "U8", "<@UBOT> ping", root)
    event["bot_id"] = "B7"
    await events.send(event)
    canary = await mention(slack, events, "canary")
    await eventually(lambda: finished(slack, canary, "You said: canary"))
    assert qoder.user_messages() == ["canary"] and slack.bot_replies(CHANNEL, root) == []


async def test_one_person_may_start_only_so_many_turns_a_minute(
    env: dict[str, str], slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    async with running(env, USER_TURNS_PER_MINUTE="2"):
        first = await mention_by(slack, events, "U1", "one")
        second = await mention_by(slack, events, "U1", "two")
        await eventually(lambda: finished(slack, first, "You said: one"))
        await eventually(lambda: finished(slack, second, "You said: two"))
        third = await mention_by(slack, events, "U1", "three")
        await eventually(lambda: "USER_TURNS_PER_MINUTE" in thread_text(slack, CHANNEL, third))
        note = thread_text(slack, CHANNEL, third)
        assert "2 messages in the last minute" in note and "wait a moment" in note
        fourth = await mention_by(slack, events, "U1", "four")
        other = await mention_by(slack, events, "U2", "someone else")  # processed after the fourth
        await eventually(lambda: finished(slack, other, "You said: someone else"))
    assert qoder.user_messages() == ["one", "two", "someone else"]
    assert slack.bot_replies(CHANNEL, fourth) == [], "the limit is explained once a minute, not every time"


async def test_a_message_longer_than_the_limit_is_refused_naming_it(
    env: dict[str, str], slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    async with running(env, MAX_MESSAGE_CHARS="1000"):
        long = await mention(slack, events, "x" * 1200)
        await eventually(lambda: "MAX_MESSAGE_CHARS" in thread_text(slack, CHANNEL, long))
        assert "1,000 characters" in thread_text(slack, CHANNEL, long)
        short = await mention(slack, events, "y" * 900)
        await eventually(lambda: finished(slack, short, "You said: yyy"))
    assert qoder.user_messages() == ["y" * 900]


async def test_a_person_not_allowed_is_told_once_per_thread(
    env: dict[str, str], slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    async with running(env, ALLOWED_USERS="U1"):
        root = await mention_by(slack, events, "U2", "let me in")
        await eventually(lambda: notices(slack, root, "Sorry, I'm not enabled for you") == 1)
        await mention_by(slack, events, "U2", "please", thread_ts=root)
        await mention_by(slack, events, "U3", "me too", thread_ts=root)
        await mention_by(slack, events, "U1", "canary", thread_ts=root)  # processed after the refused ones
        await eventually(lambda: finished(slack, root, "canary"))
        elsewhere = await mention_by(slack, events, "U2", "and here?")
        await eventually(lambda: notices(slack, elsewhere, "Sorry, I'm not enabled for you") == 1)
        assert notices(slack, root, "Sorry, I'm not enabled for you") == 1, thread_text(slack, CHANNEL, root)
    sent = qoder.user_messages()
    assert len(sent) == 1 and sent[0].endswith("canary"), sent
