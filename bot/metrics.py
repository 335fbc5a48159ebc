"""Prometheus instruments: what the rest of the bot reports, and the text ``/metrics`` serves.

The use cases, the relay and the outbox call the small functions below at the moments they know of; none
of them reads a metric back. Counters and histograms are process-wide (one bot per process); gauges that
describe a running bot (active relays, queued messages, readiness) are set by ``render`` from the values
its caller passes, just before each scrape. Every label takes values from a small fixed vocabulary.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "ReplyTiming",
    "message_refused",
    "qoder_event",
    "render",
    "slack_call",
    "turn_finished",
    "turn_started",
    "user_message_accepted",
    "watch_loop_lag",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_STALENESS_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

TURNS_STARTED = Counter(
    "qoder_slack_turns_started", "Turns started: a user.message Qoder accepted", registry=REGISTRY
)
TURNS_FINISHED = Counter(
    "qoder_slack_turns_finished",
    "Turns whose relay ended, by outcome (done, stopped, failed, needs_action)",
    ["outcome"],
    registry=REGISTRY,
)
QODER_EVENTS = Counter(
    "qoder_slack_qoder_events", "Qoder stream events relayed, by type", ["type"], registry=REGISTRY
)
SLACK_CALLS = Counter(
    "qoder_slack_slack_calls",
    "Slack Web API calls, by method and result (ok, ratelimited, a Slack error code, or exception)",
    ["method", "result"],
    registry=REGISTRY,
)
SLACK_RATE_LIMITED = Counter(
    "qoder_slack_slack_rate_limited", "Slack 429 answers, by method", ["method"], registry=REGISTRY
)
MESSAGES_REFUSED = Counter(
    "qoder_slack_messages_refused",
    "Messages not passed to the agent, by reason (not_allowed, too_long, user_rate)",
    ["reason"],
    registry=REGISTRY,
)
MENTION_TO_USER_MESSAGE = Histogram(
    "qoder_slack_mention_to_user_message_seconds",
    "From a person's Slack message to Qoder accepting it as user.message (messages that waited in a queue"
    " are not included)",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
FINAL_TO_VISIBLE = Histogram(
    "qoder_slack_final_answer_visible_seconds",
    "From the event that ends a turn to Slack showing the final reply",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
STALENESS = Histogram(
    "qoder_slack_intermediate_staleness_seconds",
    "How old the oldest newly shown event is when an intermediate reply edit lands in Slack",
    buckets=_STALENESS_BUCKETS,
    registry=REGISTRY,
)
LOOP_LAG_INTERVAL = 0.05
LOOP_LAG = Histogram(
    "qoder_slack_event_loop_lag_seconds",
    f"How late a timer set every {LOOP_LAG_INTERVAL * 1000:.0f} ms fires: how long an arriving Qoder event or"
    " Slack request waits before the bot gets to it",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)

# Gauges of the running bot, set at scrape time. ``qoder_slack_active_runs`` is the original name of
# ``qoder_slack_active_relays`` and stays for dashboards that use it.
_BOT_REGISTRY = CollectorRegistry()
_ACTIVE_RELAYS = Gauge(
    "qoder_slack_active_relays", "Turns this process is relaying now", registry=_BOT_REGISTRY
)
_ACTIVE_RUNS = Gauge(
    "qoder_slack_active_runs", "Same as qoder_slack_active_relays (older name)", registry=_BOT_REGISTRY
)
_QUEUED = Gauge(
    "qoder_slack_queued_messages",
    "Messages waiting behind a running turn (the store's count, shared by every replica)",
    registry=_BOT_REGISTRY,
)
_READY = Gauge("qoder_slack_ready", "1 while the bot takes work", registry=_BOT_REGISTRY)

_ERROR_CODE = re.compile(r"[a-z_]{1,40}")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def turn_started() -> None:
    """A turn began: Qoder accepted its ``user.message``."""
    TURNS_STARTED.inc()


def user_message_accepted(message_ts: str, *, now: Callable[[], float] = time.time) -> None:
    """Qoder accepted the person's message posted at Slack ``message_ts`` without it waiting in a queue."""
    try:
        posted = float(message_ts)
    except ValueError:
        return
    MENTION_TO_USER_MESSAGE.observe(max(0.0, now() - posted))


