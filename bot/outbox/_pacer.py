"""The scheduling both reply writers share: the newest frame, at most one write cycle per interval.

A writer's caller ``show``s frames as often as it likes and returns at once; one task per writer calls
``_cycle`` to bring Slack up to the newest frame, at most once per ``interval`` unless ``flush`` asks for it
now. Frames shown meanwhile replace each other (coalesced, never queued).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import math
from collections.abc import Callable
from typing import Generic, TypeVar

from bot.outbox._scheduler import Priority
from bot.outbox._timing import Clock, Sleep, wait_event

log = logging.getLogger(__name__)

Frame = TypeVar("Frame")
_MAX_FAILURES = 3


class FramePacer(abc.ABC, Generic[Frame]):
    """Base of the reply writers: ``show`` / ``flush`` / ``aclose`` around a subclass's ``_cycle``."""

    def __init__(
        self, *, clock: Clock, sleep: Sleep, poke: Callable[[], None], interval: float, name: str
    ) -> None:
        self._clock = clock
        self._poke = poke
        self._sleep = sleep
        self._interval = interval
        self._name = name
        self._latest: Frame | None = None
        self._version = 0  # bumped by every show()
        self._visible = 0  # the newest version known to be entirely visible
        self._last_cycle = -math.inf
        self._urgent = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._planned = Priority.PROGRESS  # the priority the scheduler last saw for this writer's calls

    def show(self, frame: Frame) -> None:
        """Make ``frame`` the newest state to publish; returns at once."""
        self._latest = frame
        self._version += 1
        self._idle.clear()
        priority = self._priority()
        if priority < self._planned:
            self._poke()  # a call waiting for a grant just became more urgent: plan again now
        self._planned = priority
        self._frame_changed()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name=self._name)

    async def flush(self) -> None:
        """Write the newest frame now (not waiting for the interval); return once it is visible or failed."""
        self._urgent.set()
        await self._idle.wait()

    async def aclose(self) -> None:
        """Stop writing; frames not yet written are dropped."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_loop(self) -> None:
        while True:
            failures = 0
            while self._visible < self._version:
                wait = self._last_cycle + self._interval - self._clock()
                if wait > 0 and not self._urgent.is_set():
                    await wait_event(self._urgent, wait, self._sleep)
                self._last_cycle = self._clock()
                try:
                    await self._cycle()
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("could not bring %s up to date", self._name)
                    if failures > _MAX_FAILURES:
                        self._visible = self._version  # give up on what is pending; the next show() retries
                    else:
                        await self._sleep(min(2.0**failures, 10.0))
            self._urgent.clear()
            self._idle.set()
            if not await self._while_idle():
                return

    @abc.abstractmethod
    async def _cycle(self) -> None:
        """Bring Slack up to the newest frame; set ``_visible`` to its version once it is entirely shown."""

    @abc.abstractmethod
    def _priority(self) -> Priority:
        """How urgent this writer's next call is, given the newest frame."""

    def _frame_changed(self) -> None:
        """Hook: a new frame was shown (e.g. its priority may have risen)."""

    async def _while_idle(self) -> bool:
        """Hook: work to do while everything is visible; True to write again (a new frame came)."""
        return False
