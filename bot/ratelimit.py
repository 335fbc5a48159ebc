"""A per-workspace budget for Slack Web API calls, shared by every reply the bot is writing.

Slack counts calls per method per workspace (Tier 3 ``chat.update``, ``chat.delete``, ``reactions.add``: 50+
a minute) and ``chat.postMessage`` also per channel (about one a second). Callers ``await
budget.acquire(method, channel)`` right before each call. Waiters are served first come, first served, so
replies that each wait for one call at a time share the budget evenly. ``pause(method, seconds)`` stops a
method for everyone after Slack answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Extra seconds added to every window, so that calls granted exactly one window apart cannot reach Slack
# inside one window because of network jitter.
WINDOW_MARGIN = 0.25
TIER3_METHODS = ("chat.update", "chat.delete", "reactions.add")
_ROUNDING = 1e-6  # waits shorter than this are float noise, not a limit
_PRUNE_AT = 256  # buckets kept before idle per-channel ones are dropped


@dataclass(frozen=True)
class Rate:
    """At most ``calls`` in any ``per_seconds`` window, at a steady pace; up to ``burst`` may go back to back."""

    calls: float
    per_seconds: float
    burst: float = 1.0

    @property
    def interval(self) -> float:
        """Steady-state seconds between two calls."""
        return self.per_seconds / self.calls

    @property
    def window(self) -> tuple[int, float]:
        """``(n, seconds)``: never more than ``n`` calls within ``seconds`` (``n`` ≥ 1, whole)."""
        n = max(1, math.floor(self.calls))
        return n, n * self.interval


class TokenBucket:
    """One limit: tokens refill at the rate's pace up to ``burst``, and a log of recent grants keeps every
    sliding window at or under the rate's ``calls``. ``acquire`` waits in FIFO order."""

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = WINDOW_MARGIN,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._cap, window = rate.window
        self._window = window + margin
        self._tokens = max(1.0, rate.burst)
        self._stamp = clock()
        self._paused_until = -math.inf
        self._granted: deque[float] = deque(maxlen=self._cap)
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Callers currently waiting in ``acquire``."""
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """Nobody waits and the bucket is back to how it started: dropping it forgets nothing."""
        now = self._clock()
        self._refill(now)
        return (
            not self._queue
            and now >= self._paused_until
            and self._tokens >= max(1.0, self._rate.burst)
            and (not self._granted or self._granted[-1] + self._window <= now)
        )

    def delay(self) -> float:
        """Seconds from now until the next call may be granted (0 when it may go at once)."""
        now = self._clock()
        self._refill(now)
        wait = max(0.0, self._paused_until - now, (1.0 - self._tokens) * self._rate.interval)
        if len(self._granted) == self._cap:
            wait = max(wait, self._granted[0] + self._window - now)
        return wait if wait > _ROUNDING else 0.0

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` from now; afterwards the bucket restarts with a single token."""
        until = self._clock() + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._tokens = 0.0
        self._stamp = until - self._rate.interval

    async def acquire(self) -> None:
        """Wait for a grant; callers are served in the order they called."""
        await acquire_together([self], self._sleep)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait until every earlier caller has left; the next one waits until this one leaves."""
        turn = asyncio.get_running_loop().create_future()
        if not self._queue:
            turn.set_result(None)
        self._queue.append(turn)
        try:
            await turn
            yield
        finally:
            self._queue.remove(turn)
            if self._queue and not self._queue[0].done():
                self._queue[0].set_result(None)

    def take(self) -> None:
        """Use one grant now (call only when ``delay()`` is 0, during your ``turn``)."""
        self._tokens -= 1.0
        self._granted.append(self._clock())

    def _refill(self, now: float) -> None:
        if now <= self._stamp:
            return
        self._tokens = min(
            max(1.0, self._rate.burst), self._tokens + (now - self._stamp) / self._rate.interval
        )
        self._stamp = now


async def acquire_together(buckets: Sequence[TokenBucket], sleep: Sleep) -> None:
    """Take one grant from each bucket, all at the same moment, so no grant is recorded before its call.

    Queues are joined in the given order, each only once the previous bucket allows a call, so a caller
    held up by a narrow limit (one channel) does not hold up the callers of a wider one (the workspace).
    """
    async with contextlib.AsyncExitStack() as stack:
        for bucket in buckets:
            await stack.enter_async_context(bucket.turn())
            while (wait := bucket.delay()) > 0:
                await sleep(wait)
        while (wait := max(bucket.delay() for bucket in buckets)) > 0:  # a pause came meanwhile
            await sleep(wait)
        for bucket in buckets:
            bucket.take()


class RateBudget:
    """Buckets per method for workspace-wide limits and per (method, channel) for per-channel limits."""

    def __init__(
        self,
        workspace: dict[str, Rate],
        per_channel: dict[str, Rate] | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._workspace_rates = dict(workspace)
        self._channel_rates = dict(per_channel or {})
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._paused_until: dict[str, float] = {}

    async def acquire(self, method: str, channel: str) -> None:
        """Wait until ``method`` may be called in ``channel`` without exceeding any limit; methods without a
        limit pass at once (unless paused)."""
        if method not in self._channel_rates and method not in self._workspace_rates:
            while (wait := self._paused_until.get(method, -math.inf) - self._clock()) > 0:
                await self._sleep(wait)
            return
        buckets = []
        if method in self._channel_rates:
            buckets.append(self._bucket(method, channel, self._channel_rates[method]))
        if method in self._workspace_rates:
            buckets.append(self._bucket(method, "", self._workspace_rates[method]))
        await acquire_together(buckets, self._sleep)

    def pause(self, method: str, seconds: float) -> None:
        """Hold every caller of ``method``, in every channel, for ``seconds`` (Slack said Retry-After)."""
        until = self._clock() + seconds
        self._paused_until[method] = max(until, self._paused_until.get(method, until))
        for (name, _), bucket in self._buckets.items():
            if name == method:
                bucket.pause(seconds)

    def _bucket(self, method: str, channel: str, rate: Rate) -> TokenBucket:
        key = (method, channel)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.idle}
            bucket = self._buckets[key] = TokenBucket(rate, clock=self._clock, sleep=self._sleep)
            paused = self._paused_until.get(method, -math.inf) - self._clock()
            if paused > 0:
                bucket.pause(paused)
        return bucket


class WorkspaceBudgets:
    """One ``RateBudget`` per Slack workspace (team id), created on first use by ``factory``."""

    def __init__(self, factory: Callable[[], RateBudget]) -> None:
        self._factory = factory
        self._budgets: dict[str, RateBudget] = {}

    def __call__(self, team_id: str) -> RateBudget:
        budget = self._budgets.get(team_id)
        if budget is None:
            budget = self._budgets[team_id] = self._factory()
        return budget


TIER2_PER_MINUTE = 20
STREAM_ENDS_PER_MINUTE = TIER2_PER_MINUTE
STREAM_APPENDS_PER_MINUTE = 100


def workspace_budget(
    updates_per_minute: float = 50,
    posts_per_channel_per_second: float = 1,
    *,
    posts_per_minute: float = 300,
    burst: float = 3,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> RateBudget:
    """The budget of one workspace. ``updates_per_minute`` caps each Tier-3 method (``chat.update``,
    ``chat.delete``, ``reactions.add``) in any 60-second window; ``posts_per_channel_per_second`` and
    ``posts_per_minute`` cap ``chat.postMessage`` per channel and per workspace. ``burst`` calls of a
    workspace-wide method may go back to back after a quiet spell; per-channel posts never burst."""
    tier3 = Rate(calls=updates_per_minute, per_seconds=60, burst=burst)
    return RateBudget(
        workspace={
            **dict.fromkeys(TIER3_METHODS, tier3),
            "chat.postMessage": Rate(calls=posts_per_minute, per_seconds=60, burst=burst),
            # native streaming (slack-platform.md §2.4): start/stop are Tier 2, append Tier 4
            "chat.startStream": Rate(calls=STREAM_ENDS_PER_MINUTE, per_seconds=60, burst=burst),
            "chat.stopStream": Rate(calls=STREAM_ENDS_PER_MINUTE, per_seconds=60, burst=burst),
            "chat.appendStream": Rate(calls=STREAM_APPENDS_PER_MINUTE, per_seconds=60, burst=burst),
            "reactions.remove": Rate(calls=TIER2_PER_MINUTE, per_seconds=60, burst=burst),
        },
        per_channel={"chat.postMessage": Rate(calls=posts_per_channel_per_second, per_seconds=1)},
        clock=clock,
        sleep=sleep,
    )
