"""Message lists in Redis (session queues, thread inboxes), and reading Redis replies as text.

A list is the Redis list ``{prefix}{name}`` of JSON ``QueuedMessage``, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio as aioredis

from bot.models import QueuedMessage
from bot.store.serialize import MESSAGE

__all__ = ["MessageLists", "text", "texts"]


def texts(values: Iterable[object]) -> list[str]:
    """Redis replies as ``str`` (bytes are decoded, so this holds whatever the client's decoding)."""
    out: list[str] = []
    for value in values:
        if isinstance(value, bytes):
            value = value.decode()
        if not isinstance(value, str):
            raise TypeError(f"unexpected Redis reply item: {value!r}")
        out.append(value)
    return out


def text(value: object) -> str:
    return texts([value])[0]


class MessageLists:
    """FIFO lists of messages whose keys start with ``prefix``; safe to share among replicas."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def push(self, name: str, message: QueuedMessage) -> None:
        await self._redis.rpush(self._prefix + name, MESSAGE.to_json(message))

    async def peek(self, name: str) -> QueuedMessage | None:
        head = texts(await self._redis.lrange(self._prefix + name, 0, 0))
        return MESSAGE.from_json(head[0]) if head else None

    async def remove(self, name: str, message_ts: str) -> None:
        key = self._prefix + name
        items = texts(await self._redis.lrange(key, 0, -1))
        matches = {item for item in items if MESSAGE.from_json(item).message_ts == message_ts}
        if not matches:
            return
        # LREM by exact stored value: removing an element another replica already removed is a no-op.
        async with self._redis.pipeline(transaction=True) as pipe:
            for item in matches:
                pipe.lrem(key, 0, item)
            await pipe.execute()

    async def length(self, name: str) -> int:
        return int(await self._redis.llen(self._prefix + name))

    async def names(self) -> list[str]:
        """The names of the non-empty lists, sorted (empty lists do not exist in Redis)."""
        keys = texts([key async for key in self._redis.scan_iter(match=self._prefix + "*")])
        return sorted(key[len(self._prefix) :] for key in keys)
