"""What every request of the fake goes through before its handler: it is recorded, held back by an injected
delay if one matches (a slow Qoder), answered with an injected failure if one matches, authenticated, and
replayed when it repeats an ``Idempotency-Key``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.qoder_api.errors import ApiError, conflict, error_type, invalid

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RecordedRequest:
    """One HTTP request as received. ``headers`` keys are lower-case; ``status`` is set once answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    status: int | None = None


@dataclass
class Fault:
    """Answer the next ``times`` requests matching ``method`` and ``path_suffix`` with this error; with
    ``execute`` the request is carried out first (an ambiguous write)."""

    method: str
    path_suffix: str
    status: int
    times: int
    retry_after: float | None
    error_type: str
    message: str
    execute: bool

    def error(self) -> ApiError:
        headers = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
        return ApiError(self.status, self.error_type, self.message, headers)


@dataclass
class Delay:
    """Answer requests matching ``method`` and ``path_suffix`` ``seconds`` late; ``times`` None: all of them."""

    method: str
    path_suffix: str
    seconds: float
    times: int | None

    def matches(self, request: web.Request) -> bool:
        return self.method == request.method and request.path.endswith(self.path_suffix)


REQUEST_KEY = web.RequestKey("qoder_fake.record", RecordedRequest)
_REQUEST_ID_KEY = web.RequestKey("qoder_fake.request_id", str)


def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when it had none); a 400 when it is not an object."""
    parsed = request[REQUEST_KEY].json
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise invalid("Request body must be a JSON object.")
    return parsed


class Gate:
    """The middleware of the fake. ``requests`` (shared with the server) records every request in order.
    Multipart bodies are left for their handler to read (``json`` is None for them).

    Only 2xx answers are stored for idempotent replay, so a key can be retried after a 409 or an injected
    error.
    """

    def __init__(self, token: str, requests: list[RecordedRequest]) -> None:
        self.token = token
        self.requests = requests
        self.faults: list[Fault] = []
        self.delays: list[Delay] = []
        self.public_prefixes: tuple[str, ...] = ()  # paths served without the token (presigned downloads)
        self._idempotency: dict[tuple[str, str, str], tuple[str, int, bytes]] = {}

    def install(self, app: web.Application) -> None:
        """Put the gate in front of every route of ``app``."""
        app.middlewares.append(self._middleware)
        app.on_response_prepare.append(self._add_request_id)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request[_REQUEST_ID_KEY] = request.headers.get("x-request-id") or f"req_{uuid.uuid4().hex}"
        body = b"" if request.content_type.startswith("multipart/") else await request.read()
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query={k: request.query.getall(k) for k in request.query},
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
        )
        self.requests.append(record)
        request[REQUEST_KEY] = record
        await self._hold_back(request)
        try:
            response = await self._dispatch(request, handler, body, parsed)
        except ApiError as err:
            response = _error(request, err)
        if record.status is None:
            record.status = response.status
        return response

    async def _dispatch(
        self, request: web.Request, handler: Handler, body: bytes, parsed: Any
    ) -> web.StreamResponse:
        fault = self._take_fault(request)
        if fault is not None and not fault.execute:
            raise fault.error()
        public = request.path.startswith(self.public_prefixes)
        if not public and request.headers.get("Authorization") != f"Bearer {self.token}":
            raise ApiError(401, "authentication_error", "Invalid API key or token.")
        if body and parsed is None:
            raise invalid("Request body is not valid JSON.")
        key = request.headers.get("Idempotency-Key") or request.headers.get("X-Idempotency-Key")
        if key and request.method in ("POST", "PUT", "DELETE"):
            response = await self._idempotent(request, handler, key, parsed)
        else:
            response = await _call(request, handler)
        if fault is not None:
            raise fault.error()
        return response

    async def _idempotent(
        self, request: web.Request, handler: Handler, key: str, parsed: Any
    ) -> web.StreamResponse:
        slot = (request.method, request.path, key)
        fingerprint = json.dumps(parsed, sort_keys=True)
        if slot in self._idempotency:
            stored_fp, status, stored_body = self._idempotency[slot]
            if stored_fp != fingerprint:
                raise conflict("Idempotency key reused with a different request body.")
            replay = web.Response(status=status, body=stored_body, content_type="application/json")
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        response = await _call(request, handler)
        if 200 <= response.status < 300 and isinstance(response, web.Response) and response.body is not None:
            assert isinstance(response.body, bytes)
            self._idempotency[slot] = (fingerprint, response.status, response.body)
        return response

    async def _hold_back(self, request: web.Request) -> None:
        for delay in self.delays:
            if delay.matches(request):
                if delay.times is not None:
                    delay.times -= 1
                    if delay.times <= 0:
                        self.delays.remove(delay)
                await asyncio.sleep(delay.seconds)
                return

    def _take_fault(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.method == request.method and request.path.endswith(fault.path_suffix):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    @staticmethod
    async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["x-request-id"] = request.get(_REQUEST_ID_KEY) or f"req_{uuid.uuid4().hex}"


async def _call(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        raise ApiError(exc.status, error_type(exc.status), exc.reason) from exc


def _error(request: web.Request, err: ApiError) -> web.Response:
    body = {
        "type": "error",
        "request_id": request.get(_REQUEST_ID_KEY),
        "error": {"type": err.type, "message": err.message},
    }
    return web.json_response(body, status=err.status, headers=err.headers)
