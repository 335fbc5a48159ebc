"""The edit-mode reply writer on a fake clock: coalesced frames, urgent finals, the postMessage fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.outbox import EditWriter, Priority, Rate, Want, WorkspaceOutbox, slack_limits
from bot.render import SlackMessage
from tests.unit.fake_time import FakeClock, settle
from tests.unit.outbox_fakes import RecordingTransport

THREAD = "100.000"


@dataclass(frozen=True)
class Frame:
    parts: tuple[str, ...]
    done: bool = False


def render(frame: Frame) -> list[SlackMessage]:
    return [SlackMessage(text=part) for part in frame.parts]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def transport(clock: FakeClock) -> RecordingTransport:
    return RecordingTransport(clock)


@pytest.fixture
async def outbox(clock: FakeClock, transport: RecordingTransport) -> AsyncIterator[WorkspaceOutbox]:
    limits = {**slack_limits(), "chat.update": (Rate(30.0, 60.0, burst=5.0),)}  # one every two seconds
    box = WorkspaceOutbox(transport, limits, clock=clock, sleep=clock.sleep)
    yield box
    await box.aclose()


class Written:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.reply_ts: list[str] = []

    async def __call__(self, frame: Frame, reply_ts: list[str]) -> None:
        self.frames.append(frame)
        self.reply_ts = reply_ts


def writer(outbox: WorkspaceOutbox, written: Written, reply_ts: tuple[str, ...] = ()) -> EditWriter[Frame]:
    return EditWriter(
        outbox,
        channel="C1",
        thread_ts=THREAD,
        render=render,
        finished=lambda frame: frame.done,
        on_written=written,
        reply_ts=reply_ts,
        interval=1.0,
    )


async def spend_updates(outbox: WorkspaceOutbox, calls: int) -> list[asyncio.Task[object]]:
    """Other replies' finals take the edit budget: ``calls`` urgent edits, the first five at once."""
    tasks: list[asyncio.Task[object]] = [
        asyncio.create_task(outbox.scheduler.acquire(Want("chat.update", "C2", Priority.URGENT)))
        for _ in range(calls)
    ]
    await settle()
    return tasks


