"""``GET /sessions/{id}/events/stream``: the SSE stream of a session's log, and the knobs tests turn on it.

Connects are tail-only; ``Last-Event-ID`` resumes after that event, with the three in-progress-preview
cases of §3.4. Previews are sent only to connections that asked for them with ``event_deltas[]``
(``agent.message`` and ``agent.thinking`` separately); silence is filled with ``: heartbeat`` comments.
A ``Last-Event-ID`` that is not an event of the session starts at the tail, like a connect without it,
unless ``unknown_cursor_status`` is set. ``drop_after`` closes the socket mid-body (httpx raises
``RemoteProtocolError``); ``close``, ``session.status_terminated`` and ``session.deleted`` end streams
cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tests.fakes.qoder_api.errors import ApiError, error_type
from tests.fakes.qoder_api.middleware import REQUEST_KEY
from tests.fakes.qoder_api.session import TERMINAL_TYPES, FakeSession, Frame, find_session


@dataclass(frozen=True)
class StreamConnect:
    """One SSE connect: its cursor and whether ``agent.message`` previews were requested."""

    session_id: str
    last_event_id: str | None
    deltas: bool
    event_deltas: tuple[str, ...] = ()


@dataclass(eq=False)
class _Subscriber:
    session_id: str
    remaining: int | None = None  # frames until the connection is dropped (None: never)


class Streams:
    """The stream handler over ``sessions`` (shared with the server); ``connects`` records every connect."""

    def __init__(
        self,
        sessions: dict[str, FakeSession],
        *,
        heartbeat_interval: float,
        unknown_cursor_status: int | None,
    ) -> None:
        self.sessions = sessions
        self.heartbeat_interval = heartbeat_interval
        self.unknown_cursor_status = unknown_cursor_status
        self.connects: list[StreamConnect] = []
        self._subscribers: set[_Subscriber] = set()
        self._drop_armed: int | None = None
        self._paused_until = 0.0
        self._closing = False

    def add_to(self, router: web.UrlDispatcher, base: str) -> None:
        """Register the stream route under ``base`` (e.g. ``/api/v1/cloud``)."""
        router.add_get(f"{base}/sessions/{{sid}}/events/stream", self._stream_events)

    # -- knobs ----------------------------------------------------------------------------------

    def open_streams(self, session_id: str | None = None) -> int:
        """Currently connected SSE clients (of ``session_id``, or of every session)."""
        return sum(1 for s in self._subscribers if session_id in (None, s.session_id))

    def drop_after(self, frames: int) -> None:
        """Open streams (or, if none is open, the next one) close abruptly after ``frames`` more frames."""
        if self._subscribers:
            for sub in self._subscribers:
                sub.remaining = frames
            self._wake_all()
        else:
            self._drop_armed = frames

    def pause(self, seconds: float) -> None:
        """Send nothing on any stream (no heartbeats either) for ``seconds``."""
        self._paused_until = asyncio.get_running_loop().time() + seconds

    def close(self) -> None:
        """End every open stream cleanly, now and for good."""
        self._closing = True
        self._wake_all()

    # -- the stream -----------------------------------------------------------------------------

    async def _stream_events(self, request: web.Request) -> web.StreamResponse:
        session = find_session(self.sessions, request.match_info["sid"])
        wanted = set(request.query.getall("event_deltas[]", []) + request.query.getall("event_deltas", []))
        last_id = request.headers.get("Last-Event-ID") or None
        self.connects.append(
            StreamConnect(session.id, last_id, "agent.message" in wanted, tuple(sorted(wanted)))
        )
        start = session.resume_point(last_id) if last_id else None
        if start is None:
            if last_id and self.unknown_cursor_status is not None:
                status = self.unknown_cursor_status
                raise ApiError(status, error_type(status), f"Unknown event {last_id}.")
            start = len(session.log)
        replay_end = len(session.log)
        open_at_connect = set(session.open_previews)

        def visible(index: int, frame: Frame) -> bool:
            if frame.preview_of is None:
                return True
            if frame.preview_of not in wanted:
                return False
            if index < replay_end:  # replay: only still-open previews, minus the one the cursor is inside
                return frame.sse_id in open_at_connect and frame.sse_id != last_id
            return True

        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        request[REQUEST_KEY].status = 200
        sub = _Subscriber(session.id, self._drop_armed)
        self._drop_armed = None
        self._subscribers.add(sub)
        try:
            await self._pump(request, response, session, sub, start, visible)
        except ConnectionError:
            pass  # the client went away
        finally:
            self._subscribers.discard(sub)
        return response

    async def _pump(
        self,
        request: web.Request,
        response: web.StreamResponse,
        session: FakeSession,
        sub: _Subscriber,
        pos: int,
        visible: Callable[[int, Frame], bool],
    ) -> None:
        """Write the log from ``pos`` on, then each new frame as it comes, until the stream ends."""
        while not self._closing:
            if sub.remaining == 0:
                _abort(request)
                return
            await self._wait_unpaused()
            changed = session.changed
            while pos < len(session.log) and not self._closing and sub.remaining != 0:
                index, frame = pos, session.log[pos]
                pos += 1
                if not visible(index, frame):
                    continue
                await response.write(frame.encode())
                if sub.remaining is not None:
                    sub.remaining -= 1
                if frame.type in TERMINAL_TYPES:
                    await response.write_eof()
                    return
                await self._wait_unpaused()
            if sub.remaining == 0 or self._closing:
                continue
            if session.closed:
                await response.write_eof()
                return
            try:
                await asyncio.wait_for(changed.wait(), timeout=self.heartbeat_interval)
            except TimeoutError:
                if self._paused():
                    continue
                await response.write(b": heartbeat\n\n")
        with contextlib.suppress(ConnectionError):
            await response.write_eof()

    def _paused(self) -> bool:
        return asyncio.get_running_loop().time() < self._paused_until

    async def _wait_unpaused(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing and loop.time() < self._paused_until:
            await asyncio.sleep(min(0.05, self._paused_until - loop.time()))

    def _wake_all(self) -> None:
        for session in self.sessions.values():
            session.notify()


def _abort(request: web.Request) -> None:
    """Close the connection without finishing the chunked body (an abrupt drop)."""
    if request.transport is not None:
        request.transport.close()
