"""``FakeQoder``: the fake API server, put together from its parts, with what tests script and observe."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from tests.fakes.qoder_api.errors import error_type as default_error_type
from tests.fakes.qoder_api.files import PRESIGNED_PATH, FakeFiles
from tests.fakes.qoder_api.middleware import Delay, Fault, Gate, RecordedRequest
from tests.fakes.qoder_api.routes import InitialEvents, Routes
from tests.fakes.qoder_api.script import Player, Step
from tests.fakes.qoder_api.session import FakeSession, message_text
from tests.fakes.qoder_api.sse import StreamConnect, Streams

BASE_PATH = "/api/v1/cloud"


class FakeQoder:
    """The fake API server. ``await start()`` binds a free port; ``base_url`` ends in ``/api/v1/cloud``.

    Scripting: :meth:`script` queues turn scripts, each consumed by the next accepted ``user.message`` or
    ``user.define_outcome`` in any session (or by the continuation after all pending ``requires_action``
    items are answered). Without a queued script a turn answers ``"You said: <text>"`` as one streamed
    :class:`Text`; an outcome turn works on the description and is graded ``satisfied``.
    ``initial_events`` says how Create Session treats that field (see ``routes.Routes``).
    """

    def __init__(
        self,
        *,
        token: str = "pt-test",
        heartbeat_interval: float = 0.5,
        step_delay: float = 0.02,
        send_status: int = 200,
        interrupt_stop_reason: str = "cancelled",
        unknown_cursor_status: int | None = None,
        credits_per_request: float = 0.25,
        initial_events: InitialEvents = "supported",
    ) -> None:
        self.sessions: dict[str, FakeSession] = {}
        self.requests: list[RecordedRequest] = []
        self._gate = Gate(token, self.requests)
        self._player = Player(
            step_delay=step_delay,
            credits_per_request=credits_per_request,
            interrupt_stop_reason=interrupt_stop_reason,
        )
        self._routes = Routes(
            self.sessions, self._player, send_status=send_status, initial_events=initial_events
        )
        self._streams = Streams(
            self.sessions, heartbeat_interval=heartbeat_interval, unknown_cursor_status=unknown_cursor_status
        )
        self.stream_connects: list[StreamConnect] = self._streams.connects
        self.files = FakeFiles(self.sessions)
        self._player.files = self.files
        self._gate.public_prefixes = (PRESIGNED_PATH,)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port."""
        app = web.Application()
        self._gate.install(app)
        self._routes.add_to(app.router, BASE_PATH)
        self._streams.add_to(app.router, BASE_PATH)
        self.files.add_to(app.router, BASE_PATH)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])
        self.files.set_origin(f"http://127.0.0.1:{self._port}")

    async def stop(self) -> None:
        """Stop turns, end open streams and close the server."""
        self._streams.close()
        tasks = [s.turn for s in self.sessions.values() if s.turn is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeQoder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/api/v1/cloud``."""
        if self._port is None:
            raise RuntimeError("FakeQoder is not started")
        return f"http://127.0.0.1:{self._port}{BASE_PATH}"

    @property
    def token(self) -> str:
        """The one token the fake accepts (``Authorization: Bearer <token>``)."""
        return self._gate.token

    @property
    def unknown_cursor_status(self) -> int | None:
        """None: a stream resumed from an unknown ``Last-Event-ID`` starts at the tail; else this error."""
        return self._streams.unknown_cursor_status

    @unknown_cursor_status.setter
    def unknown_cursor_status(self, status: int | None) -> None:
        self._streams.unknown_cursor_status = status

    # -- scripting and observation --------------------------------------------------------------

    def script(self, *turns: Sequence[Step]) -> None:
        """Queue turn scripts (FIFO, shared by all sessions)."""
        self._player.scripts.extend(list(t) for t in turns)

    def user_messages(self, session_id: str | None = None) -> list[str]:
        """Texts of accepted ``user.message`` events, in order."""
        return [
            message_text(echo["content"])
            for sid, type_, echo in self._routes.accepted
            if type_ == "user.message" and session_id in (None, sid)
        ]

    def outcomes(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Echoes of accepted ``user.define_outcome`` events (Send Events and ``initial_events``), in order."""
        return [
            echo
            for sid, type_, echo in self._routes.accepted
            if type_ == "user.define_outcome" and session_id in (None, sid)
        ]

    def interrupts(self, session_id: str | None = None) -> int:
        """Number of accepted ``user.interrupt`` events."""
        return sum(
            1
            for sid, type_, _ in self._routes.accepted
            if type_ == "user.interrupt" and session_id in (None, sid)
        )

    def custom_tool_results(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Echoes of accepted ``user.custom_tool_result`` events, in order (an idempotent replay is not
        accepted again)."""
        return [
            echo
            for sid, type_, echo in self._routes.accepted
            if type_ == "user.custom_tool_result" and session_id in (None, sid)
        ]

    def open_streams(self, session_id: str | None = None) -> int:
        """Currently connected SSE clients."""
        return self._streams.open_streams(session_id)

    def history(self, session_id: str) -> list[dict[str, Any]]:
        """Buffered events of a session (same as ``sessions[id].events``)."""
        return self.sessions[session_id].events

    # -- fault injection ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_suffix: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        error_type: str | None = None,
        message: str = "injected failure",
        execute: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with an error (path matched by ``endswith``).

        With ``execute=True`` the request is still carried out (an ambiguous write: the client sees the error
        but the effect happened, and an idempotent retry replays the real answer).
        """
        etype = error_type or default_error_type(status)
        self._gate.faults.append(
            Fault(method.upper(), path_suffix, status, times, retry_after, etype, message, execute)
        )

    def delay(self, method: str, path_suffix: str, seconds: float, *, times: int | None = None) -> None:
        """Answer matching requests (path matched by ``endswith``; ``""`` matches every path) ``seconds``
        late: the next ``times`` of them, or every one when ``times`` is None, until ``clear_faults``."""
        self._gate.delays.append(Delay(method.upper(), path_suffix, seconds, times))

    def clear_faults(self) -> None:
        """Forget every failure injected with ``fail_next`` and every ``delay`` not used up yet."""
        self._gate.faults.clear()
        self._gate.delays.clear()

    def drop_streams_after(self, frames: int) -> None:
        """Open streams (or, if none is open, the next one) close abruptly after ``frames`` more frames."""
        self._streams.drop_after(frames)

    def pause_streams(self, seconds: float) -> None:
        """Send nothing on any stream (no heartbeats either) for ``seconds``; turns keep running."""
        self._streams.pause(seconds)

    def terminate(self, session_id: str) -> None:
        """End the session: ``session.error`` (terminal) + ``session.status_terminated``."""
        self._player.terminate(self.sessions[session_id])

    def delete(self, session_id: str) -> None:
        """Delete the session: 404 from now on; open streams receive ``session.deleted`` and end."""
        session = self.sessions[session_id]
        self._player.cancel(session)
        session.deleted = True
        session.append("session.deleted")
