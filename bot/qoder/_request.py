"""One ordinary (non-streaming) Qoder call: sent, retried while ``_retry`` allows it, answered as JSON.

Retried on network errors, 408, 429 and 5xx, honouring ``Retry-After`` — but only when ``idempotent``
(GETs and requests carrying an ``Idempotency-Key``; 429 always, 409 never), at most ``retries`` times;
then the typed error from ``bot.qoder.errors`` is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from bot.qoder._retry import Timing, retry_delay, status_is_retryable
from bot.qoder.errors import NetworkError, QoderError, error_from_response

log = logging.getLogger(__name__)


async def request_json(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    label: str,
    headers: Mapping[str, str],
    json: Any,
    params: Mapping[str, str | int] | None,
    timeout: float,
    idempotent: bool,
    busy_if_unsure: bool,
    retries: int,
    backoff_base: float,
    backoff_max: float,
    timing: Timing,
    files: Mapping[str, tuple[str, bytes, str]] | None = None,
) -> Any:
    """Perform the call, retrying as allowed; return the decoded JSON body (None when empty or not JSON).

    ``label`` (method and path) names the call in errors and logs; ``busy_if_unsure`` is passed on to
    ``error_from_response``. ``files`` (field → name, bytes, content type) makes it a multipart upload.
    """
    attempt = 0
    while True:
        response: httpx.Response | None = None
        try:
            response = await http.request(
                method, url, json=json, params=params, headers=headers, timeout=timeout, files=files
            )
        except httpx.TransportError as exc:
            error: QoderError = NetworkError(f"{label} failed: {type(exc).__name__}: {exc}")
            cause: BaseException | None = exc
            retry = idempotent
        else:
            if response.is_success:
                return _json_body(response)
            error = error_from_response(response, busy_if_unsure=busy_if_unsure)
            cause = None
            retry = status_is_retryable(response, idempotent=idempotent)
        if not retry or attempt >= retries:
            raise error from cause
        wait = retry_delay(attempt, backoff_base, backoff_max, response, uniform=timing.uniform)
        log.warning("Qoder %s: %s; retry %d in %.1fs", label, error, attempt + 1, wait)
        await timing.sleep(wait)
        attempt += 1


def _json_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