async def test_frames_shown_faster_than_the_interval_are_coalesced(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = writer(outbox, written)
    for i in range(1, 31):
        reply.show(Frame((" ".join(f"w{j}" for j in range(i)),)))
        await clock.advance(0.1)
    reply.show(Frame(("the whole answer",), done=True))
    await clock.run_until(lambda: bool(written.frames) and written.frames[-1].done)
    edits = transport.calls_to("chat.update")
    assert len(transport.calls_to("chat.postMessage")) == 1
    assert 1 <= len(edits) <= 5, f"{len(edits)} edits for 31 frames"
    assert transport.thread(THREAD) == ["the whole answer"]
    await reply.aclose()


async def test_a_frame_shown_while_its_reply_is_being_edited_is_written_next(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = writer(outbox, written)
    reply.show(Frame(("Working…",)))
    await clock.run_until(lambda: bool(written.frames))
    await clock.advance(1.0)
    transport.hold()  # Slack is slow to answer the next edit
    reply.show(Frame(("half an answer",)))
    await settle()
    reply.show(Frame(("the whole answer",), done=True))  # the answer ends while that edit is on its way
    flushing = asyncio.create_task(reply.flush())
    await settle()
    transport.release()
    await clock.run_until(flushing.done, step=0.1)
    assert transport.thread(THREAD) == ["the whole answer"], "flushed means visible"
    assert [c.params["text"] for c in transport.calls_to("chat.update")] == [
        "half an answer",
        "the whole answer",
    ]
    assert written.frames[-1].done
    await reply.aclose()


async def test_a_reply_posted_while_its_frame_moved_on_is_durable_at_once(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = writer(outbox, written)
    transport.hold()
    reply.show(Frame(("Working…",)))
    await settle()
    reply.show(Frame(("the first words",)))  # the frame moves on while the placeholder is being posted
    transport.release()
    await settle()
    assert transport.thread(THREAD) == ["Working…"], "the next cycle waits for the interval"
    assert written.reply_ts == list(transport.messages), "a restart must edit the reply, not post again"
    await clock.run_until(lambda: transport.thread(THREAD) == ["the first words"], step=0.1)
    await reply.aclose()


async def test_the_first_post_does_not_wait_for_the_edit_budget(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    held = await spend_updates(outbox, 20)
    written = Written()
    reply = writer(outbox, written)
    reply.show(Frame(("Working…",)))
    await settle()
    assert transport.thread(THREAD) == ["Working…"]
    for task in held:
        task.cancel()
    await reply.aclose()


async def test_a_final_answer_that_cannot_be_edited_soon_is_posted_and_the_placeholder_removed(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = writer(outbox, written)
    reply.show(Frame(("Working…",)))
    await clock.run_until(lambda: bool(written.frames))
    placeholder = written.reply_ts[0]
    held = await spend_updates(outbox, 20)  # the next edit is about thirty seconds away

    reply.show(Frame(("the answer",), done=True))
    took = await clock.run_until(lambda: "the answer" in transport.thread(THREAD), step=0.1)
    assert took <= 1.5, f"the final answer took {took:.1f}s"
    await clock.run_until(lambda: placeholder not in transport.messages, step=1.0)
    assert transport.thread(THREAD) == ["the answer"], "the thread reads cleanly: no placeholder, no repeat"
    assert written.frames[-1].done and written.reply_ts != [placeholder]
    assert all(call.params.get("ts") != placeholder for call in transport.calls_to("chat.update"))
    for task in held:
        task.cancel()
    await reply.aclose()


async def test_an_intermediate_frame_waits_for_budget_instead_of_being_posted(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = writer(outbox, written)
    reply.show(Frame(("Working…",)))
    await clock.run_until(lambda: bool(written.frames))
    held = await spend_updates(outbox, 8)
    reply.show(Frame(("half an answer",)))
    await clock.advance(3.0)
    assert transport.thread(THREAD) == ["Working…"], "progress never diverts"
    await clock.run_until(lambda: transport.thread(THREAD) == ["half an answer"], step=0.5)
    assert len(transport.calls_to("chat.postMessage")) == 1
    await asyncio.gather(*held)
    await reply.aclose()


async def test_a_reply_that_is_gone_is_posted_anew(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = writer(outbox, written, reply_ts=("5.000",))
    transport.refuse("chat.update", "message_not_found")
    reply.show(Frame(("resumed answer",), done=True))
    await clock.run_until(lambda: bool(written.frames))
    assert transport.thread(THREAD) == ["resumed answer"]
    assert written.reply_ts != ["5.000"]
    await reply.aclose()


async def test_a_shorter_rendering_deletes_the_replies_it_no_longer_needs(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = writer(outbox, written)
    reply.show(Frame(("part one", "part two", "part three")))
    await clock.run_until(lambda: len(written.reply_ts) == 3, step=0.5)
    reply.show(Frame(("all of it",), done=True))
    await clock.run_until(lambda: transport.thread(THREAD) == ["all of it"], step=0.5)
    assert len(transport.calls_to("chat.delete")) == 2
    await reply.aclose()


async def test_a_429_on_a_final_edit_is_retried_and_nothing_is_lost(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = writer(outbox, written)
    reply.show(Frame(("Working…",)))
    await clock.run_until(lambda: bool(written.frames))
    transport.refuse("chat.update", retry_after=2.0)
    reply.show(Frame(("the answer",), done=True))
    await clock.run_until(lambda: written.frames[-1].done, step=0.1)
    assert transport.thread(THREAD) == ["the answer"]
    tries = [c for c in transport.calls if c.params.get("text") == "the answer"]
    assert len(tries) == 2 and tries[1].at > tries[0].at, "refused once, then made (as an edit or a new post)"
    await reply.aclose()


# --- a payload Slack refuses for its content ------------------------------------------------------------


def with_blocks(frame: Frame) -> list[SlackMessage]:
    return [
        SlackMessage(text=part, blocks=({"type": "section", "text": {"type": "mrkdwn", "text": part}},))
        for part in frame.parts
    ]


def rich_writer(outbox: WorkspaceOutbox, written: Written) -> EditWriter[Frame]:
    return EditWriter(
        outbox,
        channel="C1",
        thread_ts=THREAD,
        render=with_blocks,
        finished=lambda frame: frame.done,
        on_written=written,
        interval=1.0,
    )


async def test_a_post_slack_refuses_for_its_blocks_is_made_again_as_plain_text(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = rich_writer(outbox, written)
    transport.refuse("chat.postMessage", "invalid_blocks")
    reply.show(Frame(("Working…",)))
    await clock.run_until(lambda: bool(written.frames))
    first, again = transport.calls_to("chat.postMessage")
    assert "blocks" in first.params and "blocks" not in again.params
    assert again.params["text"] == "Working…" and again.params["thread_ts"] == THREAD
    assert transport.thread(THREAD) == ["Working…"] and written.reply_ts == ["1.000"]
    await reply.aclose()


async def test_a_refused_reply_stays_plain_while_the_turn_runs_and_the_final_tries_blocks_again(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = rich_writer(outbox, written)
    reply.show(Frame(("Working…",)))
    await clock.run_until(lambda: bool(written.frames))
    transport.refuse("chat.update", "invalid_blocks")
    reply.show(Frame(("half an answer",)))
    await clock.run_until(lambda: written.frames[-1].parts == ("half an answer",), step=0.5)
    refused, plain = transport.calls_to("chat.update")
    assert refused.params["blocks"] and plain.params["blocks"] == [], "the old blocks are removed"
    assert transport.messages[written.reply_ts[0]]["text"] == "half an answer"
    reply.show(Frame(("most of an answer",)))
    await clock.run_until(lambda: written.frames[-1].parts == ("most of an answer",), step=0.5)
    assert transport.calls_to("chat.update")[-1].params["blocks"] == [], "no second call for blocks"
    reply.show(Frame(("the answer",), done=True))
    await clock.run_until(lambda: written.frames[-1].done, step=0.5)
    final = transport.calls_to("chat.update")[-1].params
    assert final["text"] == "the answer"
    assert final["blocks"] == [{"type": "section", "text": {"type": "mrkdwn", "text": "the answer"}}]
    assert [bool(c.params["blocks"]) for c in transport.calls_to("chat.update")] == [True, False, False, True]
    await reply.aclose()


async def test_a_final_refused_again_ends_in_plain_text(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = rich_writer(outbox, written)
    reply.show(Frame(("Working…",)))
    await clock.run_until(lambda: bool(written.frames))
    transport.refuse("chat.update", "invalid_blocks")
    reply.show(Frame(("still working",)))
    await clock.run_until(lambda: written.frames[-1].parts == ("still working",), step=0.5)
    transport.refuse("chat.update", "invalid_blocks")
    reply.show(Frame(("the answer",), done=True))
    await clock.run_until(lambda: written.frames[-1].done, step=0.5)
    assert transport.messages[written.reply_ts[0]]["text"] == "the answer"
    assert transport.messages[written.reply_ts[0]]["blocks"] == []
    assert [bool(c.params["blocks"]) for c in transport.calls_to("chat.update")] == [True, False, True, False]
    await reply.aclose()


async def test_a_refusal_not_about_content_is_not_answered_with_plain_text(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    written = Written()
    reply = rich_writer(outbox, written)
    transport.refuse("chat.postMessage", "not_in_channel")
    reply.show(Frame(("Working…",)))
    await clock.run_until(lambda: bool(written.frames), step=0.5)
    assert all("blocks" in call.params for call in transport.calls_to("chat.postMessage"))
    assert len(transport.calls_to("chat.postMessage")) == 2, "refused, then made again later with its blocks"
    await reply.aclose()
