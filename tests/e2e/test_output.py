"""What the agent writes reaches the thread whole, within Slack's limits, and can never ping anyone."""

from __future__ import annotations

import json
import re

from tests.e2e.harness import (
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    eventually,
    finished,
    mention,
    thread_text,
)
from tests.fakes.qoder_api import Text, Tool

CHANNEL = "C1"
TEXT_LIMIT = 3_900
SECTION_LIMIT = 3_000
MARKDOWN_LIMIT = 12_000
MAX_BLOCKS = 50


def long_answer(target: int = 30_000) -> tuple[str, list[str]]:
    """Markdown of about ``target`` chars: paragraphs, lists and fenced code, each line holding a unique token."""
    parts: list[str] = []
    tokens: list[str] = []
    n = 0
    while sum(len(p) + 2 for p in parts) < target:
        kind = n % 3
        if kind == 0:
            words = [f"para{n:04d}w{i:02d}" for i in range(12)]
            tokens += words
            parts.append(" ".join(words) + ".")
        elif kind == 1:
            items = [f"item{n:04d}x{i}" for i in range(5)]
            tokens += items
            parts.append("\n".join(f"- {item} & more" for item in items))
        else:
            lines = [f"code{n:04d}l{i:02d} = compute({i}) < limit" for i in range(15)]
            tokens += [line.split(" ")[0] for line in lines]
            parts.append("```python\n" + "\n".join(lines) + "\n```")
        n += 1
    return "\n\n".join(parts), tokens


def message_calls(slack: FakeSlack) -> list[dict[str, object]]:
    return [c.args for c in slack.calls if c.method in ("chat.postMessage", "chat.update") and c.ok]


def assert_within_limits(args: dict[str, object]) -> None:
    text = str(args.get("text", ""))
    assert len(text) <= TEXT_LIMIT, len(text)
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    assert isinstance(blocks, list) and len(blocks) <= MAX_BLOCKS
    markdown = 0
    for block in blocks:
        if block.get("type") == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT
        if block.get("type") == "markdown":
            markdown += len(block["text"])
    assert markdown <= MARKDOWN_LIMIT


async def test_a_30000_character_answer_arrives_whole_within_every_limit(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    answer, tokens = long_answer()
    assert len(answer) >= 30_000
    qoder.script([Tool("Read", {"file_path": "big.py"}), Text(answer, chunks=40, delay=0.05)])
    ts = slack.add_user_message(CHANNEL, "<@UBOT> write a lot", user="U1")
    await events.send(events.app_mention(CHANNEL, "U1", "<@UBOT> write a lot", ts))
    await eventually(
        lambda: (
            tokens[-1] in thread_text(slack, CHANNEL, ts)
            and "Working…" not in thread_text(slack, CHANNEL, ts)
        ),
        timeout=60,
    )
    await eventually(lambda: slack.statuses.get((CHANNEL, ts)) == "", message="turn end not reached")

    for args in message_calls(slack):
        assert_within_limits(args)
    replies = slack.bot_replies(CHANNEL, ts)
    assert len(replies) >= 8, "30,000 characters need several messages"
    for message in replies:
        assert message.text.count("```") % 2 == 0, "every message's code fences are balanced"
    text = thread_text(slack, CHANNEL, ts)
    missing = [t for t in tokens if t not in text]
    repeated = [t for t in tokens if len(re.findall(rf"\b{re.escape(t)}\b", text)) > 1]
    assert not missing and not repeated, (missing[:5], repeated[:5])
    assert all("< limit" not in m.text for m in replies), "a literal < is escaped in the mrkdwn text"


async def test_answers_that_end_while_slack_is_slow_to_edit_still_show_whole(
    env: dict[str, str], slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    """A slow Slack keeps an edit on its way most of the time, so an answer usually ends during one: the
    final rendering must still be written after it, not taken as shown."""
    slack.delay("chat.update", 0.15)
    answers = [" ".join(f"turn{turn}word{i:02d}" for i in range(20)) for turn in range(4)]
    qoder.script(*[[Text(answer, chunks=20, delay=0.05)] for answer in answers])
    bot = InProcessBot({**env, "SLACK_UPDATES_PER_MINUTE": "6000", "SLACK_UPDATES_BURST": "100"})
    await bot.start()
    try:
        threads = [
            (f"C{turn + 1}", await mention(slack, events, "answer me", channel=f"C{turn + 1}"))
            for turn in range(4)
        ]

        def whole(channel: str, ts: str) -> bool:
            return any(finished(slack, ts, answer, channel=channel) for answer in answers)

        await eventually(
            lambda: all(whole(channel, ts) for channel, ts in threads),
            timeout=20,
            message="\n".join(thread_text(slack, channel, ts) for channel, ts in threads),
        )
    finally:
        await bot.stop()


async def test_agent_output_never_pings_anyone(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    loud = (
        "Hey <!channel> and <!here|here> and <!everyone>, ping <@U123ABC> in <#C999> and <!subteam^S42>. "
        "Also @channel, @here and @everyone.\n\n```\n<!channel> in code @here\n```\n\n[click](<!channel>)"
    )
    qoder.script([Tool("Bash", {"command": "echo <!channel> @here"}), Text(loud, chunks=5)])
    ts = slack.add_user_message(CHANNEL, "<@UBOT> be loud", user="U1")
    await events.send(events.app_mention(CHANNEL, "U1", "<@UBOT> be loud", ts))
    await eventually(
        lambda: "Hey" in thread_text(slack, CHANNEL, ts) and "Working" not in thread_text(slack, CHANNEL, ts)
    )

    forbidden = re.compile(
        r"<!(channel|here|everyone|subteam)|<@U|<#C|(?<![\w\u2060])@(channel|here|everyone)\b"
    )
    for call in slack.calls:
        dumped = json.dumps(call.args, ensure_ascii=False)
        assert not forbidden.search(dumped), (call.method, forbidden.search(dumped))
    assert "channel" in thread_text(slack, CHANNEL, ts), "the words are still shown, harmlessly"
