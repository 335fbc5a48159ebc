"""Downloading the files people share in Slack: ``url_private_download`` with the bot token (scope
``files:read``), streamed, never more than ``max_bytes``.

Slack answers a request it will not serve (wrong token, missing scope) with its HTML sign-in page and HTTP
200, so an HTML answer for a file that is not HTML is a refusal, not the file.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.models import SlackFile
from bot.threads.attachments import FileTooLarge, FileUnavailable

CHUNK_BYTES = 64 * 1024
REFUSED = "Slack did not hand it over (the app may lack the files:read scope)"


def shared_files(event: dict[str, Any]) -> tuple[SlackFile, ...]:
    """The files of a message event (slack-platform.md §5.4), as the bot keeps them."""
    shared: list[SlackFile] = []
    for item in event.get("files") or []:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        mode = str(item.get("mode") or "")
        url = item.get("url_private_download") or ("" if mode == "external" else item.get("url_private"))
        size = item.get("size")
        shared.append(
            SlackFile(
                id=str(item["id"]),
                name=str(item.get("name") or item.get("title") or "file"),
                mimetype=str(item.get("mimetype") or ""),
                size=size if isinstance(size, int) and size >= 0 else 0,
                url=str(url or ""),
                mode=mode,
            )
        )
    return tuple(shared)


class SlackDownloads:
    """Fetches shared files with the bot token. ``transport`` lets tests stand in for the network."""

    def __init__(
        self,
        token: str,
        *,
        max_bytes: int,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self.max_bytes = max_bytes
        self._timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:  # keeps the token out of reprs and logs
        return f"SlackDownloads(max_bytes={self.max_bytes})"

    async def fetch(self, file: SlackFile) -> bytes:
        """The file's bytes. Raises ``FileTooLarge`` (announced, or found while reading) and ``FileUnavailable``."""
        if not file.url:
            raise FileUnavailable("Slack gives no download for it")
        if file.size > self.max_bytes:
            raise FileTooLarge(file.size, self.max_bytes)
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with (
                httpx.AsyncClient(
                    transport=self._transport, timeout=self._timeout, follow_redirects=True
                ) as http,
                http.stream("GET", file.url, headers=headers) as response,
            ):
                if response.status_code != 200:
                    raise FileUnavailable(f"Slack answered HTTP {response.status_code}")
                page = _is_html(response)
                if page and not _is_html_type(file.mimetype):
                    raise FileUnavailable(REFUSED)
                data = bytearray()
                async for chunk in response.aiter_bytes(CHUNK_BYTES):
                    data.extend(chunk)
                    if len(data) > self.max_bytes:
                        raise FileTooLarge(len(data), self.max_bytes, announced=False)
                if page and file.size and len(data) != file.size:  # an HTML file, or the sign-in page?
                    raise FileUnavailable(REFUSED)
                return bytes(data)
        except httpx.HTTPError as error:
            raise FileUnavailable(f"the download failed ({type(error).__name__})") from error


def _is_html(response: httpx.Response) -> bool:
    return _is_html_type(response.headers.get("content-type", ""))


def _is_html_type(mimetype: str) -> bool:
    return mimetype.split(";", 1)[0].strip().lower() in ("text/html", "application/xhtml+xml")
