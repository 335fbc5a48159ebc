"""STREAM_MODE=native: answers stream with chat.startStream / appendStream / stopStream."""

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

WORDS = [f"tok{i:03d}" for i in range(60)]
ANSWER = " ".join(WORDS)


@pytest.fixture
async def native_bot(env: dict[str, str]) -> AsyncIterator[InProcessBot]:
    running = InProcessBot({**env, "STREAM_MODE": "native", "STREAM_ROLLOVER_SECONDS": "1.5"})
    await running.start()
    yield running
    await running.stop()


def complete(slack: FakeSlack, ts: str) -> bool:
    replies = slack.bot_replies(CHANNEL, ts)
    return (
        bool(replies)
        and not any(m.streaming for m in replies)
        and WORDS[-1] in thread_text(slack, CHANNEL, ts)
    )


def assert_whole_once(slack: FakeSlack, ts: str) -> None:
    text = thread_text(slack, CHANNEL, ts)
    counts = {word: text.count(word) for word in WORDS}
    assert all(count == 1 for count in counts.values()), {w: c for w, c in counts.items() if c != 1}


async def test_answer_streams_natively_with_tool_tasks(
    native_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Tool("Bash", {"command": "make test"}, result="ok"), Text(ANSWER, chunks=10, delay=0.05)])
    ts = await mention(slack, events, "stream please")
    await eventually(lambda: complete(slack, ts), timeout=20, message=thread_text(slack, CHANNEL, ts))
    assert_whole_once(slack, ts)
    starts = slack.calls_to("chat.startStream")
    assert (
        starts
        and starts[0].args.get("recipient_user_id") == "U1"
        and starts[0].args.get("recipient_team_id") == "T1"
    )
    assert slack.calls_to("chat.appendStream"), "the answer arrived in several appends"
    tasks = {task_id: task for m in slack.bot_replies(CHANNEL, ts) for task_id, task in m.tasks.items()}
    assert any("make test" in str(task.get("title", "")) for task in tasks.values())
    assert any(task.get("status") == "complete" for task in tasks.values())


async def test_a_long_turn_rolls_over_to_a_new_stream(
    native_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text(ANSWER, chunks=30, delay=0.15)])  # ~4.5 s, rollover every 1.5 s
    ts = await mention(slack, events, "long stream")
    await eventually(lambda: complete(slack, ts), timeout=30, message=thread_text(slack, CHANNEL, ts))
    assert len(slack.calls_to("chat.startStream")) >= 2, "the turn continued in a new stream"
    assert len(slack.bot_replies(CHANNEL, ts)) >= 2
    assert_whole_once(slack, ts)


async def test_a_dead_stream_falls_back_to_edits_without_losing_or_repeating_text(
    native_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.fail_stream_after(2, "message_not_in_streaming_state")
    qoder.script([Text(ANSWER, chunks=12, delay=0.1)])
    ts = await mention(slack, events, "fragile stream")
    await eventually(
        lambda: (
            WORDS[-1] in thread_text(slack, CHANNEL, ts) and "Working…" not in thread_text(slack, CHANNEL, ts)
        ),
        timeout=20,
        message=thread_text(slack, CHANNEL, ts),
    )
    assert any(c.error == "message_not_in_streaming_state" for c in slack.calls), "the stream did die"
    assert [c for c in slack.calls_to("chat.update") if c.ok], "edits took over"
    assert_whole_once(slack, ts)


async def test_agent_mentions_never_reach_slack_in_stream_chunks(
    native_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("Paging <!channel> and <@U999> and @here now. " + ANSWER, chunks=6)])
    ts = await mention(slack, events, "be loud")
    await eventually(lambda: complete(slack, ts), timeout=20)
    for call in slack.calls:
        dumped = repr(call.args)
        assert "<!channel>" not in dumped and "<@U999>" not in dumped, call
        assert "@here" not in dumped, call
