"""Virtual time for tests: a clock that only moves when the test advances it, and a sleep that waits on it."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable


async def settle(rounds: int = 50) -> None:
    """Let every task that can run without time passing run."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeClock:
    """``clock()`` is the virtual now; ``await clock.sleep(s)`` returns once the test has advanced past it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), future))
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

    async def run_until(self, done: Callable[[], bool], *, step: float = 0.05, limit: float = 600.0) -> float:
        """Advance in ``step``s until ``done()``; return the virtual seconds it took (fails after ``limit``)."""
        start = self.now
        await settle()
        while not done():
            assert self.now - start < limit, f"not done after {limit} virtual seconds"
            await self.advance(step)
        return self.now - start
