"""NativeStreamPublisher against the fake Slack: streaming, task cards, rollover, fallback to editing."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox import EditWriter, Limits, NativeStreamWriter, Rate, WebClientTransport, WorkspaceOutbox
from bot.outbox import slack_limits as default_limits
from bot.render import render_stream, render_turn
from bot.render._cut import is_fence_line
from bot.render._limits import STREAM_MARKDOWN_LIMIT as MARKDOWN_LIMIT
from bot.turn import TextItem, ToolItem, TurnItem, TurnState
from tests.fakes.slack_api import FakeSlack, Message

CHANNEL = "C1"
THREAD = "1700000000.000100"
SPECIAL_TOKEN = re.compile(r"<[!@#]")
BARE_BROADCAST = re.compile(r"(?<!\w)@(?:channel|here|everyone)\b", re.IGNORECASE)
NASTY = "<!channel> <!here> <!everyone> <@U123> <#C1> <!subteam^S1> @channel @here @everyone"
WORD = re.compile(r"\bw(\d+)\b")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.token, base_url=fake.api_url)


@dataclass
class Setup:
    """A writer for one turn, with what its callbacks saw."""

    client: AsyncWebClient
    channel: str = CHANNEL
    written: list[list[str]] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)
    fallbacks: list[EditWriter[TurnState]] = field(default_factory=list)
    outbox: WorkspaceOutbox | None = None

    def publisher(
        self,
        *,
        reply_ts: tuple[str, ...] = (),
        rollover_seconds: float = 240.0,
        recipient_user_id: str = "U1",
        limits: Limits | None = None,
    ) -> NativeStreamWriter[TurnState]:
        self.outbox = WorkspaceOutbox(
            WebClientTransport(self.client),
            limits if limits is not None else default_limits(),
            clock=time.monotonic,
            sleep=asyncio.sleep,
        )
        return NativeStreamWriter(
            self.outbox,
            channel=self.channel,
            thread_ts=THREAD,
            recipient_user_id=recipient_user_id,
            recipient_team_id="T1",
            view=render_stream,
            finished=lambda state: state.finished,
            fallback=self.fallback,
            on_written=self.on_written,
            on_posted=self.on_posted,
            reply_ts=reply_ts,
            interval=0.0,
            rollover_seconds=rollover_seconds,
        )

    def fallback(self, reply_ts: list[str]) -> EditWriter[TurnState]:
        assert self.outbox is not None
        publisher = EditWriter(
            self.outbox,
            channel=self.channel,
            thread_ts=THREAD,
            render=render_turn,
            finished=lambda state: state.finished,
            on_written=self.on_written,
            on_posted=self.on_posted,
            reply_ts=reply_ts,
            interval=0.0,
        )
        self.fallbacks.append(publisher)
        return publisher

    async def on_written(self, state: TurnState, reply_ts: list[str]) -> None:
        self.written.append(reply_ts)

    async def on_posted(self, ts: str) -> None:
        self.posted.append(ts)


@pytest.fixture
def setup(client: AsyncWebClient) -> Setup:
    return Setup(client)


def words(count: int) -> list[str]:
    return [f"w{n}" for n in range(count)]


def running(*items: TurnItem) -> TurnState:
    return TurnState(items=items)


def done(*items: TurnItem) -> TurnState:
    return TurnState(items=items, phase="done", stop_reason="end_turn", started_at=100.0, ended_at=112.0)


async def stream_words(
    publisher: NativeStreamWriter[TurnState],
    count: int,
    *,
    step: int = 5,
    after: tuple[TurnItem, ...] = (),
) -> str:
    """Preview ``count`` words a few at a time, flushing each frame; returns the whole text."""
    text = ""
    for start in range(0, count, step):
        text += " ".join(words(count)[start : start + step]) + " "
        publisher.show(running(TextItem(id="m1", text=text, partial=True), *after))
        await publisher.flush()
    return text.strip()


def replies(fake: FakeSlack) -> list[Message]:
    return fake.bot_replies(CHANNEL, THREAD)


def numbers(text: str) -> list[int]:
    return [int(n) for n in WORD.findall(text)]


def thread_text(fake: FakeSlack) -> str:
    return "\n".join(fake.visible_text(message) for message in replies(fake))


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


def sent_tasks(fake: FakeSlack, task_id: str) -> list[str]:
    """The statuses sent for ``task_id``, in order, over every stream call."""
    return [
        chunk["status"]
        for call in fake.calls
        if call.method.startswith("chat.") and call.method.endswith("Stream")
        for chunk in call.args.get("chunks") or []
        if chunk.get("type") == "task_update" and chunk.get("id") == task_id
    ]


# --- streaming ------------------------------------------------------------------------------------------


async def test_text_streams_over_appends_and_ends_with_the_footer(fake: FakeSlack, setup: Setup) -> None:
    publisher = setup.publisher()
    text = await stream_words(publisher, 40)
    final = done(TextItem(id="m1", text=text))
    publisher.show(final)
    await publisher.flush()

    assert len(fake.calls_to("chat.startStream")) == 1
    assert len(fake.calls_to("chat.appendStream")) >= 2
    assert len(fake.calls_to("chat.stopStream")) == 1
    [message] = replies(fake)
    assert not message.streaming
    assert message.markdown_text == text
    assert numbers(fake.visible_text(message)) == list(range(40))
    assert "12s" in fake.visible_text(message)  # the footer
    assert publisher.reply_ts == [message.ts]
    assert setup.posted == [message.ts]
    assert setup.written and all(ts == [message.ts] for ts in setup.written)
    assert not setup.fallbacks
    await publisher.aclose()


async def test_task_cards_follow_tool_status(fake: FakeSlack, setup: Setup) -> None:
    publisher = setup.publisher()
    bash = ToolItem(id="t1", name="Bash", input={"command": "pytest -q"})
    intro = TextItem(id="m1", text="Running the tests.")
    for state in (
        running(intro, bash),
        running(intro, bash.model_copy(update={"status": "done", "result": "42 passed"})),
        running(
            intro,
            bash.model_copy(update={"status": "done", "result": "42 passed"}),
            ToolItem(
                id="t2", name="Read", input={"file_path": "a.py"}, status="failed", result="no such file"
            ),
        ),
    ):
        publisher.show(state)
        await publisher.flush()

    [message] = replies(fake)
    assert message.tasks["t1"]["status"] == "complete"
    assert message.tasks["t1"]["title"] == "Bash: pytest -q"
    assert message.tasks["t1"]["output"] == "42 passed"
    assert message.tasks["t2"]["status"] == "error"
    assert sent_tasks(fake, "t1") == ["in_progress", "complete"]  # unchanged cards are not sent again
    assert sent_tasks(fake, "t2") == ["error"]
    start = fake.calls_to("chat.startStream")[0].args
    assert start["task_display_mode"] == "timeline"
    assert [chunk["type"] for chunk in start["chunks"]] == ["markdown_text", "task_update"]
    await publisher.aclose()


async def test_rollover_continues_in_a_new_stream_message(fake: FakeSlack, setup: Setup) -> None:
    publisher = setup.publisher(rollover_seconds=0.0)
    text = await stream_words(publisher, 30)
    publisher.show(done(TextItem(id="m1", text=text)))
    await publisher.flush()

    messages = replies(fake)
    assert len(messages) >= 2
    assert not any(message.streaming for message in messages)
    assert numbers("\n".join(message.markdown_text or "" for message in messages)) == list(range(30))
    assert publisher.reply_ts == [message.ts for message in messages]
    assert setup.posted == publisher.reply_ts
    assert not setup.fallbacks
    await publisher.aclose()


async def test_long_answer_is_split_over_messages_with_code_blocks_reopened(
    fake: FakeSlack, setup: Setup
) -> None:
    lines = [f"w{n} " + "x" * 60 for n in range(600)]
    text = "\n".join(lines[:200]) + "\n\n```\n" + "\n".join(lines[200:]) + "\n```"
    publisher = setup.publisher()
    publisher.show(done(TextItem(id="m1", text=text)))
    await publisher.flush()

    messages = replies(fake)
    assert len(messages) >= 3
    for message in messages:
        assert len(message.markdown_text or "") <= MARKDOWN_LIMIT
        assert sum(map(is_fence_line, (message.markdown_text or "").split("\n"))) % 2 == 0
    assert numbers(thread_text(fake)) == list(range(600))
    await publisher.aclose()


# --- fallback -------------------------------------------------------------------------------------------


async def test_a_broken_stream_hands_over_to_editing(fake: FakeSlack, setup: Setup) -> None:
    fake.fail_stream_after(2, "message_not_in_streaming_state")
    publisher = setup.publisher()
    text = await stream_words(publisher, 40)
    publisher.show(done(TextItem(id="m1", text=text)))
    await publisher.flush()

    assert len(setup.fallbacks) == 1
    assert any(not call.ok for call in fake.calls_to("chat.appendStream"))
    assert fake.calls_to("chat.update")
    assert numbers(thread_text(fake)) == list(range(40))
    assert publisher.reply_ts == setup.fallbacks[0].reply_ts
    await publisher.aclose()


async def test_a_final_text_that_differs_from_the_preview_hands_over(fake: FakeSlack, setup: Setup) -> None:
    publisher = setup.publisher()
    publisher.show(running(TextItem(id="m1", text="alpha beta gamma delta ", partial=True)))
    await publisher.flush()
    publisher.show(done(TextItem(id="m1", text="alpha BETA gamma delta")))
    await publisher.flush()

    [message] = replies(fake)
    assert len(setup.fallbacks) == 1
    assert not message.streaming
    assert [call.args["ts"] for call in fake.calls_to("chat.stopStream")] == [message.ts]
    visible = fake.visible_text(message)
    assert "alpha BETA gamma delta" in visible
    assert "beta" not in visible
    await publisher.aclose()


async def test_a_resumed_turn_stops_its_old_stream_and_edits(
    fake: FakeSlack, setup: Setup, client: AsyncWebClient
) -> None:
    old = await client.api_call(
        "chat.startStream",
        json={
            "channel": CHANNEL,
            "thread_ts": THREAD,
            "recipient_user_id": "U1",
            "recipient_team_id": "T1",
            "chunks": [{"type": "markdown_text", "text": "w0 w1"}],
        },
    )
    publisher = setup.publisher(reply_ts=(str(old["ts"]),))
    publisher.show(done(TextItem(id="m1", text="w0 w1 w2 w3")))
    await publisher.flush()

    [message] = replies(fake)
    assert len(fake.calls_to("chat.startStream")) == 1  # only the one from before the restart
    assert [call.args["ts"] for call in fake.calls_to("chat.stopStream")] == [message.ts]
    assert [call.ok for call in fake.calls_to("chat.update")] == [True]
    assert numbers(fake.visible_text(message)) == [0, 1, 2, 3]
    assert publisher.reply_ts == [message.ts]
    await publisher.aclose()


async def test_streaming_refused_by_slack_posts_instead(fake: FakeSlack, setup: Setup) -> None:
    publisher = setup.publisher(recipient_user_id="")
    publisher.show(done(TextItem(id="m1", text="w0 w1 w2")))
    await publisher.flush()

    [call] = fake.calls_to("chat.startStream")
    assert call.error == "missing_recipient_user_id"
    [message] = replies(fake)
    assert numbers(fake.visible_text(message)) == [0, 1, 2]
    assert publisher.reply_ts == [message.ts]
    await publisher.aclose()


# --- Slack arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["C1", "D1"])
async def test_recipient_ids_are_always_sent(fake: FakeSlack, client: AsyncWebClient, channel: str) -> None:
    setup = Setup(client, channel=channel)
    publisher = setup.publisher()
    publisher.show(running(TextItem(id="m1", text="hello there")))
    await publisher.flush()

    [call] = fake.calls_to("chat.startStream")
    assert call.ok
    assert call.args["recipient_user_id"] == "U1"
    assert call.args["recipient_team_id"] == "T1"
    assert call.args["thread_ts"] == THREAD
    await publisher.aclose()


@pytest.mark.parametrize("broken", [False, True])
async def test_mentions_never_reach_slack_as_tokens(fake: FakeSlack, setup: Setup, broken: bool) -> None:
    if broken:
        fake.fail_stream_after(1, "invalid_chunks")
    publisher = setup.publisher()
    tool = ToolItem(id="t1", name=f"Bash {NASTY}", input={"command": f"echo {NASTY}"}, result=NASTY)
    text = f"{NASTY}\n\n`{NASTY}`\n\n```\n{NASTY}\n```\n\n> {NASTY}\n\n"
    for end in range(10, len(text) + 1, 25):
        publisher.show(running(TextItem(id="m1", text=text[:end], partial=True), tool))
        await publisher.flush()
    publisher.show(done(TextItem(id="m1", text=text), tool.model_copy(update={"status": "done"})))
    await publisher.flush()

    assert bool(setup.fallbacks) == broken
    assert fake.calls
    for call in fake.calls:
        for value in strings(call.args):
            assert not SPECIAL_TOKEN.search(value), (call.method, value)
            assert not BARE_BROADCAST.search(value), (call.method, value)
    await publisher.aclose()


async def test_rate_limited_calls_are_retried(fake: FakeSlack, setup: Setup) -> None:
    limits = {**default_limits(), "chat.appendStream": (Rate(100.0, 1.0, burst=10.0),)}
    publisher = setup.publisher(limits=limits)
    publisher.show(running(TextItem(id="m1", text="w0 w1 ", partial=True)))
    await publisher.flush()
    fake.fail_next("chat.appendStream", retry_after=0)
    publisher.show(running(TextItem(id="m1", text="w0 w1 w2 w3 ", partial=True)))
    await publisher.flush()

    assert [call.status for call in fake.calls_to("chat.appendStream")] == [429, 200]
    [message] = replies(fake)
    assert message.markdown_text == "w0 w1 w2 w3"
    assert not setup.fallbacks
    await publisher.aclose()


async def test_an_idle_stream_is_ended_before_slack_ends_it(fake: FakeSlack, setup: Setup) -> None:
    publisher = setup.publisher(rollover_seconds=0.05)
    publisher.show(running(TextItem(id="m1", text="w0 w1 ", partial=True)))
    await publisher.flush()
    await fake.wait_for(lambda: fake.calls_to("chat.stopStream"))
    publisher.show(done(TextItem(id="m1", text="w0 w1 w2 w3")))
    await publisher.flush()

    first, second = replies(fake)
    assert first.markdown_text == "w0 w1"
    assert numbers(second.markdown_text or "") == [2, 3]
    assert not first.streaming and not second.streaming
    assert not setup.fallbacks
    await publisher.aclose()


async def test_a_divergence_after_rollover_repeats_nothing(fake: FakeSlack, setup: Setup) -> None:
    publisher = setup.publisher(rollover_seconds=0.0)
    text = await stream_words(publisher, 15)
    assert len(replies(fake)) >= 2
    publisher.show(done(TextItem(id="m1", text=f"Rewritten: {text}")))
    await publisher.flush()
    assert setup.outbox is not None
    await setup.outbox.drain(5.0)  # replies the rewrite no longer needs are deleted in the background

    assert len(setup.fallbacks) == 1
    assert "Rewritten" in thread_text(fake)
    assert numbers(thread_text(fake)) == list(range(15))
    assert publisher.reply_ts == [message.ts for message in replies(fake)]
    await publisher.aclose()
