"""``QoderClient``: the Qoder Managed API calls the bridge makes, over httpx + httpx-sse.

httpx's API, aiohttp's connection pool underneath (httpx-aiohttp): httpcore's pool costs several times the
CPU per request and scans every pooled connection whenever a request starts or ends, which made a burst of
simultaneous mentions spend most of its time there instead of talking to Qoder.

Every request carries ``Authorization: Bearer <token>`` (never logged). Any 2xx is success (§7 #8–10).
Ordinary requests are retried on network errors, 408, 429 and 5xx with exponential backoff and jitter,
honouring ``Retry-After`` — but only GETs and requests carrying an ``Idempotency-Key`` (429 always, 409
never), at most ``max_retries`` times; then the typed error from ``bot.qoder.errors`` is raised (see
``_request``). The event stream reconnects on its own (see ``_stream``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from bot.qoder._history import history
from bot.qoder._request import request_json
from bot.qoder._retry import Clock, Sleep, Timing, Uniform
from bot.qoder._stream import resumable_stream
from bot.qoder.errors import QoderError
from bot.qoder.events import QoderEvent
from bot.qoder.outcome import OutcomeSpec
from bot.qoder.presigned import DownloadLink, fetch_presigned
from bot.qoder.session import Session

log = logging.getLogger(__name__)

_IDEMPOTENCY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "qoder-slack/idempotency-key")

# Every active turn holds one connection open for its event stream, so streams get a pool without a cap
# (a cap would make the next turn's stream wait for some other turn to end) ...
STREAM_CONNECTIONS = 0  # aiohttp: no limit
# ... and requests a pool of their own, so a message or an interrupt never queues behind open streams.
# Beyond this many requests on the wire at once, the next one waits for a connection to come free.
REQUEST_CONNECTIONS = 64


def pooled_client(connections: int) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` over an aiohttp pool of at most ``connections`` (0: any number).

    The aiohttp session is created on the first request, inside the running event loop.
    """

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))

    return httpx.AsyncClient(transport=AiohttpTransport(client=session))


def idempotency_uuid(scope: str, key: str) -> str:
    """A stable UUID for ``key`` within ``scope``: the same inputs always give the same header value.

    Scoping keeps one caller key from colliding across operations, which Qoder would answer with 409
    "Idempotency key reused with a different request body" (§1.6).
    """
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{scope}\n{key}"))


