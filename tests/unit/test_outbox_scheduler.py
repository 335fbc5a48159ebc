"""The outbox's scheduler on a fake clock: priority classes, the reserve, windows, 429 pauses, diverts."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from bot.outbox import Grant, Priority, Rate, Scheduler, Want, slack_limits
from bot.outbox._bucket import WINDOW_MARGIN, TokenBucket
from tests.unit.fake_time import FakeClock, settle

UPDATE = "chat.update"
POST = "chat.postMessage"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def scheduler(clock: FakeClock) -> AsyncIterator[Scheduler]:
    limits = {
        UPDATE: (Rate(60.0, 60.0, burst=5.0),),  # one a second, five back to back, reserve of two
        POST: (Rate(1.0, 1.0, 1.0, "channel"),),
    }
    s = Scheduler(limits, clock=clock, sleep=clock.sleep)
    yield s
    await s.aclose()


def start(scheduler: Scheduler, want: Want, granted: list[str], label: str) -> asyncio.Task[Grant]:
    async def acquire() -> Grant:
        grant = await scheduler.acquire(want)
        granted.append(label)
        return grant

    return asyncio.create_task(acquire())


async def test_a_burst_goes_back_to_back_then_the_steady_pace(clock: FakeClock, scheduler: Scheduler) -> None:
    granted: list[str] = []
    times: list[float] = []

    async def one(i: int) -> None:
        await scheduler.acquire(Want(UPDATE, "C1", Priority.URGENT))
        granted.append(str(i))
        times.append(clock.now)

    tasks = [asyncio.create_task(one(i)) for i in range(8)]
    await settle()
    assert len(granted) == 5, "the burst is granted at once"
    await clock.run_until(lambda: len(granted) == 8)
    await asyncio.gather(*tasks)
    assert granted == [str(i) for i in range(8)], "one class is served first come, first served"
    gaps = [b - a for a, b in itertools.pairwise(times[4:])]
    assert all(gap >= 1.0 - 1e-6 for gap in gaps), gaps


async def test_intermediate_frames_leave_the_reserve_to_finals(
    clock: FakeClock, scheduler: Scheduler
) -> None:
    granted: list[str] = []
    frames = [start(scheduler, Want(UPDATE, "C1", Priority.PROGRESS), granted, f"frame{i}") for i in range(5)]
    await settle()
    assert granted == ["frame0", "frame1", "frame2"], "two of the five tokens are kept back"
    final = start(scheduler, Want(UPDATE, "C2", Priority.URGENT), granted, "final")
    await settle()
    assert granted[-1] == "final", "a final spends the reserve at once"
    await clock.run_until(lambda: len(granted) == 6)
    for task in frames:
        task.cancel()
    await asyncio.gather(final, *frames, return_exceptions=True)


async def test_higher_classes_go_first_and_lower_ones_wait_behind_them(
    clock: FakeClock, scheduler: Scheduler
) -> None:
    granted: list[str] = []
    for _ in range(5):
        await scheduler.acquire(Want(UPDATE, "C1", Priority.URGENT))  # empty the bucket
    tasks = [
        start(scheduler, Want(UPDATE, "C1", Priority.PROGRESS), granted, "frame"),
        start(scheduler, Want(UPDATE, "C1", Priority.FEEDBACK), granted, "reaction"),
        start(scheduler, Want(UPDATE, "C1", Priority.URGENT), granted, "final"),
    ]
    await clock.run_until(lambda: len(granted) == 2)
    assert granted == ["final", "reaction"]
    # the frame needs the reserve refilled as well: it comes last, well after the others
    await clock.run_until(lambda: len(granted) == 3)
    assert granted == ["final", "reaction", "frame"]
    await asyncio.gather(*tasks)


async def test_a_waiter_holds_up_only_the_buckets_it_waits_for(
    clock: FakeClock, scheduler: Scheduler
) -> None:
    granted: list[str] = []
    await scheduler.acquire(Want(POST, "C1"))
    blocked = start(scheduler, Want(POST, "C1", Priority.URGENT), granted, "post C1")
    other_channel = start(scheduler, Want(POST, "C2", Priority.PROGRESS), granted, "post C2")
    other_method = start(scheduler, Want(UPDATE, "C1", Priority.PROGRESS), granted, "update C1")
    await settle()
    assert sorted(granted) == ["post C2", "update C1"], "an urgent post in C1 does not hold up C2 or edits"
    await clock.run_until(lambda: len(granted) == 3)
    await asyncio.gather(blocked, other_channel, other_method)


async def test_an_urgent_edit_that_cannot_come_within_patience_is_posted_instead(
    clock: FakeClock, scheduler: Scheduler
) -> None:
    for _ in range(5):
        await scheduler.acquire(Want(UPDATE, "C1", Priority.URGENT))
    queued = [
        asyncio.create_task(scheduler.acquire(Want(UPDATE, "C1", Priority.URGENT))) for _ in range(3)
    ]  # three finals ahead: the next edit is three seconds away
    final = asyncio.create_task(scheduler.acquire(Want(UPDATE, "C9", Priority.URGENT, POST, patience=1.0)))
    took = await clock.run_until(final.done, step=0.1)
    assert final.result().method == POST, "the final answer went out as a new message"
    assert took == 0.0, "the edit is known to be late: the answer is posted at once, not after patience"
    await clock.run_until(lambda: all(t.done() for t in queued))
    assert all(t.result().method == UPDATE for t in queued), "wants without an alternative keep waiting"


async def test_an_edit_that_comes_in_time_is_not_diverted(clock: FakeClock, scheduler: Scheduler) -> None:
    for _ in range(5):
        await scheduler.acquire(Want(UPDATE, "C1", Priority.URGENT))
    final = asyncio.create_task(scheduler.acquire(Want(UPDATE, "C9", Priority.URGENT, POST, patience=1.5)))
    await clock.run_until(final.done, step=0.1)
    assert final.result().method == UPDATE


async def test_a_frame_that_becomes_final_moves_up(clock: FakeClock, scheduler: Scheduler) -> None:
    granted: list[str] = []
    for _ in range(5):
        await scheduler.acquire(Want(UPDATE, "C1", Priority.URGENT))
    finished = False
    frame = start(
        scheduler,
        Want(UPDATE, "C1", lambda: Priority.URGENT if finished else Priority.PROGRESS),
        granted,
        "frame",
    )
    others = [start(scheduler, Want(UPDATE, "C2", Priority.FEEDBACK), granted, f"r{i}") for i in range(2)]
    await settle()
    finished = True
    scheduler.poke()
    await clock.run_until(lambda: len(granted) == 1)
    assert granted == ["frame"]
    await clock.run_until(lambda: len(granted) == 3)
    await asyncio.gather(frame, *others)


async def test_a_pause_holds_the_method_in_its_scope_for_retry_after(
    clock: FakeClock, scheduler: Scheduler
) -> None:
    scheduler.pause(UPDATE, "C1", 3.0)
    scheduler.pause(POST, "C1", 3.0)
    update = asyncio.create_task(scheduler.acquire(Want(UPDATE, "C2")))
    post_here = asyncio.create_task(scheduler.acquire(Want(POST, "C1")))
    post_elsewhere = asyncio.create_task(scheduler.acquire(Want(POST, "C2")))
    await settle()
    assert post_elsewhere.done(), "a per-channel limit is paused in its channel only"
    assert not update.done(), "a workspace limit is paused everywhere"
    took = await clock.run_until(lambda: update.done() and post_here.done(), step=0.1)
    assert 3.0 - 1e-6 <= took <= 3.2, took


async def test_cancelling_a_waiter_takes_nothing(clock: FakeClock, scheduler: Scheduler) -> None:
    await scheduler.acquire(Want(POST, "C1"))
    waiting = asyncio.create_task(scheduler.acquire(Want(POST, "C1")))
    await settle()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert scheduler.waiting == 0
    await clock.advance(1.0 + WINDOW_MARGIN)
    second = asyncio.create_task(scheduler.acquire(Want(POST, "C1")))
    await settle()
    assert second.done()


async def test_a_refunded_grant_can_be_used_again(clock: FakeClock, scheduler: Scheduler) -> None:
    grant = await scheduler.acquire(Want(POST, "C1"))
    grant.refund()
    again = asyncio.create_task(scheduler.acquire(Want(POST, "C1")))
    await settle()
    assert again.done()


@pytest.mark.parametrize("method", [UPDATE, "reactions.add", POST])
def test_no_window_of_the_defaults_ever_holds_more_calls_than_slack_allows(method: str) -> None:
    """Driven greedily for ten minutes, every bucket of Slack's defaults stays within its rate."""
    for rate in slack_limits()[method]:
        bucket = TokenBucket(rate, 0.0)
        now, grants = 0.0, []
        while now < 600:
            wait = bucket.wait(now)
            if wait == 0:
                bucket.take(now)
                grants.append(now)
            else:
                now += wait
        for i, t in enumerate(grants):
            in_window = sum(1 for u in grants[i:] if u < t + rate.per_seconds)
            assert in_window <= rate.cap, (method, rate, t, in_window)
        assert len(grants) >= 10 * rate.calls * 0.9, "the budget is used, not wasted"
