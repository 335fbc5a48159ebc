"""A token bucket that also keeps every sliding window at or under its rate; pure, time passed in."""

from __future__ import annotations

import math
from collections import deque

from bot.outbox._limits import Rate

# Extra seconds added to every window, so that calls granted exactly one window apart cannot reach Slack
# inside one window because of network jitter.
WINDOW_MARGIN = 0.25
_ROUNDING = 1e-6  # waits shorter than this are float noise, not a limit


class TokenBucket:
    """One limit in one scope. Tokens refill at the rate's pace up to ``burst``; a log of recent grants keeps
    any window of ``per_seconds`` (plus a margin) at or under ``cap`` grants."""

    def __init__(self, rate: Rate, now: float, *, margin: float = WINDOW_MARGIN) -> None:
        self.rate = rate
        self._burst = max(1.0, rate.burst)
        self._window = rate.per_seconds + margin
        self._tokens = self._burst
        self._stamp = now
        self._paused_until = -math.inf
        self._granted: deque[float] = deque(maxlen=rate.cap)

    def wait(self, now: float, *, ahead: int = 0, reserve: int = 0) -> float:
        """Seconds from ``now`` until one more grant may be made after ``ahead`` others, leaving ``reserve``
        tokens (and window slots) unspent; 0 when it may be made at once."""
        self._refill(now)
        need = ahead + 1 + reserve
        wait = max(0.0, self._paused_until - now, (need - self._tokens) * self.rate.interval)
        excess = len(self._granted) + need - self.rate.cap
        if excess > 0:
            oldest = self._granted[min(excess, len(self._granted)) - 1]
            wait = max(wait, oldest + self._window - now)
        return wait if wait > _ROUNDING else 0.0

    def take(self, now: float) -> None:
        """Use one grant at ``now`` (call only when ``wait(now)`` is 0)."""
        self._refill(now)
        self._tokens -= 1.0
        self._granted.append(now)

    def refund(self) -> None:
        """Give back the latest grant: it was not used for a call."""
        if self._granted:
            self._granted.pop()
            self._tokens = min(self._burst, self._tokens + 1.0)

    def pause(self, now: float, seconds: float) -> None:
        """Grant nothing for ``seconds`` from ``now``; afterwards the bucket restarts with a single token."""
        until = now + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._tokens = 0.0
        self._stamp = until - self.rate.interval

    def idle(self, now: float) -> bool:
        """Back to how it started: dropping the bucket forgets nothing."""
        self._refill(now)
        return (
            now >= self._paused_until
            and self._tokens >= self._burst
            and (not self._granted or self._granted[-1] + self._window <= now)
        )

    @property
    def reserve(self) -> int:
        """Tokens that intermediate frames leave for finals and prompts: two fifths of the burst."""
        return math.floor(self._burst * 0.4)

    def _refill(self, now: float) -> None:
        if now <= self._stamp:
            return
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) / self.rate.interval)
        self._stamp = now
