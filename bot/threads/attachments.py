"""The files shared with a message, turned into what the agent gets when the message is sent.

Each file is fetched from Slack (``FileSource``) and passed on by its type (``classify``): PNG, JPEG, GIF and
WebP images as image blocks, PDFs as base64 document blocks, text (plain text, Markdown, CSV, JSON, YAML,
XML, source code) as text document blocks titled with the file name, and anything else — or text that is
not UTF-8 — uploaded to Qoder's Files API and mounted into the session. The message text names every file
(and where an upload is mounted). A file that cannot be passed on (too large, refused, external, deleted,
not accepted by Qoder) is named in the text as left out, and gets one note in the thread; the message still
goes. Qoder being unavailable is not a reason to leave a file out: that error is raised, so the message is
retried with its files.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal, Protocol

from bot.models import QueuedMessage, SlackFile, ThreadKey
from bot.qoder import QoderError
from bot.store import Store
from bot.threads._ports import QoderFiles
from bot.threads._shared import DEDUPE_TTL_SECONDS, TRANSIENT

log = logging.getLogger(__name__)

Kind = Literal["image", "pdf", "text", "upload"]

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/x-ndjson",
        "application/yaml",
        "application/x-yaml",
        "application/xml",
        "application/toml",
        "application/sql",
        "application/javascript",
        "application/typescript",
        "application/x-sh",
        "application/x-python",
        "application/x-httpd-php",
        "application/graphql",
    }
)
# Names Slack often types as application/octet-stream (or not at all) that are text all the same.
# fmt: off
TEXT_SUFFIXES = frozenset((
    "txt", "md", "markdown", "rst", "csv", "tsv", "json", "jsonl", "ndjson", "yaml", "yml", "xml", "toml",
    "ini", "cfg", "conf", "env", "properties", "log", "diff", "patch", "py", "pyi", "js", "mjs", "cjs", "ts",
    "tsx", "jsx", "go", "rs", "java", "kt", "kts", "scala", "swift", "c", "h", "cc", "cpp", "hpp", "cs", "m",
    "rb", "php", "pl", "lua", "r", "sh", "bash", "zsh", "fish", "ps1", "sql", "graphql", "proto", "tf",
    "hcl", "vue", "svelte", "html", "htm", "css", "scss", "sass", "less", "gradle", "cmake", "mk",
    "dockerfile", "makefile",
))
# fmt: on
UNSUPPORTED_MODES = {
    "external": "it is stored outside Slack",
    "tombstone": "it was deleted",
    "hidden_by_limit": "the workspace's plan hides it",
}


def classify(mimetype: str, name: str) -> Kind:
    """How a file of ``mimetype`` called ``name`` is passed to the agent (text may still fall back to an
    upload when it does not decode)."""
    media = mimetype.split(";", 1)[0].strip().lower()
    if media in IMAGE_TYPES:
        return "image"
    if media == "application/pdf":
        return "pdf"
    if media.startswith("text/") or media in TEXT_TYPES or media.endswith(("+json", "+xml", "+yaml")):
        return "text"
    path = PurePosixPath(name.lower())
    suffix = path.suffix.lstrip(".") or path.name
    if media in ("", "application/octet-stream", "binary") and suffix in TEXT_SUFFIXES:
        return "text"
    return "upload"


class FileUnavailable(Exception):
    """A file cannot be passed on; ``reason`` says why, in words for the thread."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FileTooLarge(FileUnavailable):
    """Larger than ``limit`` bytes: ``size`` is what Slack announced, or (``announced`` False) what was read
    before the download stopped."""

    def __init__(self, size: int, limit: int, *, announced: bool = True) -> None:
        if announced:
            super().__init__(f"it is {_mb(size)}, and the limit is {_mb(limit)} (MAX_FILE_BYTES)")
        else:
            super().__init__(f"it is larger than the limit of {_mb(limit)} (MAX_FILE_BYTES)")
        self.size = size
        self.limit = limit


