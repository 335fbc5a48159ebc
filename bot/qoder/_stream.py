"""The resumable SSE event stream of one session (qoder-api.md §3).

One logical stream over many connections: every dropped connection, network error, idle timeout,
408/429/5xx answer or in-band ``event: error`` frame leads to a reconnect with ``Last-Event-ID`` set to the
last event's id (never a preview frame's: see ``resume_point``), after a backoff of ``base`` doubling to
``cap`` × random(0.5–1.0), reset once a connection stayed healthy for ``HEALTHY_AFTER`` seconds (§3.4).
Buffered events already yielded are dropped when a server replays them; delta frames are not
de-duplicated (they share their message's id). The clock, the sleep and the jitter are injectable (see
``_retry``); the idle timeout is httpx's read timeout and runs on real time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping

import httpx
from httpx_sse import EventSource

from bot.qoder._parse import parse_frame
from bot.qoder._previews import StreamDecoder
from bot.qoder._retry import Timing, backoff, retry_delay, status_is_retryable
from bot.qoder.errors import error_from_response
from bot.qoder.events import QoderEvent, StreamError, StreamReconnecting, Terminated

log = logging.getLogger(__name__)

HEALTHY_AFTER = 5.0
# Consecutive failed connections after which consumers are told (a single blip is not worth a word).
REPORT_AFTER_FAILURES = 2
SEEN_IDS_KEPT = 10_000


class _Reconnect(Exception):
    """This connection is over; open the next one (``delay`` overrides the backoff when set)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class _SeenIds:
    """Insertion-ordered set of the most recent ``limit`` event ids."""

    def __init__(self, limit: int) -> None:
        self._ids: dict[str, None] = {}
        self._limit = limit

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; False if it was already there."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._limit:
            del self._ids[next(iter(self._ids))]
        return True


async def resumable_stream(
    http: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    params: Mapping[str, str],
    last_event_id: str | None,
    connect_timeout: float,
    idle_timeout: float,
    backoff_base: float,
    backoff_max: float,
    timing: Timing,
) -> AsyncIterator[QoderEvent]:
    """Yield the session's events forever, until a ``Terminated`` event (yielded, then the stream ends).

    Raises the typed ``QoderError`` for answers that retrying cannot fix (401/403/404/409, other 4xx).
    ``StreamError`` frames are handled here and never yielded. While reconnecting fails repeatedly, a
    ``StreamReconnecting`` (no id, no cursor) is yielded before each further attempt.
    """
    cursor = last_event_id
    seen = _SeenIds(SEEN_IDS_KEPT)
    decoder = StreamDecoder()
    delay = backoff_base
    failures = 0
    # any byte (heartbeats included) resets the read timeout, so a silent connection dies after idle_timeout
    timeout = httpx.Timeout(connect_timeout, read=idle_timeout)
    while True:
        request_headers = dict(headers)
        if cursor:
            request_headers["Last-Event-ID"] = cursor
        connected_at: float | None = None
        try:
            async with http.stream(
                "GET", url, params=params, headers=request_headers, timeout=timeout
            ) as response:
                if not response.is_success:
                    await response.aread()
                    if not status_is_retryable(response, idempotent=True):
                        raise error_from_response(response)
                    retry_in = retry_delay(0, delay, backoff_max, response, uniform=timing.uniform)
                    raise _Reconnect(f"HTTP {response.status_code}", retry_in)
                connected_at = timing.clock()
                previous_id = ""
                async for sse in EventSource(response).aiter_sse():
                    if not sse.data:
                        # §3.2: httpx-sse dispatches a `: heartbeat` comment as an empty event carrying the
                        # previous id; it is no event and must not count as one.
                        continue
                    if sse.data.strip() == "[DONE]":  # §3.5: the server ends this connection cleanly
                        break
                    # The SSE last-event-id buffer persists across frames (WHATWG §9.2.6), so a frame without an
                    # `id:` line reports the previous frame's id; only pass an id that this frame brought.
                    own_id = sse.id if sse.id != previous_id else None
                    previous_id = sse.id
                    event = parse_frame(sse.event, sse.data, own_id)
                    if event is None:
                        continue
                    if isinstance(event, StreamError):  # §3.9: in-band error → treat as a failed connection
                        raise _Reconnect(f"in-band error {event.error_type}: {event.message}")
                    if event.id is not None and not seen.add(event.id):
                        continue
                    event = decoder.feed(event)
                    cursor = event.resume_point or cursor
                    failures = 0
                    yield event
                    if isinstance(event, Terminated):
                        return
            reason, wait = "connection closed by the server", None
        except _Reconnect as exc:
            reason, wait = str(exc), exc.delay
        except httpx.TransportError as exc:  # connect/read errors, the idle read timeout, wrong content type
            reason, wait = f"{type(exc).__name__}: {exc}", None
        if connected_at is not None and timing.clock() - connected_at >= HEALTHY_AFTER:
            delay = backoff_base
            failures = 0
        failures += 1
        pause = wait if wait is not None else backoff(delay, timing.uniform)
        log.warning("Qoder stream %s: %s; reconnecting in %.1fs", url, reason, pause)
        if failures >= REPORT_AFTER_FAILURES:
            yield StreamReconnecting(reason=reason, attempt=failures)
        await timing.sleep(pause)
        delay = min(backoff_max, delay * 2)
