"""Foreground first: background work waits for the person-facing work that had started, never for later work."""

from __future__ import annotations

import asyncio

from bot.foreground import Foreground


async def test_settled_returns_at_once_when_nothing_is_in_the_foreground() -> None:
    foreground = Foreground(patience=10.0)
    await asyncio.wait_for(foreground.settled(), timeout=0.5)
    assert not foreground.busy


async def test_background_waits_until_the_foreground_work_ends() -> None:
    foreground = Foreground(patience=10.0)
    release = asyncio.Event()
    order: list[str] = []

    async def person() -> None:
        with foreground.working():
            await release.wait()
            order.append("person")

    async def output() -> None:
        await foreground.settled()
        order.append("output")

    task = asyncio.create_task(person())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(output())
    await asyncio.sleep(0.05)
    assert order == [] and foreground.busy
    release.set()
    await asyncio.gather(task, waiting)
    assert order == ["person", "output"]


async def test_work_started_after_the_wait_began_is_not_waited_for() -> None:
    foreground = Foreground(patience=10.0)
    first_done = asyncio.Event()
    later_done = asyncio.Event()

    async def first() -> None:
        with foreground.working():
            await first_done.wait()

    async def later() -> None:
        with foreground.working():
            await later_done.wait()

    tasks = [asyncio.create_task(first())]
    await asyncio.sleep(0)
    waiting = asyncio.create_task(foreground.settled())
    tasks.append(asyncio.create_task(later()))
    await asyncio.sleep(0)
    first_done.set()
    await asyncio.wait_for(waiting, timeout=1.0)  # "later" is still in the foreground
    assert foreground.busy
    later_done.set()
    await asyncio.gather(*tasks)
    assert not foreground.busy


async def test_out_of_order_endings_release_only_when_every_earlier_work_ended() -> None:
    foreground = Foreground(patience=10.0)
    ends = [asyncio.Event(), asyncio.Event()]

    async def work(index: int) -> None:
        with foreground.working():
            await ends[index].wait()

    tasks = [asyncio.create_task(work(i)) for i in range(2)]
    await asyncio.sleep(0)
    waiting = asyncio.create_task(foreground.settled())
    ends[1].set()  # the newer one ends first
    await asyncio.sleep(0.05)
    assert not waiting.done()
    ends[0].set()
    await asyncio.wait_for(waiting, timeout=1.0)
    await asyncio.gather(*tasks)


async def test_patience_bounds_the_wait() -> None:
    foreground = Foreground(patience=0.05)
    never = asyncio.Event()

    async def stuck() -> None:
        with foreground.working():
            await never.wait()

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    await asyncio.wait_for(foreground.settled(), timeout=1.0)
    assert foreground.busy
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not foreground.busy


async def test_work_that_fails_still_leaves_the_foreground() -> None:
    foreground = Foreground(patience=10.0)

    async def failing() -> None:
        with foreground.working():
            await asyncio.sleep(0)
            raise RuntimeError("refused")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(foreground.settled())
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.wait_for(waiting, timeout=1.0)
    assert not foreground.busy
