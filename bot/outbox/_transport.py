"""How the outbox reaches Slack: one coroutine per call, behind an interface of our own.

``Transport`` is all the outbox needs of Slack; ``WebClientTransport`` implements it over slack_sdk's
``AsyncWebClient`` (the only place the bot writes to Slack through it), and tests can pass any coroutine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics

MAX_RETRY_AFTER = 60.0
REDACTED = "[redacted]"
# Not a Web API method: slack_sdk's external upload flow (files.getUploadURLExternal, a POST of the bytes to
# the URL it answers, files.completeUploadExternal). Params are ``files_upload_v2``'s keyword arguments.
FILE_UPLOAD = "files_upload_v2"
FILE_UPLOAD_METHODS = ("files.getUploadURLExternal", "files.completeUploadExternal")
# Read methods that Slack wants form-encoded rather than as a JSON body.
_FORM_METHODS = frozenset({"auth.test", "chat.getPermalink"})


class SlackError(Exception):
    """Slack refused a call: ``code`` is its ``error`` string, ``status`` the HTTP status, and ``retry_after``
    the seconds it asked for on a 429 (capped at ``MAX_RETRY_AFTER``)."""

    def __init__(self, method: str, code: str, status: int = 200, retry_after: float = 0.0) -> None:
        super().__init__(f"{method}: {code or f'HTTP {status}'}")
        self.method = method
        self.code = code
        self.status = status
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.code in ("ratelimited", "rate_limited")


class RateLimited(Exception):
    """Slack answered 429: the method is held for its ``Retry-After``; ask for a new grant and call again."""


class Transport(Protocol):
    """Makes one Slack Web API call; returns the response body or raises ``SlackError``."""

    async def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]: ...


class WebClientTransport:
    """``Transport`` over an ``AsyncWebClient`` (its retry handlers must not retry 429s: the outbox does)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            if method == FILE_UPLOAD:
                response = await self._client.files_upload_v2(**params)
            elif method in _FORM_METHODS:
                response = await self._client.api_call(method, data=dict(params))
            else:
                response = await self._client.api_call(method, json=dict(params))
        except SlackApiError as error:
            raise _as_slack_error(_method_of(error, method), error) from None
        except SlackRequestError as error:  # the POST of a file's bytes to its upload URL failed
            raise SlackError(method, "upload_failed") from error
        return dict(response.data) if isinstance(response.data, dict) else {}


class RedactingTransport:
    """``Transport`` that replaces every configured secret in a call's parameters with ``[redacted]``, so a
    token quoted in an error message or an agent's output never reaches Slack."""

    def __init__(self, transport: Transport, secrets: Iterable[str]) -> None:
        self._transport = transport
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        # A secret JSON writes as itself can be looked for in one C-speed dump of the whole call.
        self._plain = all(json.dumps(s, ensure_ascii=False)[1:-1] == s for s in self._secrets)

    async def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if self._secrets and self._may_hold_secret(params):
            params = _redacted(params, self._secrets)
        return await self._transport(method, params)

    def _may_hold_secret(self, params: Mapping[str, Any]) -> bool:
        if not self._plain:
            return True
        dumped = json.dumps(params, ensure_ascii=False, default=str)
        return any(secret in dumped for secret in self._secrets)


def _redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, bytes):  # a file's content
        for secret in secrets:
            value = value.replace(secret.encode(), REDACTED.encode())
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {key: _redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item, secrets) for item in value]
    return value


class CountedTransport:
    """``Transport`` that reports each call's method and result to ``bot.metrics`` and passes it on."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = await self._transport(method, params)
        except SlackError as error:
            metrics.slack_call(method, "ratelimited" if error.rate_limited else error.code)
            raise
        except Exception:
            metrics.slack_call(method, "exception")
            raise
        metrics.slack_call(method, "ok")
        return response


def _method_of(error: SlackApiError, default: str) -> str:
    """The Web API method that refused (a file upload makes several calls), from the URL it called."""
    url = str(getattr(error.response, "api_url", "") or "")
    called = url.rstrip("/").rsplit("/", 1)[-1]
    return called if called in FILE_UPLOAD_METHODS else default


def _as_slack_error(method: str, error: SlackApiError) -> SlackError:
    response = error.response
    status = int(getattr(response, "status_code", 200) or 200)
    code = str(response.get("error", "")) if response is not None else ""
    headers = (getattr(response, "headers", None) or {}) if response is not None else {}
    return SlackError(method, code, status, _retry_after(headers) if status == 429 else 0.0)


def _retry_after(headers: Mapping[str, Any]) -> float:
    value = headers.get("Retry-After") or headers.get("retry-after") or "1"
    if isinstance(value, list):
        value = value[0]
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 1.0
