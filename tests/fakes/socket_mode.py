"""A local fake of Slack's Socket Mode WebSocket endpoint for tests.

`FakeSocketMode` is an aiohttp WebSocket server at ``ws://127.0.0.1:<port>/link``. Point the fake Web API's
``apps.connections.open`` at it (``FakeSlack.socket_url = fake.url``) and a Socket Mode client connects here.
Like Slack it greets each connection with ``hello``, delivers envelopes (``events_api``, ``slash_commands``)
to the newest connection and expects an ack ``{"envelope_id": …, "payload"?: …}`` for each; acks are recorded
so a test can wait for one and read its payload. Client pings are answered with pongs (aiohttp's autoping).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import WSMsgType, web


class FakeSocketMode:
    """Fake Socket Mode server: sends envelopes to the connected client and records its acks."""

    def __init__(self, *, app_id: str = "A1") -> None:
        self.app_id = app_id
        self.connections = 0  # WebSocket connections accepted so far
        self.sent: list[dict[str, Any]] = []  # every envelope sent, in order
        self.acks: dict[str, dict[str, Any]] = {}  # envelope_id → the ack frame received
        self.received: list[Any] = []  # every text frame received from clients, parsed
        self._open: list[web.WebSocketResponse] = []
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ----------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application()
        app.router.add_get("/link", self._handle_link)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close every open connection and the server; the recorded state stays readable."""
        for ws in list(self._open):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSocketMode:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The ``ws://`` URL ``apps.connections.open`` should hand out."""
        if self._port is None:
            raise RuntimeError("FakeSocketMode is not started")
        return f"ws://127.0.0.1:{self._port}/link"

    @property
    def open_connections(self) -> int:
        return len(self._open)

    # ----------------------------------------------------------------------------------------- test API

    async def send_event(
        self, payload: dict[str, Any], *, retry_attempt: int = 0, retry_reason: str = ""
    ) -> str:
        """Deliver an ``event_callback`` body as an ``events_api`` envelope; returns the envelope id."""
        if retry_attempt and not retry_reason:
            retry_reason = "timeout"
        return await self._send(
            "events_api",
            payload,
            accepts_response_payload=False,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )

    async def send_command(self, fields: dict[str, Any]) -> str:
        """Deliver slash command fields as a ``slash_commands`` envelope; returns the envelope id."""
        return await self._send("slash_commands", fields, accepts_response_payload=True)

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does before it rotates a connection."""
        await self._newest().send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}
        )

    async def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The ack frame for ``envelope_id``, waiting up to ``timeout`` seconds for it."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: envelope_id in self.acks), timeout)
        return self.acks[envelope_id]

    async def wait_connected(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` connections have been accepted in total."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.connections >= count), timeout)

    # ----------------------------------------------------------------------------------------- internals

    def _newest(self) -> web.WebSocketResponse:
        if not self._open:
            raise RuntimeError("no Socket Mode client is connected")
        return self._open[-1]

    async def _send(self, kind: str, payload: dict[str, Any], **extra: Any) -> str:
        envelope_id = f"env-{next(self._ids):06d}-{int(time.time())}"
        envelope = {"envelope_id": envelope_id, "type": kind, **extra, "payload": payload}
        ws = self._newest()
        self.sent.append(envelope)
        await ws.send_json(envelope)
        return envelope_id

    async def _handle_link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._open.append(ws)
        async with self._changed:
            self.connections += 1
            self._changed.notify_all()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._open),
                "debug_info": {
                    "host": "fake-socket-mode",
                    "build_number": 1,
                    "approximate_connection_time": 3600,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(message.data)
                except json.JSONDecodeError:
                    frame = message.data
                self.received.append(frame)
                if isinstance(frame, dict) and "envelope_id" in frame:
                    async with self._changed:
                        self.acks[str(frame["envelope_id"])] = frame
                        self._changed.notify_all()
        finally:
            self._open.remove(ws)
        return ws
