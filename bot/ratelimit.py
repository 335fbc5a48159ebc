"""A per-workspace budget for Slack Web API calls, shared by every reply the bot is editing.

Slack limits ``chat.update`` (Tier 3) per workspace and ``chat.postMessage`` to about one message per second
per channel. Callers ``await budget.acquire(method, channel)`` before each call; waiters are served first come,
first served, so concurrently streaming replies get a fair share. ``pause(method, seconds)`` stops a method
for everyone after Slack answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``calls`` per ``per_seconds``; ``burst`` calls may go back to back after a quiet spell."""

    calls: float
    per_seconds: float
    burst: float = 1.0

    @property
    def interval(self) -> float:
        return self.per_seconds / self.calls


class TokenBucket:
    """Tokens refill at ``rate``; ``acquire`` waits (FIFO) until one is available."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = rate.burst
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """No token is handed out for ``seconds`` from now, and the bucket restarts empty."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) * self._rate.interval)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self._rate.burst, self._tokens + elapsed / self._rate.interval)


class RateBudget:
    """Buckets per (method) for workspace-wide limits and per (method, channel) for per-channel limits."""

    def __init__(self, workspace: dict[str, Rate], per_channel: dict[str, Rate]) -> None:
        self._workspace_rates = workspace
        self._channel_rates = per_channel
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    async def acquire(self, method: str, channel: str) -> None:
        """Wait until ``method`` may be called in ``channel`` without exceeding any budget."""
        if method in self._channel_rates:
            await self._bucket(method, channel, self._channel_rates[method]).acquire()
        if method in self._workspace_rates:
            await self._bucket(method, "", self._workspace_rates[method]).acquire()

    def pause(self, method: str, seconds: float) -> None:
        """Hold every caller of ``method`` for ``seconds`` (Slack said Retry-After)."""
        for (name, _), bucket in self._buckets.items():
            if name == method:
                bucket.pause(seconds)
        if method in self._workspace_rates:
            self._bucket(method, "", self._workspace_rates[method]).pause(seconds)

    def _bucket(self, method: str, channel: str, rate: Rate) -> TokenBucket:
        key = (method, channel)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate)
        return bucket