def turn_finished(outcome: str) -> None:
    """A relay ended its turn in ``outcome`` (a ``TurnState.phase`` other than ``running``)."""
    TURNS_FINISHED.labels(outcome=outcome).inc()


def qoder_event(event: object) -> None:
    """One parsed Qoder event was folded into a turn; counted by its kind (``AgentMessage`` →
    ``agent_message``), so the label vocabulary is the bot's event types."""
    kind = type(event)
    counter = _EVENT_COUNTERS.get(kind)
    if counter is None:
        counter = _EVENT_COUNTERS[kind] = QODER_EVENTS.labels(type=_CAMEL.sub("_", kind.__name__).lower())
    counter.inc()


_EVENT_COUNTERS: dict[type, Counter] = {}  # by event class: every streamed delta is counted


def slack_call(method: str, result: str) -> None:
    """One Slack call to ``method`` ended in ``result``: ``ok``, ``ratelimited``, Slack's error code or
    ``exception`` (no answer). Anything that does not look like an error code counts as ``error``."""
    if result == "ratelimited":
        SLACK_RATE_LIMITED.labels(method=method).inc()
    elif result not in ("ok", "exception") and not _ERROR_CODE.fullmatch(result):
        result = "error"
    SLACK_CALLS.labels(method=method, result=result).inc()


async def watch_loop_lag(
    *,
    interval: float = LOOP_LAG_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Observe, every ``interval`` seconds until cancelled, how much later than asked the event loop woke
    this task (``qoder_slack_event_loop_lag_seconds``)."""
    while True:
        due = clock() + interval
        await sleep(interval)
        LOOP_LAG.observe(max(0.0, clock() - due))


def message_refused(reason: str) -> None:
    """A message was not passed to the agent because of ``reason``."""
    MESSAGES_REFUSED.labels(reason=reason).inc()


def render(*, active_relays: int, queued_messages: int, ready: bool) -> bytes:
    """The ``/metrics`` page in Prometheus' text format, with the bot's gauges set to these values."""
    _ACTIVE_RELAYS.set(active_relays)
    _ACTIVE_RUNS.set(active_relays)
    _QUEUED.set(queued_messages)
    _READY.set(int(ready))
    return generate_latest(REGISTRY) + generate_latest(_BOT_REGISTRY)


class ReplyTiming:
    """Times one turn's frames from the moment the relay made them to the moment Slack shows them.

    ``shown`` is called for each frame made from newly received events and returns its sequence number;
    ``written`` when the frame with that number is entirely visible. An intermediate write observes the
    age of the oldest frame it made visible (staleness); the first write of a finished frame observes the
    time since the turn's end was first shown (final answer → visible).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pending: deque[tuple[int, float]] = deque()
        self._next = 0
        self._final_at: float | None = None
        self._final_reported = False

    def shown(self, *, final: bool) -> int:
        seq, now = self._next, self._clock()
        self._next += 1
        self._pending.append((seq, now))
        if final and self._final_at is None:
            self._final_at = now
        return seq

    def written(self, seq: int, *, final: bool) -> None:
        now = self._clock()
        oldest: float | None = None
        while self._pending and self._pending[0][0] <= seq:
            _, at = self._pending.popleft()
            oldest = at if oldest is None else oldest
        if final:
            if self._final_at is not None and not self._final_reported:
                self._final_reported = True
                FINAL_TO_VISIBLE.observe(now - self._final_at)
        elif oldest is not None:
            STALENESS.observe(now - oldest)
