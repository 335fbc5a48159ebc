"""Slack's external file upload flow, faked: what slack_sdk's ``files_upload_v2`` does, step by step.

1. ``files.getUploadURLExternal`` (``filename``, ``length`` in bytes; form-encoded or query) answers an
   ``upload_url`` on the fake and a ``file_id``; a missing filename or a length that is not a positive
   integer answers ``invalid_arguments``.
2. A ``POST`` of the bytes to ``upload_url`` (raw body, or a multipart part as curl's ``-F`` sends it): no token
   (the URL is the credential); ``200 OK - <length>``. A body whose length is not the announced one answers
   400, an unknown or already used URL 404 (the fake's choices; Slack does not document them).
3. ``files.completeUploadExternal`` (``files=[{id, title?}]`` as JSON, ``channel_id``, ``thread_ts``,
   ``initial_comment``) shares the files: the conversation (the thread, with ``thread_ts``) then holds one
   message from the bot carrying them, its text the initial comment. An id that was not uploaded answers
   ``file_not_found``; without ``channel_id`` the files stay private (no message).

Both methods need ``files:write`` (``slack_scopes``) and are Tier 4 (``UPLOAD_RATE``: 100 a minute).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.slack_content import SlackApiError, opt_str

UPLOAD_PATH = "/upload/v1"
UPLOAD_METHODS = ("files.getUploadURLExternal", "files.completeUploadExternal")
UPLOAD_RATE = (100, 60.0)  # Tier 4: calls per seconds, for each of UPLOAD_METHODS


@dataclass
class UploadedFile:
    """A file as the fake keeps it: announced, then (once its bytes came) uploaded, then maybe shared."""

    id: str
    filename: str
    length: int
    data: bytes | None = None
    title: str = ""
    shared_in: list[tuple[str, str | None]] = field(default_factory=list)  # (channel, thread_ts)

    def api_file(self) -> dict[str, Any]:
        """The file object Slack puts in messages and in completeUploadExternal's answer."""
        return {
            "id": self.id,
            "name": self.filename,
            "title": self.title or self.filename,
            "size": len(self.data or b""),
            "mode": "hosted",
            "url_private": f"https://files.slack.com/files-pri/T1-{self.id}/{self.filename}",
        }


ShareMessage = Callable[[str, str | None, str, list[dict[str, Any]]], None]


class Uploads:
    """The upload URLs handed out and the files uploaded through them."""

    def __init__(self, base_url: Callable[[], str], share: ShareMessage) -> None:
        self._base_url = base_url
        self._share = share  # posts the bot's message carrying files: (channel, thread_ts, text, files)
        self.files: dict[str, UploadedFile] = {}
        self._urls: dict[str, str] = {}  # upload token → file id, until used

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_post(f"{UPLOAD_PATH}/{{token}}", self._receive)

    def shared(self, channel: str, thread_ts: str | None = None) -> list[UploadedFile]:
        """Files shared in ``channel`` (in the thread ``thread_ts`` when given), in upload order."""
        return [
            f
            for f in self.files.values()
            if any(c == channel and (thread_ts is None or t == thread_ts) for c, t in f.shared_in)
        ]

    def get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = opt_str(args.get("filename"))
        length = _positive_int(args.get("length"))
        if not filename or length is None:
            raise SlackApiError("invalid_arguments")
        file_id = f"F{secrets.token_hex(5).upper()}"
        token = secrets.token_urlsafe(12)
        self.files[file_id] = UploadedFile(file_id, filename, length)
        self._urls[token] = file_id
        return {"ok": True, "upload_url": f"{self._base_url()}{UPLOAD_PATH}/{token}", "file_id": file_id}

    def complete(self, args: dict[str, Any]) -> dict[str, Any]:
        raw = args.get("files")
        listed = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(listed, list) or not listed:
            raise SlackApiError("invalid_arguments")
        chosen: list[tuple[UploadedFile, str]] = []
        for item in listed:
            file_id = item.get("id") if isinstance(item, dict) else None
            uploaded = self.files.get(str(file_id))
            if uploaded is None or uploaded.data is None:
                raise SlackApiError("file_not_found")
            chosen.append((uploaded, opt_str(item.get("title")) or ""))
        channel = opt_str(args.get("channel_id"))
        thread_ts = opt_str(args.get("thread_ts"))
        for uploaded, title in chosen:
            uploaded.title = title or uploaded.title or uploaded.filename
        if channel:
            files = [uploaded.api_file() for uploaded, _ in chosen]
            self._share(channel, thread_ts, opt_str(args.get("initial_comment")) or "", files)
            for uploaded, _ in chosen:
                uploaded.shared_in.append((channel, thread_ts))
        return {"ok": True, "files": [{"id": u.id, "title": u.title} for u, _ in chosen]}

    async def _receive(self, request: web.Request) -> web.Response:
        file_id = self._urls.get(request.match_info["token"])
        if file_id is None:
            return web.Response(status=404, text="Unknown or used upload URL.")
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            data = bytes(await part.read(decode=False)) if isinstance(part, BodyPartReader) else b""
        else:
            data = await request.read()
        uploaded = self.files[file_id]
        if len(data) != uploaded.length:
            return web.Response(status=400, text=f"Expected {uploaded.length} bytes, got {len(data)}.")
        del self._urls[request.match_info["token"]]
        uploaded.data = data
        return web.Response(text=f"OK - {len(data)}")


def _positive_int(value: Any) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number > 0 else None


__all__ = ["UPLOAD_METHODS", "UPLOAD_RATE", "UploadedFile", "Uploads"]