class FileSource(Protocol):
    """Where shared files come from (``bot.slack.downloads.SlackDownloads``)."""

    async def fetch(self, file: SlackFile) -> bytes:
        """The bytes; raises ``FileUnavailable`` (``FileTooLarge``) when they cannot be had."""
        ...


@dataclass(frozen=True)
class Prepared:
    """What a message with files sends: its text naming them, and the content blocks that follow it."""

    text: str
    blocks: tuple[dict[str, Any], ...]


class Attachments:
    """Turns a message's files into content blocks and mounted uploads. ``notice`` posts a note in a
    thread (never awaited); each file's note is posted once, however often its message is sent."""

    def __init__(self, source: FileSource, qoder: QoderFiles, store: Store) -> None:
        self._source = source
        self._qoder = qoder
        self._store = store

    async def prepare(
        self, session_id: str, message: QueuedMessage, text: str, notice: Callable[[ThreadKey, str], None]
    ) -> Prepared:
        """``text`` with a line per file of ``message``, and the blocks to send after it. Raises the
        transient Qoder errors (the message is then retried); every other failure leaves the file out."""
        lines: list[str] = []
        blocks: list[dict[str, Any]] = []
        for file in message.files:
            try:
                block, line = await self._pass_on(session_id, message, file)
            except TRANSIENT:
                raise
            except (QoderError, FileUnavailable) as error:
                why = error.reason if isinstance(error, FileUnavailable) else f"Qoder refused it ({error})"
                await self._note(message, file, why, notice)
                lines.append(f"(Attached in Slack but not passed on: {file.name})")
                continue
            if block is not None:
                blocks.append(block)
            lines.append(line)
        body = "\n".join(lines)
        return Prepared(f"{text.rstrip()}\n\n{body}".strip() if text.strip() else body, tuple(blocks))

    async def _pass_on(
        self, session_id: str, message: QueuedMessage, file: SlackFile
    ) -> tuple[dict[str, Any] | None, str]:
        if file.mode in UNSUPPORTED_MODES:
            raise FileUnavailable(UNSUPPORTED_MODES[file.mode])
        data = await self._source.fetch(file)
        kind = classify(file.mimetype, file.name)
        media = file.mimetype.split(";", 1)[0].strip().lower()
        if kind == "image":
            return _base64_block("image", media, data), f"(Attached: {file.name}, an image, below)"
        if kind == "pdf":
            block = {**_base64_block("document", media, data), "title": file.name}
            return block, f"(Attached: {file.name}, a PDF document, below)"
        if kind == "text":
            try:
                decoded = data.decode("utf-8")
            except UnicodeDecodeError:
                log.info("%s is not UTF-8 text; uploading it instead", file.id)
            else:
                source = {"type": "text", "media_type": "text/plain", "data": decoded}
                block = {"type": "document", "source": source, "title": file.name}
                return block, f"(Attached: {file.name}, a text document, below)"
        key = f"slack-file:{message.thread.channel}:{message.message_ts}:{file.id}"
        mime = media or "application/octet-stream"
        file_id = await self._qoder.upload_file(file.name, data, mime, idempotency_key=key)
        mount = await self._qoder.add_resource(session_id, file_id, idempotency_key=key)
        return None, f"(Attached: {file.name} → {mount})"

    async def _note(
        self, message: QueuedMessage, file: SlackFile, why: str, notice: Callable[[ThreadKey, str], None]
    ) -> None:
        log.info("file %s of %s left out: %s", file.id, message.message_ts, why)
        key = f"file-note:{message.thread.channel}:{message.message_ts}:{file.id}"
        if await self._store.claim_event(key, DEDUPE_TTL_SECONDS):
            notice(
                message.thread,
                f"I couldn't pass {file.name} to the agent: {why}. Your message went without it.",
            )


def _base64_block(kind: str, media: str, data: bytes) -> dict[str, Any]:
    encoded = base64.b64encode(data).decode("ascii")
    return {"type": kind, "source": {"type": "base64", "media_type": media, "data": encoded}}


def _mb(size: int) -> str:
    """A size for people: bytes, KB or MB (of 1024)."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
