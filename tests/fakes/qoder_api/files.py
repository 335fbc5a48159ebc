"""Qoder's Files API and session resources, faked (qoder-api.md F*, R1–R2).

``POST /files`` takes a multipart upload (field ``file``); ``GET /files/{id}`` answers the file object;
``GET /files/{id}/content`` answers ``{url, expires_at}`` for a downloadable file, the URL being a presigned
link outside the API that must be fetched **without** an ``Authorization`` header (as object stores refuse a
second auth mechanism) and expires. Agent-delivered artifacts are put here by the ``Artifact`` script step.
``POST /sessions/{sid}/resources`` mounts an uploaded file into a session (only ``type: file`` mid-session).

The file object's fields are not documented by Qoder; this fake answers ``id``, ``type: "file"``,
``filename``, ``mime_type``, ``size_bytes``, ``created_at`` and ``downloadable``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.qoder_api.errors import ApiError, invalid
from tests.fakes.qoder_api.middleware import json_body
from tests.fakes.qoder_api.session import FakeSession, find_session, now

PRESIGNED_PATH = "/presigned"
MAX_UPLOAD_BYTES = 500 * 1024 * 1024
DEFAULT_MOUNT = "/mnt/session/uploads/{file_id}"


@dataclass
class StoredFile:
    """One file held by the fake: what was uploaded (or delivered by the agent)."""

    id: str
    filename: str
    mime_type: str
    data: bytes
    downloadable: bool
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "file",
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size_bytes": len(self.data),
            "created_at": self.created_at,
            "downloadable": self.downloadable,
        }


@dataclass
class FakeFiles:
    """The files and the mounted resources. ``presigned_ttl`` is how long a content URL stays valid."""

    sessions: dict[str, FakeSession]
    presigned_ttl: float = 300.0
    files: dict[str, StoredFile] = field(default_factory=dict)
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by session id
    downloads: list[str] = field(default_factory=list)  # file ids fetched through a presigned URL
    _links: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (file id, expiry)
    _origin: str = ""

    def add(self, filename: str, mime_type: str, data: bytes, *, downloadable: bool = True) -> str:
        """Store a file (as an upload or an agent's artifact would); returns its id."""
        file_id = f"file_{secrets.token_hex(16)}"
        self.files[file_id] = StoredFile(file_id, filename, mime_type, data, downloadable, now())
        return file_id

    def set_origin(self, origin: str) -> None:
        """Where presigned URLs point (``http://host:port``), known once the server listens."""
        self._origin = origin

    def add_to(self, router: web.UrlDispatcher, base: str) -> None:
        """Register the API routes under ``base`` and the presigned downloads at ``/presigned``."""
        router.add_post(f"{base}/files", self._upload)
        router.add_get(f"{base}/files/{{fid}}", self._get)
        router.add_get(f"{base}/files/{{fid}}/content", self._content)
        router.add_post(f"{base}/sessions/{{sid}}/resources", self._add_resource)
        router.add_get(f"{base}/sessions/{{sid}}/resources", self._list_resources)
        router.add_get(f"{PRESIGNED_PATH}/{{token}}", self._presigned)

    def _file(self, request: web.Request) -> StoredFile:
        stored = self.files.get(request.match_info["fid"])
        if stored is None:
            raise ApiError(404, "not_found_error", "File not found.")
        return stored

    async def _upload(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/form-data"):
            raise invalid("POST /files takes multipart/form-data with a 'file' part.")
        reader = await request.multipart()
        part = await reader.next()
        while part is not None:
            if isinstance(part, BodyPartReader) and part.name == "file":
                data = await part.read(decode=False)
                if len(data) > MAX_UPLOAD_BYTES:
                    raise invalid("File is too large.")
                if not part.filename:
                    raise invalid("The 'file' part needs a filename.")
                mime = part.headers.get("Content-Type", "application/octet-stream")
                file_id = self.add(part.filename, mime, bytes(data), downloadable=False)
                return web.json_response(self.files[file_id].to_json())
            part = await reader.next()
        raise invalid("Missing the 'file' part.")

    async def _get(self, request: web.Request) -> web.Response:
        return web.json_response(self._file(request).to_json())

    async def _content(self, request: web.Request) -> web.Response:
        stored = self._file(request)
        if not stored.downloadable:
            raise ApiError(403, "permission_error", "This file is not downloadable.")
        token = secrets.token_urlsafe(16)
        expires = time.time() + self.presigned_ttl
        self._links[token] = (stored.id, expires)
        expires_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
        return web.json_response({"url": f"{self._origin}{PRESIGNED_PATH}/{token}", "expires_at": expires_at})

    async def _presigned(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            return web.Response(status=400, text="Only one auth mechanism allowed.")
        link = self._links.get(request.match_info["token"])
        if link is None or link[1] < time.time():
            return web.Response(status=403, text="Request has expired.")
        stored = self.files[link[0]]
        self.downloads.append(stored.id)
        return web.Response(body=stored.data, content_type=stored.mime_type)

    async def _add_resource(self, request: web.Request) -> web.Response:
        session = find_session(self.sessions, request.match_info["sid"])
        body = json_body(request)
        if body.get("type") != "file":
            raise invalid("Only resources of type 'file' can be added to a running session.")
        file_id = body.get("file_id")
        if not isinstance(file_id, str) or file_id not in self.files:
            raise ApiError(404, "not_found_error", f"File {file_id!r} not found.")
        mount = body.get("mount_path") or DEFAULT_MOUNT.format(file_id=file_id)
        stamp = now()
        resource = {
            "id": f"sesrsc_{secrets.token_hex(12)}",
            "type": "file",
            "file_id": file_id,
            "mount_path": mount,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.resources.setdefault(session.id, []).append(resource)
        return web.json_response(resource)

    async def _list_resources(self, request: web.Request) -> web.Response:
        session = find_session(self.sessions, request.match_info["sid"])
        return web.json_response({"data": self.resources.get(session.id, []), "has_more": False})
