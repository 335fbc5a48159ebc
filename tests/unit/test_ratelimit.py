"""The rate budget on a fake clock: burst, steady pace, sliding-window cap, FIFO order and 429 pauses."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Coroutine
from typing import Any

import pytest

from bot.ratelimit import Rate, RateBudget, TokenBucket, WorkspaceBudgets, workspace_budget


class FakeClock:
    """Virtual time: ``sleep`` waits until ``advance`` moves the clock past its deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking each sleeper at its deadline, in order."""
        target = self.now + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not future.done():
                future.set_result(None)
            await settle()
        self.now = target
        await settle()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def take(bucket: TokenBucket, clock: FakeClock, grants: list[tuple[str, float]], name: str) -> None:
    await bucket.acquire()
    grants.append((name, clock.now))


def spawn(coros: list[Coroutine[Any, Any, None]]) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(c) for c in coros]


async def test_burst_goes_at_once_then_the_steady_pace() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(calls=60, per_seconds=60, burst=3), clock=clock, sleep=clock.sleep, margin=0)
    grants: list[tuple[str, float]] = []
    _tasks = spawn([take(bucket, clock, grants, str(i)) for i in range(5)])
    await clock.advance(0)
    assert [at for _, at in grants] == [0, 0, 0]
    await clock.advance(2)
    assert [at for _, at in grants] == [0, 0, 0, 1, 2]


async def test_tokens_refill_during_a_quiet_spell_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(calls=60, per_seconds=60, burst=3), clock=clock, sleep=clock.sleep, margin=0)
    for _ in range(3):
        await bucket.acquire()
    await clock.advance(100)
    assert bucket.delay() == 0
    grants: list[tuple[str, float]] = []
    _tasks = spawn([take(bucket, clock, grants, str(i)) for i in range(4)])
    await clock.advance(0)
    assert len(grants) == 3, "a long quiet spell refills only up to the burst"


async def test_no_window_ever_holds_more_than_the_rate_allows() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(calls=4, per_seconds=4, burst=4), clock=clock, sleep=clock.sleep, margin=0.5)
    grants: list[tuple[str, float]] = []
    _tasks = spawn([take(bucket, clock, grants, str(i)) for i in range(6)])
    await clock.advance(10)
    times = [at for _, at in grants]
    assert times[:4] == [0, 0, 0, 0]
    assert times[4] == 4.5, "the burst used the whole window: the fifth call waits for it (plus the margin)"
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 4.5) <= 4


async def test_waiters_are_served_first_come_first_served() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(calls=1, per_seconds=1), clock=clock, sleep=clock.sleep, margin=0)
    await bucket.acquire()
    grants: list[tuple[str, float]] = []
    names = ["a", "b", "c", "d"]
    tasks = []
    for name in names:
        tasks.append(asyncio.create_task(take(bucket, clock, grants, name)))
        await settle()
    assert bucket.waiting == 4
    await clock.advance(10)
    assert [name for name, _ in grants] == names
    assert [at for _, at in grants] == [1, 2, 3, 4]


async def test_a_cancelled_waiter_does_not_hold_up_the_others() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(calls=1, per_seconds=1), clock=clock, sleep=clock.sleep, margin=0)
    await bucket.acquire()
    grants: list[tuple[str, float]] = []
    first, second, _third = spawn([take(bucket, clock, grants, n) for n in ("a", "b", "c")])
    await settle()
    first.cancel()
    second.cancel()
    await clock.advance(1)
    assert grants == [("c", 1)]
    assert bucket.waiting == 0


async def test_pause_holds_every_waiter_until_retry_after() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Rate(calls=60, per_seconds=60), clock=clock, sleep=clock.sleep, margin=0)
    await bucket.acquire()
    grants: list[tuple[str, float]] = []
    _tasks = spawn([take(bucket, clock, grants, n) for n in ("a", "b")])
    await clock.advance(0.5)
    bucket.pause(5)
    await clock.advance(10)
    assert grants == [("a", 5.5), ("b", 6.5)], "nothing during the pause, then the steady pace again"


async def test_budget_pause_stops_the_method_in_every_channel_and_only_that_method() -> None:
    clock = FakeClock()
    budget = RateBudget(
        workspace={"chat.update": Rate(100, 1, burst=100)},
        per_channel={"chat.postMessage": Rate(100, 1, burst=100)},
        clock=clock,
        sleep=clock.sleep,
    )
    await budget.acquire("chat.postMessage", "C1")
    budget.pause("chat.postMessage", 3)
    grants: list[tuple[str, float]] = []

    async def call(method: str, channel: str) -> None:
        await budget.acquire(method, channel)
        grants.append((f"{method} {channel}", clock.now))

    _tasks = spawn(
        [
            call("chat.postMessage", "C1"),
            call("chat.postMessage", "C2"),  # a channel the budget has not seen yet
            call("chat.update", "C1"),
            call("reactions.add", "C1"),  # no limit configured
        ]
    )
    await clock.advance(1)
    assert sorted(name for name, _ in grants) == ["chat.update C1", "reactions.add C1"]
    await clock.advance(3)
    assert {name: at for name, at in grants}["chat.postMessage C1"] == 3
    assert {name: at for name, at in grants}["chat.postMessage C2"] == 3


async def test_unlimited_methods_still_honour_a_pause() -> None:
    clock = FakeClock()
    budget = RateBudget(workspace={}, clock=clock, sleep=clock.sleep)
    budget.pause("reactions.remove", 2)
    done = asyncio.create_task(budget.acquire("reactions.remove", "C1"))
    await clock.advance(1)
    assert not done.done()
    await clock.advance(1)
    assert done.done()


async def test_posts_are_limited_per_channel_and_updates_per_workspace() -> None:
    clock = FakeClock()
    budget = workspace_budget(
        updates_per_minute=60, posts_per_channel_per_second=1, clock=clock, sleep=clock.sleep
    )
    grants: list[tuple[str, float]] = []

    async def call(method: str, channel: str, tag: str) -> None:
        await budget.acquire(method, channel)
        grants.append((tag, clock.now))

    _tasks = spawn(
        [
            call("chat.postMessage", "C1", "post C1 #1"),
            call("chat.postMessage", "C1", "post C1 #2"),
            call("chat.postMessage", "C2", "post C2"),
        ]
    )
    await clock.advance(0)
    assert sorted(tag for tag, _ in grants) == ["post C1 #1", "post C2"], "other channels are not held up"
    await clock.advance(2)
    assert dict(grants)["post C1 #2"] >= 1, "a second post in the same channel waits about a second"


async def test_a_channel_grant_is_recorded_when_the_call_goes_not_when_the_channel_was_ready() -> None:
    clock = FakeClock()
    budget = RateBudget(
        workspace={"chat.postMessage": Rate(calls=2, per_seconds=6, burst=2)},
        per_channel={"chat.postMessage": Rate(calls=1, per_seconds=1)},
        clock=clock,
        sleep=clock.sleep,
    )
    await budget.acquire("chat.postMessage", "C8")
    await budget.acquire("chat.postMessage", "C9")  # the workspace is now out of calls until t=6.25
    grants: list[tuple[str, float]] = []

    async def call(tag: str) -> None:
        await budget.acquire("chat.postMessage", "C1")
        grants.append((tag, clock.now))

    _tasks = spawn([call("x"), call("y")])
    await clock.advance(10)
    (_, x), (_, y) = grants
    assert x == 6.25
    assert y >= x + 1, "two posts in one channel never go within a second of each other"


@pytest.mark.parametrize(("per_minute", "burst"), [(50, 3), (20, 1), (120, 5)])
async def test_workspace_budget_keeps_every_minute_under_the_ceiling(per_minute: float, burst: float) -> None:
    clock = FakeClock()
    budget = workspace_budget(updates_per_minute=per_minute, burst=burst, clock=clock, sleep=clock.sleep)
    times: list[float] = []

    async def reply() -> None:
        for _ in range(40):
            await budget.acquire("chat.update", "C1")
            times.append(clock.now)

    _tasks = spawn([reply() for _ in range(10)])
    await clock.advance(400 * 60 / per_minute + 10)
    assert len(times) == 400
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 60) <= per_minute
    steady = (times[-1] - times[100]) / (len(times) - 101)
    assert steady == pytest.approx(60 / per_minute, rel=0.02), "and it does use the budget it has"


def test_each_workspace_gets_a_budget_of_its_own() -> None:
    budgets = WorkspaceBudgets(workspace_budget)
    assert budgets("T1") is budgets("T1")
    assert budgets("T1") is not budgets("T2")


async def test_idle_channel_buckets_are_forgotten_but_busy_ones_are_kept() -> None:
    clock = FakeClock()
    budget = RateBudget(
        workspace={}, per_channel={"chat.postMessage": Rate(1, 1)}, clock=clock, sleep=clock.sleep
    )
    for i in range(200):
        await budget.acquire("chat.postMessage", f"old{i}")
    await clock.advance(5)
    for i in range(100):
        await budget.acquire("chat.postMessage", f"new{i}")
    waiter = asyncio.create_task(budget.acquire("chat.postMessage", "new0"))
    await clock.advance(0)
    assert not waiter.done(), "the channel's last post is remembered"
    assert len(budget._buckets) == 100, "the channels idle for longer than their window are forgotten"
    await clock.advance(2)
    assert waiter.done()
