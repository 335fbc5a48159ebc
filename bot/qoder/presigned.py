"""Downloading a file through the presigned link ``GET /files/{id}/content`` answers (qoder-api.md F*).

The link points outside the API (an object store) and carries its own credential: it must be fetched
**without** an ``Authorization`` header, which such stores refuse as a second auth mechanism, so
``fetch_presigned`` removes any the HTTP client would add. The body is read in pieces and given up past
``max_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx

from bot.qoder._wire import string, timestamp

DownloadProblem = Literal["expired", "too_big", "failed"]


@dataclass(frozen=True)
class DownloadLink:
    """Where a file's bytes can be fetched, until ``expires_at`` (epoch seconds; None when not said)."""

    url: str
    expires_at: float | None = None

    @classmethod
    def from_wire(cls, data: Any) -> DownloadLink:
        body = data if isinstance(data, dict) else {}
        return cls(url=string(body.get("url")) or "", expires_at=timestamp(body.get("expires_at")))


class DownloadError(Exception):
    """The bytes could not be fetched: the link ``expired`` (or was refused), the file is ``too_big``, or
    the download ``failed`` otherwise (``detail`` says how, for logs)."""

    def __init__(self, problem: DownloadProblem, detail: str = "") -> None:
        super().__init__(f"{problem}: {detail}" if detail else problem)
        self.problem: DownloadProblem = problem
        self.detail = detail


async def fetch_presigned(http: httpx.AsyncClient, url: str, *, max_bytes: int, timeout: float) -> bytes:
    """The body at ``url``, fetched without an Authorization header; raises ``DownloadError``."""
    if not url.startswith(("https://", "http://")):
        raise DownloadError("failed", "no usable download URL")
    request = http.build_request("GET", url, timeout=timeout)
    request.headers.pop("Authorization", None)
    try:
        response = await http.send(request, stream=True)
    except httpx.HTTPError as error:
        raise DownloadError("failed", type(error).__name__) from None
    try:
        if response.status_code in (401, 403):
            raise DownloadError("expired", f"HTTP {response.status_code}")
        if not response.is_success:
            raise DownloadError("failed", f"HTTP {response.status_code}")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise DownloadError("too_big", f"{declared} bytes")
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > max_bytes:
                raise DownloadError("too_big", f"more than {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    except httpx.HTTPError as error:
        raise DownloadError("failed", type(error).__name__) from None
    finally:
        await response.aclose()
