"""Who may call Slack next: priority classes over per-method, per-scope token buckets.

Callers ``await acquire(Want(...))`` right before a call and get a ``Grant`` for a method. The scheduler
serves waiters by priority class, then first come first served, and only ever grants what every bucket of
the method allows now:

* a waiter that cannot go holds up lower classes on the buckets that hold it up (lower classes only use
  budget the higher ones leave), but not on buckets it could use;
* ``PROGRESS`` (intermediate frames) never spends a bucket's reserve, so finals and prompts stay immediate;
* an ``URGENT`` want with an ``alternative`` method is granted that method instead when the preferred one
  could not be granted within ``patience`` seconds of becoming urgent (a final answer posted as a new
  message instead of an edit);
* ``pause`` holds a method in a scope for Slack's ``Retry-After``.

``plan(now)`` is pure bookkeeping driven by the given time, so tests can step a fake clock through it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from bot import log_context
from bot.foreground import Foreground
from bot.outbox._bucket import TokenBucket
from bot.outbox._limits import Limits
from bot.outbox._timing import Clock, Sleep, wait_event

log = logging.getLogger(__name__)


_PRUNE_AT = 512  # buckets kept before idle per-channel ones are dropped


class Priority(IntEnum):
    """What a call is for, most urgent first."""

    URGENT = 1  # the first post of a reply, a turn's final state, prompts waiting for a person, error notices
    FEEDBACK = 2  # queued/done/failed reactions, the thread status, tidying up stale messages
    PROGRESS = 3  # intermediate frames of a running turn


PriorityOf = Priority | Callable[[], Priority]

# What the bot shows in Slack waits for the foreground before it asks for a grant (waiting after one
# would send a bucket's worth of grants in one burst); reads, modals and joins (which people's own
# requests await, some within a trigger's 3 seconds) do not.
_OUTPUT = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.delete",
        "chat.postEphemeral",
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
        "reactions.add",
        "reactions.remove",
        "assistant.threads.setStatus",
    }
)


@dataclass
class Want:
    """A call someone is about to make. ``priority`` may be a callable: it is asked at every plan, so a frame
    that becomes final while it waits moves up (call ``Scheduler.poke`` when that happens)."""

    method: str
    channel: str
    priority: PriorityOf = Priority.URGENT
    alternative: str | None = None
    patience: float = 0.0

    def current_priority(self) -> Priority:
        return self.priority() if callable(self.priority) else self.priority


@dataclass(frozen=True)
class Grant:
    """Permission for one call of ``method`` in ``channel``; ``refund`` it when no call was made."""

    method: str
    channel: str
    _buckets: tuple[TokenBucket, ...] = field(repr=False, compare=False)

    def refund(self) -> None:
        for bucket in self._buckets:
            bucket.refund()


@dataclass(eq=False)  # each waiter is itself: finding one in the queue must not compare their fields
class _Waiter:
    want: Want
    seq: int
    future: asyncio.Future[Grant]
    urgent_since: float | None = None  # when it was first planned as URGENT: patience counts from there


class Scheduler:
    """The call budget of one workspace."""

    def __init__(
        self,
        limits: Limits,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        foreground: Foreground | None = None,
    ) -> None:
        self._limits = limits
        self._foreground = foreground if foreground is not None else Foreground()
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._paused: dict[tuple[str, str], float] = {}  # (method, channel or "") → until
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._poked = asyncio.Event()
        self._planner: asyncio.Task[None] | None = None
        self._queued: dict[tuple[str, str], int] = {}  # (method, channel or "") → waiters that need it

    @property
    def waiting(self) -> int:
        """Callers currently waiting for a grant."""
        return len(self._waiters)

    async def acquire(self, want: Want) -> Grant:
        """Wait for a grant of ``want.method`` (or its alternative); cancelling gives back nothing taken.
        A call that changes what Slack shows first waits for the foreground."""
        if want.method in _OUTPUT:
            await self._foreground.settled()
        now = self._clock()
        grant = self._grant_at_once(want, now)
        if grant is not None:
            return grant
        waiter = _Waiter(want, next(self._seq), asyncio.get_running_loop().create_future())
        self._enqueue(waiter)
        self._ensure_planner()
        self.poke()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._dequeue(waiter)
            elif waiter.future.done() and not waiter.future.cancelled():
                waiter.future.result().refund()
            self.poke()
            raise

    def _grant_at_once(self, want: Want, now: float) -> Grant | None:
        """A grant without planning, when nobody waits on the method's buckets and they allow it now."""
        if any(self._queued.get(key) for key in self._keys(want.method, want.channel)):
            return None
        grant, _ = self._try(want.method, want.channel, want.current_priority(), {}, now, hold=False)
        return grant

    def _keys(self, method: str, channel: str) -> list[tuple[str, str]]:
        return [(method, channel if rate.scope == "channel" else "") for rate in self._limits.get(method, ())]

    def _waiter_keys(self, waiter: _Waiter) -> list[tuple[str, str]]:
        want = waiter.want
        keys = self._keys(want.method, want.channel)
        if want.alternative is not None:
            keys += self._keys(want.alternative, want.channel)
        return keys

    def _enqueue(self, waiter: _Waiter) -> None:
        self._waiters.append(waiter)
        for key in self._waiter_keys(waiter):
            self._queued[key] = self._queued.get(key, 0) + 1

    def _dequeue(self, waiter: _Waiter) -> None:
        self._waiters.remove(waiter)
        for key in self._waiter_keys(waiter):
            left = self._queued[key] - 1
            if left:
                self._queued[key] = left
            else:
                del self._queued[key]

    def poke(self) -> None:
        """Something changed (a priority, a refund): plan again soon."""
        self._poked.set()

    def pause(self, method: str, channel: str, seconds: float) -> None:
        """Hold ``method`` for ``seconds``: in ``channel`` when Slack limits it per channel, else everywhere."""
        now = self._clock()
        per_channel = any(rate.scope == "channel" for rate in self._limits.get(method, ()))
        scope = channel if per_channel else ""
        key = (method, scope)
        self._paused[key] = max(self._paused.get(key, -math.inf), now + seconds)
        for (name, where), bucket in self._buckets.items():
            if name == method and (not per_channel or where == channel):
                bucket.pause(now, seconds)
        log.warning("Slack rate-limited %s; holding it for %.1fs", method, seconds)
        self.poke()

    def plan(self, now: float) -> float | None:
        """Grant every waiter that may go at ``now``; seconds until planning again is useful (None: no one
        waits)."""
        order = sorted(self._waiters, key=lambda w: (w.want.current_priority(), w.seq))
        held: dict[int, int] = {}  # id(bucket) → waiters ahead that this bucket holds up
        soonest = math.inf
        for waiter in order:
            want = waiter.want
            priority = want.current_priority()
            if priority is Priority.URGENT and waiter.urgent_since is None:
                waiter.urgent_since = now
            grant, wait = self._try(want.method, want.channel, priority, held, now, hold=True)
            if grant is None and want.alternative is not None and waiter.urgent_since is not None:
                patience = want.patience - (now - waiter.urgent_since)
                if wait > patience:
                    grant, alt_wait = self._try(
                        want.alternative, want.channel, priority, held, now, hold=True
                    )
                    wait = min(wait, alt_wait)
                else:
                    wait = min(wait, max(patience, 1e-3))  # plan again when patience runs out
            if grant is not None:
                self._dequeue(waiter)
                if not waiter.future.done():
                    waiter.future.set_result(grant)
                else:
                    grant.refund()
                continue
            soonest = min(soonest, wait)
        if not self._waiters:
            return None
        return soonest

    def _try(
        self, method: str, channel: str, priority: Priority, held: dict[int, int], now: float, *, hold: bool
    ) -> tuple[Grant | None, float]:
        """Grant ``method`` now if every bucket allows it; else how long until it might, holding the buckets
        that said no for the waiters behind."""
        buckets = self._buckets_for(method, channel, now)
        paused = self._paused_wait(method, channel, now)
        waits = [
            bucket.wait(
                now,
                ahead=held.get(id(bucket), 0),
                reserve=bucket.reserve if priority is Priority.PROGRESS else 0,
            )
            for bucket in buckets
        ]
        wait = max([paused, *waits])
        if wait == 0 and not any(held.get(id(bucket), 0) for bucket in buckets):
            for bucket in buckets:
                bucket.take(now)
            return Grant(method, channel, tuple(buckets)), 0.0
        if hold:
            for bucket, bucket_wait in zip(buckets, waits, strict=True):
                if bucket_wait > 0 or held.get(id(bucket), 0):
                    held[id(bucket)] = held.get(id(bucket), 0) + 1
        return None, max(wait, 1e-3)

    def _paused_wait(self, method: str, channel: str, now: float) -> float:
        until = max(self._paused.get((method, ""), -math.inf), self._paused.get((method, channel), -math.inf))
        return max(0.0, until - now)

    def _buckets_for(self, method: str, channel: str, now: float) -> list[TokenBucket]:
        buckets: list[TokenBucket] = []
        for rate in self._limits.get(method, ()):
            key = (method, channel if rate.scope == "channel" else "")
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _PRUNE_AT:
                    self._prune(now)
                bucket = self._buckets[key] = TokenBucket(rate, now)
                paused = self._paused_wait(method, channel, now)
                if paused > 0:
                    bucket.pause(now, paused)
            buckets.append(bucket)
        return buckets

    def _prune(self, now: float) -> None:
        self._buckets = {key: b for key, b in self._buckets.items() if not b.idle(now)}
        self._paused = {key: until for key, until in self._paused.items() if until > now}

    def _ensure_planner(self) -> None:
        if self._planner is None or self._planner.done():
            self._planner = asyncio.create_task(self._plan_forever(), name="outbox planner")

    async def _plan_forever(self) -> None:
        log_context.clear()  # started by whichever call came first; it plans for every thread
        while True:
            self._poked.clear()
            delay = self.plan(self._clock())
            if delay is None:
                return
            await wait_event(self._poked, delay, self._sleep)

    async def aclose(self) -> None:
        """Stop planning; waiters still waiting are cancelled."""
        for waiter in self._waiters:
            waiter.future.cancel()
        self._waiters.clear()
        self._queued.clear()
        if self._planner is not None:
            self._planner.cancel()
            await asyncio.gather(self._planner, return_exceptions=True)
