"""Bring data that earlier versions left in Redis to the current key layout.

Earlier versions kept a thread's inbox as the session queue ``queue:inbox:{thread}``; now it is
``inbox:{thread}``. ``move_legacy_inboxes`` moves every such list, each in one Lua script, so it is safe
to run from several replicas at once and again at any time.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.store.redis_lists import text

__all__ = ["move_legacy_inboxes"]

# Put the legacy items before any already in the new list (they arrived earlier), then drop the old key.
_MOVE = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i = #items, 1, -1 do
    redis.call('LPUSH', KEYS[2], items[i])
end
redis.call('DEL', KEYS[1])
return #items
"""


async def move_legacy_inboxes(redis: aioredis.Redis, prefix: str) -> int:
    """Move ``{prefix}queue:inbox:*`` lists to ``{prefix}inbox:*``; returns how many messages moved."""
    legacy = f"{prefix}queue:inbox:"
    move = redis.register_script(_MOVE)
    moved = 0
    async for raw in redis.scan_iter(match=legacy + "*"):
        key = text(raw)
        moved += int(await move(keys=[key, f"{prefix}inbox:{key[len(legacy) :]}"]))
    return moved
