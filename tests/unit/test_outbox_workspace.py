"""A workspace's outbox on a fake clock: one 429 policy, coalesced reactions, the thread status, notices."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.foreground import Foreground
from bot.outbox import Rate, SlackError, WorkspaceOutbox, slack_limits
from tests.unit.fake_time import FakeClock, settle
from tests.unit.outbox_fakes import RecordingTransport


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def transport(clock: FakeClock) -> RecordingTransport:
    return RecordingTransport(clock)


@pytest.fixture
async def outbox(clock: FakeClock, transport: RecordingTransport) -> AsyncIterator[WorkspaceOutbox]:
    limits = {
        **slack_limits(),
        "reactions.add": (Rate(6.0, 60.0, burst=1.0),),  # one every ten seconds
        "reactions.remove": (Rate(6.0, 60.0, burst=1.0),),
    }
    box = WorkspaceOutbox(transport, limits, clock=clock, sleep=clock.sleep, status_refresh=90.0)
    yield box
    await box.aclose()


async def test_a_429_holds_the_call_for_retry_after_and_then_makes_it(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    transport.refuse("chat.postMessage", retry_after=4.0)
    posting = outbox.spawn(_post(outbox), name="post")
    took = await clock.run_until(posting.done, step=0.1)
    posts = transport.calls_to("chat.postMessage")
    assert [p.params["text"] for p in posts] == ["the answer", "the answer"], "refused once, then made"
    assert posts[1].at - posts[0].at >= 4.0 - 1e-6, "not before Retry-After"
    assert took < 4.5


async def _post(outbox: WorkspaceOutbox) -> None:
    await outbox.post("C1", {"text": "the answer"}, thread_ts="1.0")


async def test_a_refusal_other_than_429_is_raised_to_the_caller(
    transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    transport.refuse("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackError) as refused:
        await outbox.post("C1", {"text": "hello"})
    assert refused.value.code == "channel_not_found"


async def test_a_reaction_superseded_before_it_is_sent_is_never_sent(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    outbox.react("C1", "1.0", "eyes")  # spends the only token
    outbox.react("C1", "2.0", "eyes")  # waits ten seconds
    await settle()
    outbox.unreact("C1", "2.0", "eyes")
    outbox.react("C1", "2.0", "white_check_mark")
    await clock.run_until(lambda: len(transport.calls) >= 2)
    await clock.advance(60)
    added = [(c.params["timestamp"], c.params["name"]) for c in transport.calls_to("reactions.add")]
    assert added == [("1.0", "eyes"), ("2.0", "white_check_mark")]
    assert transport.calls_to("reactions.remove") == [], "nothing shown, nothing to remove"


async def test_a_shown_reaction_that_is_no_longer_wanted_is_removed(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    outbox.react("C1", "1.0", "eyes")
    await settle()
    outbox.unreact("C1", "1.0", "eyes")
    outbox.react("C1", "1.0", "white_check_mark")
    await clock.run_until(lambda: len(transport.calls) == 3, step=1.0)
    assert [(c.method, c.params["name"]) for c in transport.calls] == [
        ("reactions.add", "eyes"),
        ("reactions.add", "white_check_mark"),
        ("reactions.remove", "eyes"),
    ]


async def test_react_returns_at_once_even_when_the_budget_is_spent(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    for i in range(20):
        outbox.react("C1", f"{i}.0", "eyes")  # a caller never awaits a reaction
    await settle()
    assert len(transport.calls) == 1
    await clock.run_until(lambda: len(transport.calls) == 20, step=1.0)


async def test_the_thread_status_is_set_again_after_a_post_and_refreshed(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    outbox.set_status("C1", "1.0", "is working…")
    await settle()
    await _post(outbox)  # Slack clears the status when the app posts in the thread
    await settle()
    await clock.advance(1.0)
    statuses = [c.params["status"] for c in transport.calls_to("assistant.threads.setStatus")]
    assert statuses == ["is working…", "is working…"]
    await clock.advance(90.0)
    assert len(transport.calls_to("assistant.threads.setStatus")) == 3, "kept up before Slack drops it"
    outbox.set_status("C1", "1.0", "")
    await clock.advance(1.0)
    assert transport.calls_to("assistant.threads.setStatus")[-1].params["status"] == ""
    await clock.advance(200.0)
    assert len(transport.calls_to("assistant.threads.setStatus")) == 4, "a cleared status is left alone"


async def test_a_status_slack_refuses_is_not_tried_again_in_the_same_run(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    transport.refuse("assistant.threads.setStatus", "missing_scope")
    outbox.set_status("C1", "1.0", "is working…")
    await clock.advance(300.0)
    assert len(transport.calls_to("assistant.threads.setStatus")) == 1


async def test_a_notice_reports_its_ts_and_a_failed_one_is_only_logged(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    posted: list[str] = []

    async def remember(ts: str) -> None:
        posted.append(ts)

    transport.refuse("chat.postMessage", "not_in_channel")
    outbox.notice("C2", "1.0", {"text": "lost"}, on_posted=remember)
    await settle()
    outbox.notice("C1", "1.0", {"text": "Qoder is unreachable"}, on_posted=remember)
    await clock.advance(5.0)
    assert len(posted) == 1 and transport.messages[posted[0]]["text"] == "Qoder is unreachable"


BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*the answer*"}}]


async def test_a_post_slack_refuses_for_its_blocks_is_posted_again_as_plain_text(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    transport.refuse("chat.postMessage", "invalid_blocks")
    posted: list[str] = []

    async def post() -> None:
        payload = {"text": "*the answer* " + "x" * 5000, "blocks": BLOCKS}
        posted.append(await outbox.post("C1", payload, thread_ts="1.0"))

    await clock.run_until(outbox.spawn(post(), name="post").done, step=0.1)
    [ts] = posted
    refused, plain = transport.calls_to("chat.postMessage")
    assert refused.params["blocks"] == BLOCKS and set(plain.params) == {"channel", "thread_ts", "text"}
    assert plain.params["text"].startswith("*the answer* x") and len(plain.params["text"]) <= 3900
    assert transport.messages[ts]["text"] == plain.params["text"]


async def test_a_notice_and_an_ephemeral_slack_refuses_for_their_blocks_still_arrive(
    clock: FakeClock, transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    transport.refuse("chat.postMessage", "msg_blocks_too_long")
    transport.refuse("chat.postEphemeral", "invalid_blocks")
    outbox.notice("C1", "1.0", {"text": "Queued", "blocks": BLOCKS})
    outbox.ephemeral("C1", "U1", {"text": "Only you", "blocks": BLOCKS})
    await clock.advance(5.0)
    assert [c.params.get("blocks") for c in transport.calls_to("chat.postMessage")] == [BLOCKS, None]
    assert [c.params.get("blocks") for c in transport.calls_to("chat.postEphemeral")] == [BLOCKS, None]
    assert transport.calls_to("chat.postEphemeral")[-1].params["text"] == "Only you"


async def test_a_plain_text_post_refused_is_not_made_again(
    transport: RecordingTransport, outbox: WorkspaceOutbox
) -> None:
    transport.refuse("chat.postMessage", "no_text")
    with pytest.raises(SlackError):
        await outbox.post("C1", {"text": "short"})
    assert len(transport.calls_to("chat.postMessage")) == 1


async def test_output_waits_for_the_foreground_but_reads_do_not(clock: FakeClock) -> None:
    transport = RecordingTransport(clock)
    foreground = Foreground(patience=10.0)
    box = WorkspaceOutbox(transport, slack_limits(), clock=clock, sleep=clock.sleep, foreground=foreground)
    try:
        with foreground.working():  # a person's message on its way to Qoder
            posting = asyncio.create_task(_post(box))
            await box.call("conversations.replies", "C1", {"channel": "C1", "ts": "1.0"})
            await asyncio.sleep(0.05)
            assert [c.method for c in transport.calls] == ["conversations.replies"]
        await asyncio.wait_for(posting, timeout=1.0)
        assert [c.method for c in transport.calls] == ["conversations.replies", "chat.postMessage"]
    finally:
        await box.aclose()
