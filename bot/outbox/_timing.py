"""Time as the outbox sees it: an injectable clock and sleep, so tests can step a fake one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


async def wait_event(event: asyncio.Event, timeout: float, sleep: Sleep) -> None:
    """Return when ``event`` is set or ``timeout`` seconds (as ``sleep`` counts them) have passed."""
    if sleep is asyncio.sleep:  # real time: the loop's own timer, without two tasks to start and cancel
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
        return
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(sleep(timeout))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
