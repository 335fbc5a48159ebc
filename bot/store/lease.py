"""``Leases``: locks in Redis that every process sharing the server respects, and that a dead holder loses.

A lease is a key set with ``SET key token NX PX ttl``. Its holder renews it every third of the TTL while
the body runs and deletes it at the end, both only while the key still holds its own token (Lua
compare-and-set), so a holder never touches a lease that expired and went to someone else. A holder that
stops renewing (its process died, or lost Redis) loses the lease after the TTL. Waiters poll with a
growing, jittered delay.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

__all__ = ["DEFAULT_LEASE_TTL", "Leases"]

log = logging.getLogger(__name__)

DEFAULT_LEASE_TTL = 15.0

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Leases:
    """Hold Redis keys as leases of ``ttl_seconds``; waiting polls every ``poll_min``…``poll_max`` seconds."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        ttl_seconds: float = DEFAULT_LEASE_TTL,
        poll_min: float = 0.01,
        poll_max: float = 0.2,
    ) -> None:
        if ttl_seconds <= 0 or not 0 < poll_min <= poll_max:
            raise ValueError("lease TTL and polling delays must be positive, poll_min <= poll_max")
        self._redis = redis
        self._ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        self._renew_every = ttl_seconds / 3
        self._poll_min = poll_min
        self._poll_max = poll_max
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lease ``key`` for the body: wait until it is free, keep it renewed, release it after."""
        token = uuid.uuid4().hex
        try:
            await self._acquire(key, token)
        except BaseException:
            await self._release_quietly(key, token)  # a cancelled SET may still have taken the lease
            raise
        renewer = asyncio.create_task(self._keep(key, token), name=f"renew lease {key}")
        try:
            yield
        finally:
            renewer.cancel()
            await self._release_quietly(key, token)

    async def _acquire(self, key: str, token: str) -> None:
        delay = self._poll_min
        while not await self._redis.set(key, token, nx=True, px=self._ttl_ms):
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self._poll_max)

    async def _keep(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                renewed = await self._renew(keys=[key], args=[token, self._ttl_ms])
            except Exception as error:  # the lease lasts until its TTL: try again at the next interval
                log.warning("could not renew lease %s: %s", key, error)
                continue
            if not renewed:
                log.warning("lease %s expired while held; another holder may run concurrently", key)
                return

    async def _release_quietly(self, key: str, token: str) -> None:
        try:
            await self._release(keys=[key], args=[token])
        except Exception as error:  # it expires after its TTL anyway
            log.warning("could not release lease %s: %s", key, error)
