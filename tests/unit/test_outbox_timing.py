"""``wait_event``: back when the event is set or the time is up, whichever comes first, in real time and in
a test's own time."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.outbox._timing import Sleep, wait_event


async def counted_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@pytest.mark.parametrize("sleep", [asyncio.sleep, counted_sleep], ids=["real time", "injected sleep"])
async def test_returns_when_the_event_is_set(sleep: Sleep) -> None:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, event.set)
    started = time.monotonic()
    await wait_event(event, 10.0, sleep)
    assert event.is_set()
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize("sleep", [asyncio.sleep, counted_sleep], ids=["real time", "injected sleep"])
async def test_returns_when_the_time_is_up(sleep: Sleep) -> None:
    event = asyncio.Event()
    started = time.monotonic()
    await wait_event(event, 0.05, sleep)
    assert not event.is_set()
    assert time.monotonic() - started >= 0.04


async def test_a_cancelled_waiter_is_cancelled_not_timed_out() -> None:
    waiter = asyncio.create_task(wait_event(asyncio.Event(), 10.0, asyncio.sleep))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
