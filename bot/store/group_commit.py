"""``GroupCommit``: many concurrent writes of records, done as few batched writes (a group commit).

A store whose every write is a round trip (a transaction on SQLite's thread, a call to Redis) pays that
trip per write; hundreds of streaming turns each saving their progress pay it hundreds of times a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GroupCommit(Generic[K, V]):
    """Writes that arrive while a batch is being written go together in the next batch; within a batch the
    newest value for a key wins. Batches are written one at a time, in order, by ``write_batch``."""

    def __init__(self, write_batch: Callable[[list[V]], Awaitable[None]]) -> None:
        self._write_batch = write_batch
        self._pending: dict[K, V] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, key: K, value: V) -> None:
        """Return once a batch holding ``value`` (or a newer value for ``key``) is written; raise what
        writing that batch raised. When idle, the batch is written at once: nothing waits for company."""
        self._pending[key] = value
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="group commit")
        await waiter

    async def _write_all(self) -> None:
        while self._pending:
            batch, waiters = list(self._pending.values()), self._waiters
            self._pending, self._waiters = {}, []
            try:
                await self._write_batch(batch)
            except asyncio.CancelledError:
                for waiter in [*waiters, *self._waiters]:
                    waiter.cancel()
                raise
            except Exception as error:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(error)
            else:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
