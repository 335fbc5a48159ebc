"""Files shared in the fake workspace, and their private downloads (slack-platform.md §5.4).

Slack facts modelled here:

* a shared file reaches the bot as an object in the message event's ``files``: ``id`` (F…), ``name``,
  ``title``, ``mimetype``, ``filetype``, ``size``, ``mode`` (``hosted`` for an upload; ``external`` files
  live elsewhere and have no private download, ``tombstone`` ones were deleted), ``url_private`` and
  ``url_private_download``;
* those URLs answer the bytes only to ``Authorization: Bearer <bot token>`` with the ``files:read`` scope.
  Anything else gets Slack's HTML sign-in page, with HTTP 200, so a client must check what it received;
* an unknown file answers 404.

``SlackFiles.add`` stores a file and returns the object to put in an event; ``downloads`` records the ids
handed out.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.fakes.slack_scopes import FILES_SCOPE

SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    '<body><h1>Sign in to your workspace</h1><form action="/signin"></form></body></html>'
)
Mode = Literal["hosted", "external", "snippet", "post", "tombstone"]


@dataclass
class SharedFile:
    """One file as the fake workspace keeps it."""

    id: str
    name: str
    mimetype: str
    filetype: str
    data: bytes
    mode: Mode


@dataclass
class SlackFiles:
    """The workspace's files. ``token`` is the bot token downloads demand; ``scopes`` (None: all granted)
    must include ``files:read``; ``origin`` (``http://host:port``) is where the URLs point."""

    team_id: str
    token: str
    scopes: Callable[[], frozenset[str] | None]
    origin: Callable[[], str]
    files: dict[str, SharedFile] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)  # ids of files handed out, in order
    refused: list[str] = field(default_factory=list)  # ids asked for without a valid token or scope
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(
        self,
        name: str,
        mimetype: str,
        data: bytes,
        *,
        filetype: str = "",
        mode: Mode = "hosted",
        size: int | None = None,
    ) -> dict[str, Any]:
        """Store a file and return the object Slack puts in ``files`` of the event that shares it.

        ``size`` overrides the announced size (Slack's figure is the stored one; a test may want a lie)."""
        file_id = f"F{next(self._ids):08d}"
        kind = filetype or (name.rsplit(".", 1)[-1].lower() if "." in name else "binary")
        self.files[file_id] = SharedFile(file_id, name, mimetype, kind, data, mode)
        obj: dict[str, Any] = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": kind,
            "size": len(data) if size is None else size,
            "mode": mode,
            "is_external": mode == "external",
        }
        if mode == "external":
            obj["url_private"] = f"https://docs.example.com/{file_id}"
        elif mode != "tombstone":
            base = f"{self.origin()}/files-pri/{self.team_id}-{file_id}"
            obj["url_private"] = f"{base}/{_slug(name)}"
            obj["url_private_download"] = f"{base}/download/{_slug(name)}"
        return obj

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/files-pri/{team}-{fid}/download/{name}", self._download)
        router.add_get("/files-pri/{team}-{fid}/{name}", self._download)

    async def _download(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["fid"])
        if stored is None or request.match_info["team"] != self.team_id or stored.mode == "tombstone":
            return web.Response(status=404, text="Not found")
        scopes = self.scopes()
        granted = scopes is None or FILES_SCOPE in scopes
        if request.headers.get("Authorization") != f"Bearer {self.token}" or not granted:
            self.refused.append(stored.id)
            return web.Response(status=200, text=SIGN_IN_PAGE, content_type="text/html")
        self.downloads.append(stored.id)
        return web.Response(body=stored.data, content_type=stored.mimetype)


def _slug(name: str) -> str:
    """The file name as Slack puts it in a URL: anything but letters, digits, ``.``, ``-``, ``_`` → ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "file"
