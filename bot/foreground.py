"""Foreground first: a person's message on its way to Qoder goes ahead of the bot's own Slack output.

Intake marks each message it handles as foreground work (``Foreground.working``) until Qoder has it (or it
was queued or refused). Background work — the outbox's writes, a relay opening its event stream — calls
``Foreground.settled`` first, which waits for the foreground work that had started by then (never for
work that starts later, so steady traffic cannot starve the output), at most ``patience`` seconds. When
a hundred people mention the bot at once, their messages reach the agent before the placeholders,
reactions and status lines they cause compete with them for the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Iterator

DEFAULT_PATIENCE = 0.5  # seconds background work waits at most


class Foreground:
    """Counts foreground work in progress in this process; safe to share across tasks of one event loop."""

    def __init__(self, patience: float = DEFAULT_PATIENCE) -> None:
        self._patience = patience
        self._numbers = itertools.count(1)
        self._started = 0  # the number of the newest foreground work
        self._open: dict[int, None] = {}  # numbers of the work in progress, oldest first
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()  # (waits for work up to, future)

    @property
    def busy(self) -> bool:
        return bool(self._open)

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Mark the enclosed work as foreground."""
        number = self._started = next(self._numbers)
        self._open[number] = None
        try:
            yield
        finally:
            del self._open[number]
            self._release()

    async def settled(self) -> None:
        """Return once every piece of foreground work that had started by now has ended, or after
        ``patience`` seconds, whichever comes first; at once when there is none."""
        if not self._open:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._started, waiter))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiter), self._patience)

    def _release(self) -> None:
        oldest_open = next(iter(self._open), self._started + 1)
        while self._waiters and self._waiters[0][0] < oldest_open:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