class QoderClient:
    """Async client for one Qoder base URL and token. Pass ``http`` to share (or mock) the transport (event
    streams use it too unless ``stream_http`` is given), and ``clock``/``sleep``/``uniform`` (monotonic
    seconds, waiting, jitter draws) to drive retries in tests. Without ``http`` the client owns two
    connection pools: one for requests, one for the long-lived event streams."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        http: httpx.AsyncClient | None = None,
        stream_http: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        idle_timeout: float = 60.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        uniform: Uniform = random.uniform,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._owned: list[httpx.AsyncClient] = []
        if http is None:
            http = pooled_client(REQUEST_CONNECTIONS)
            self._owned.append(http)
            if stream_http is None:
                stream_http = pooled_client(STREAM_CONNECTIONS)
                self._owned.append(stream_http)
        self._http = http
        self._stream_http = stream_http if stream_http is not None else http
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._idle_timeout = idle_timeout
        self._timing = Timing(clock, sleep, uniform)

    def __repr__(self) -> str:  # keeps the token out of reprs and logs
        return f"QoderClient({self._base!r})"

    async def ping(self) -> None:
        """One authenticated cheap request (``GET /models``, no retries); raises the typed error on failure."""
        await self._request("GET", "/models", max_retries=0)

    async def aclose(self) -> None:
        """Close the HTTP clients this instance created."""
        for http in self._owned:
            await http.aclose()

    # --- sessions -------------------------------------------------------------------------------------

    async def create_session(
        self,
        *,
        agent: str,
        environment_id: str,
        title: str,
        metadata: dict[str, str],
        idempotency_key: str,
        outcome: OutcomeSpec | None = None,
    ) -> Session:
        """``POST /sessions``. Retrying with the same ``idempotency_key`` returns the same session.

        With ``outcome`` it goes in ``initial_events``, which Qoder processes right after creation (§S1);
        a server that does not know the field may ignore it (the session's ``outcome_ids`` stay empty) or
        refuse the request (``InvalidRequestError``).
        """
        body = {"agent": agent, "environment_id": environment_id, "title": title, "metadata": metadata}
        initial = {} if outcome is None else {"initial_events": [outcome.event()]}
        key = idempotency_uuid("create-session", idempotency_key)
        data = await self._request("POST", "/sessions", json={**body, **initial}, idempotency_key=key)
        return Session.from_wire(data if isinstance(data, dict) else {})

    async def get_session(self, session_id: str) -> Session:
        """``GET /sessions/{id}``."""
        data = await self._request("GET", _session_path(session_id))
        return Session.from_wire(data if isinstance(data, dict) else {})

    async def archive(self, session_id: str) -> Session:
        """``POST /sessions/{id}/archive``: the session keeps its history and accepts no new events (§S6)."""
        data = await self._request("POST", _session_path(session_id, "/archive"))
        return Session.from_wire(data if isinstance(data, dict) else {})

    async def cancel(self, session_id: str) -> None:
        """``POST /sessions/{id}/cancel``: stop the running turn (a no-op when idle)."""
        await self._request("POST", _session_path(session_id, "/cancel"))

    # --- events ---------------------------------------------------------------------------------------

    async def send_message(
        self,
        session_id: str,
        text: str,
        *,
        idempotency_key: str,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> str:
        """Send ``text`` as a ``user.message``, followed by the content blocks in ``attachments`` (images,
        documents); return the id of its echo event ("" if the answer had none). Raises ``ConflictError``
        with ``busy`` set while the session is still running a turn."""
        content: list[Any] = [{"type": "text", "text": text}] if text or not attachments else []
        content.extend(dict(block) for block in attachments)
        event = {"type": "user.message", "content": content}  # §7 #1: always blocks
        return await self._send_events(session_id, [event], idempotency_key, busy_if_unsure=True)

    async def define_outcome(self, session_id: str, outcome: OutcomeSpec, *, idempotency_key: str) -> str:
        """Send ``user.define_outcome``, which starts a turn working toward it; returns the echo id.

        Raises ``ConflictError`` with ``busy`` set while the session is running (one outcome at a time).
        """
        return await self._send_events(session_id, [outcome.event()], idempotency_key, busy_if_unsure=True)

    async def interrupt(self, session_id: str, *, idempotency_key: str) -> None:
        """Send ``user.interrupt``; if Qoder refuses it with a 4xx other than 401/403/404, ``cancel`` instead."""
        try:
            await self._send_events(session_id, [{"type": "user.interrupt"}], idempotency_key)
        except QoderError as exc:
            if exc.status is None or not 400 <= exc.status < 500 or exc.status in (401, 403, 404):
                raise
            log.info(
                "user.interrupt refused (HTTP %s); cancelling session %s instead", exc.status, session_id
            )
            await self.cancel(session_id)

    async def confirm_tool(
        self, session_id: str, tool_use_id: str, *, allow: bool, idempotency_key: str, deny_message: str = ""
    ) -> str:
        """Answer a tool call waiting for permission (``user.tool_confirmation``); returns the echo id."""
        event: dict[str, Any] = {
            "type": "user.tool_confirmation",
            "tool_use_id": tool_use_id,
            "result": "allow" if allow else "deny",
        }
        if not allow and deny_message:
            event["deny_message"] = deny_message
        return await self._send_events(session_id, [event], idempotency_key)

    async def custom_tool_result(
        self, session_id: str, tool_use_id: str, *, text: str, is_error: bool, idempotency_key: str
    ) -> str:
        """Answer a custom tool call the paused turn waits on (``user.custom_tool_result``, §4) with ``text``
        (``is_error``: the tool failed or does not exist here); returns the echo id."""
        event: dict[str, Any] = {
            "type": "user.custom_tool_result",
            "custom_tool_use_id": tool_use_id,
            "content": [{"type": "text", "text": text}],
            "is_error": is_error,
        }
        return await self._send_events(session_id, [event], idempotency_key)

    def list_events(
        self, session_id: str, *, after_id: str | None = None, limit: int = 100
    ) -> AsyncIterator[QoderEvent]:
        """Buffered history after ``after_id`` (oldest first), following ``next_page`` or ``has_more``/``last_id``."""
        path = _session_path(session_id, "/events")

        async def get_page(params: dict[str, str | int]) -> Any:
            return await self._request("GET", path, params=params)

        return history(get_page, after_id=after_id, limit=limit)

    def stream(
        self, session_id: str, *, last_event_id: str | None, deltas: bool = True
    ) -> AsyncIterator[QoderEvent]:
        """The session's live events, resuming after ``last_event_id`` (None: from the tail, §3.3).

        Reconnects on its own and never ends while the session lives: break out when done. Ends after
        yielding ``Terminated``. Raises the typed error on 401/403/404/409.
        """
        params = {"event_deltas[]": "agent.message"} if deltas else {}
        return resumable_stream(
            self._stream_http,
            self._url(_session_path(session_id, "/events/stream")),
            headers={**self._auth(), "Accept": "text/event-stream", "Cache-Control": "no-store"},
            params=params,
            last_event_id=last_event_id,
            connect_timeout=self._timeout,
            idle_timeout=self._idle_timeout,
            backoff_base=self._backoff_base,
            backoff_max=self._backoff_max,
            timing=self._timing,
        )

    # --- files the agent delivered ----------------------------------------------------------------------

    async def file_download_url(self, file_id: str) -> DownloadLink:
        """``GET /files/{id}/content``: a presigned link to the file's bytes. Only downloadable files have
        one (others answer an error, e.g. ``PermissionDeniedError``)."""
        data = await self._request("GET", f"/files/{quote(file_id, safe='')}/content")
        return DownloadLink.from_wire(data)

    async def download(self, link: DownloadLink, *, max_bytes: int) -> bytes:
        """The bytes behind ``link``, fetched without this client's credentials; raises
        ``bot.qoder.presigned.DownloadError`` (expired, too big, failed)."""
        return await fetch_presigned(self._http, link.url, max_bytes=max_bytes, timeout=self._timeout)

    # --- files --------------------------------------------------------------------------------------

    async def upload_file(self, filename: str, data: bytes, mime_type: str, *, idempotency_key: str) -> str:
        """``POST /files`` (multipart, field ``file``); return the new file's id. The key lets a retried
        upload of the same file return the same id where Qoder honours it."""
        key = idempotency_uuid("upload-file", idempotency_key)
        answer = await self._request(
            "POST", "/files", files={"file": (filename, data, mime_type)}, idempotency_key=key
        )
        file_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(file_id, str) or not file_id:
            raise QoderError("POST /files answered without a file id")
        return file_id

    async def add_resource(self, session_id: str, file_id: str, *, idempotency_key: str) -> str:
        """Mount an uploaded file into a session (``POST /sessions/{id}/resources``, R1); return where it
        is mounted (Qoder's default, ``/mnt/session/uploads/<file_id>``, when the answer does not say)."""
        key = idempotency_uuid(f"resource:{session_id}", idempotency_key)
        body = {"type": "file", "file_id": file_id}
        data = await self._request(
            "POST", _session_path(session_id, "/resources"), json=body, idempotency_key=key
        )
        mount = data.get("mount_path") if isinstance(data, dict) else None
        return mount if isinstance(mount, str) and mount else f"/mnt/session/uploads/{file_id}"

    # --- plumbing -------------------------------------------------------------------------------------

    async def _send_events(
        self,
        session_id: str,
        events: list[dict[str, Any]],
        idempotency_key: str,
        *,
        busy_if_unsure: bool = False,
    ) -> str:
        """Send ``events`` in one request; return the echo id of the last of them ("" if none came back):
        the echo of the same type, else the last echo."""
        data = await self._request(
            "POST",
            _session_path(session_id, "/events"),
            json={"events": events},  # §2 E1: must be wrapped
            idempotency_key=idempotency_uuid(f"events:{session_id}", idempotency_key),
            busy_if_unsure=busy_if_unsure,
        )
        return _echo_id(data, str(events[-1]["type"]))

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        idempotency_key: str | None = None,
        busy_if_unsure: bool = False,
        max_retries: int | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """Perform one call with retries; return the decoded JSON body (None when empty or not JSON)."""
        headers = self._auth()
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return await request_json(
            self._http,
            method,
            self._url(path),
            label=f"{method} {path}",
            headers=headers,
            json=json,
            params=params,
            timeout=self._timeout,
            idempotent=method == "GET" or idempotency_key is not None,
            busy_if_unsure=busy_if_unsure,
            retries=self._max_retries if max_retries is None else max_retries,
            backoff_base=self._backoff_base,
            backoff_max=self._backoff_max,
            timing=self._timing,
            files=files,
        )

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _url(self, path: str) -> str:
        return f"{self._base}{path}"


def _echo_id(data: Any, event_type: str) -> str:
    """The id of the last echo of type ``event_type`` in a Send Events answer, else of the last echo."""
    echoed = data.get("data") if isinstance(data, dict) else None
    echoes = [e for e in echoed if isinstance(e, dict)] if isinstance(echoed, list) else []
    chosen = [e for e in echoes if e.get("type") == event_type] or echoes
    event_id = chosen[-1].get("id") if chosen else None
    return event_id if isinstance(event_id, str) else ""


def _session_path(session_id: str, suffix: str = "") -> str:
    return f"/sessions/{quote(session_id, safe='')}{suffix}"
