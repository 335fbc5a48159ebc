"""Files shared with a message: how each type is passed to the agent (``classify``), what ``Attachments``
makes of them, and how ``SlackDownloads`` fetches them (limit, refusals, the sign-in page)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from bot.models import QueuedMessage, SlackFile, ThreadKey
from bot.outbox import Outbox
from bot.qoder import InvalidRequestError, ServerError
from bot.slack.downloads import SlackDownloads, shared_files
from bot.store import SqliteStore
from bot.threads import ThreadsConfig, UseCases
from bot.threads.attachments import Attachments, FileTooLarge, FileUnavailable, classify
from tests.unit.fake_time import FakeClock
from tests.unit.outbox_fakes import RecordingTransport
from tests.unit.threads_fakes import FakeQoderSessions, FakeRelay

T1 = ThreadKey("T1", "C1", "1.000001")
TOKEN = "xoxb-unit"


@pytest.mark.parametrize(
    ("mimetype", "name", "kind"),
    [
        ("image/png", "a.png", "image"),
        ("image/jpeg", "a.jpg", "image"),
        ("image/gif", "a.gif", "image"),
        ("image/webp", "a.webp", "image"),
        ("IMAGE/PNG; charset=binary", "a.png", "image"),
        ("application/pdf", "a.pdf", "pdf"),
        ("text/plain", "a.txt", "text"),
        ("text/markdown", "README.md", "text"),
        ("text/csv", "a.csv", "text"),
        ("text/x-python", "a.py", "text"),
        ("application/json", "a.json", "text"),
        ("application/x-yaml", "a.yml", "text"),
        ("application/xml", "a.xml", "text"),
        ("image/svg+xml", "a.svg", "text"),
        ("application/vnd.api+json", "a.json", "text"),
        ("application/octet-stream", "main.rs", "text"),
        ("", "Dockerfile", "text"),
        ("image/tiff", "a.tiff", "upload"),
        ("image/heic", "a.heic", "upload"),
        ("application/zip", "a.zip", "upload"),
        ("application/octet-stream", "a.bin", "upload"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx", "upload"),
        ("video/mp4", "a.mp4", "upload"),
    ],
)
def test_classify(mimetype: str, name: str, kind: str) -> None:
    assert classify(mimetype, name) == kind


def test_shared_files_reads_the_event_and_skips_what_is_not_a_file() -> None:
    event = {
        "files": [
            {
                "id": "F1",
                "name": "a.png",
                "mimetype": "image/png",
                "size": 12,
                "mode": "hosted",
                "url_private": "https://files/F1/a.png",
                "url_private_download": "https://files/F1/download/a.png",
            },
            {"id": "F2", "title": "Plan", "mode": "external", "url_private": "https://docs/F2"},
            {"id": "F3", "mode": "snippet", "url_private": "https://files/F3/s.txt", "size": "big"},
            "not a file",
            {"name": "no id"},
        ]
    }
    assert shared_files(event) == (
        SlackFile("F1", "a.png", "image/png", 12, "https://files/F1/download/a.png", "hosted"),
        SlackFile("F2", "Plan", "", 0, "", "external"),
        SlackFile("F3", "file", "", 0, "https://files/F3/s.txt", "snippet"),
    )
    assert shared_files({}) == ()


# -- Attachments --------------------------------------------------------------------------------------


@dataclass
class Source:
    """Files by id; any other id is unavailable."""

    data: dict[str, bytes]
    fetched: list[str] = field(default_factory=list)

    async def fetch(self, file: SlackFile) -> bytes:
        self.fetched.append(file.id)
        if file.id not in self.data:
            raise FileUnavailable("Slack gives no download for it")
        return self.data[file.id]


@dataclass
class Files:
    uploads: list[tuple[str, bytes, str, str]] = field(default_factory=list)
    mounts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)

    async def upload_file(self, filename: str, data: bytes, mime_type: str, *, idempotency_key: str) -> str:
        if self.errors:
            raise self.errors.pop(0)
        self.uploads.append((filename, data, mime_type, idempotency_key))
        return f"file_{len(self.uploads)}"

    async def add_resource(self, session_id: str, file_id: str, *, idempotency_key: str) -> str:
        self.mounts.append((session_id, file_id))
        return f"/mnt/session/uploads/{file_id}"


@pytest.fixture
async def store() -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(":memory:")
    yield opened
    await opened.close()


def message(*files: SlackFile, text: str = "look") -> QueuedMessage:
    return QueuedMessage(T1, "1.000002", "U1", text, files=files)


async def test_each_type_becomes_its_block_or_upload(store: SqliteStore) -> None:
    png, pdf = b"\x89PNG", b"%PDF-1"
    source = Source({"F1": png, "F2": pdf, "F3": "ünï\n".encode(), "F4": b"\xff\xfe", "F5": b"PK"})
    files = Files()
    notes: list[str] = []
    shared = (
        SlackFile("F1", "a.png", "image/png"),
        SlackFile("F2", "b.pdf", "application/pdf"),
        SlackFile("F3", "c.txt", "text/plain"),
        SlackFile("F4", "d.csv", "text/csv"),  # not UTF-8: uploaded instead
        SlackFile("F5", "e.zip", "application/zip"),
    )
    prepared = await Attachments(source, files, store).prepare(
        "sesn_1", message(*shared), "look", lambda thread, text: notes.append(text)
    )
    assert prepared.blocks == (
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}},
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": base64.b64encode(pdf).decode(),
            },
            "title": "b.pdf",
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "ünï\n"},
            "title": "c.txt",
        },
    )
    assert [(name, mime) for name, _, mime, _ in files.uploads] == [
        ("d.csv", "text/csv"),
        ("e.zip", "application/zip"),
    ]
    assert files.uploads[0][3] == "slack-file:C1:1.000002:F4"
    assert files.mounts == [("sesn_1", "file_1"), ("sesn_1", "file_2")]
    lines = prepared.text.split("\n")
    assert lines[:2] == ["look", ""]
    assert lines[-2:] == [
        "(Attached: d.csv → /mnt/session/uploads/file_1)",
        "(Attached: e.zip → /mnt/session/uploads/file_2)",
    ]
    assert all(name in prepared.text for name in ("a.png", "b.pdf", "c.txt"))
    assert notes == []


async def test_a_file_left_out_is_named_and_noted_once(store: SqliteStore) -> None:
    notes: list[str] = []
    attachments = Attachments(Source({}), Files(), store)
    shared = message(
        SlackFile("F1", "gone.png", "image/png"), SlackFile("F2", "doc", mode="external"), text=""
    )
    for _ in range(2):  # sent twice (e.g. after a busy session): one note per file all the same
        prepared = await attachments.prepare("sesn_1", shared, "", lambda thread, text: notes.append(text))
    assert prepared.blocks == ()
    assert prepared.text == (
        "(Attached in Slack but not passed on: gone.png)\n(Attached in Slack but not passed on: doc)"
    )
    assert notes == [
        "I couldn't pass gone.png to the agent: Slack gives no download for it. Your message went without it.",
        "I couldn't pass doc to the agent: it is stored outside Slack. Your message went without it.",
    ]


async def test_qoder_refusing_an_upload_leaves_the_file_out_but_an_outage_is_raised(
    store: SqliteStore,
) -> None:
    notes: list[str] = []
    files = Files(errors=[InvalidRequestError("File is too large.", status=400)])
    attachments = Attachments(Source({"F1": b"PK"}), files, store)
    shared = message(SlackFile("F1", "big.zip", "application/zip"))
    prepared = await attachments.prepare("sesn_1", shared, "x", lambda thread, text: notes.append(text))
    assert prepared.text == "x\n\n(Attached in Slack but not passed on: big.zip)"
    assert notes and "big.zip" in notes[0] and "File is too large." in notes[0]

    files.errors.append(ServerError("unavailable", status=503))
    with pytest.raises(ServerError):
        await attachments.prepare("sesn_1", shared, "x", lambda thread, text: notes.append(text))


async def test_a_message_with_files_held_before_a_restart_gets_them_on_recovery(store: SqliteStore) -> None:
    clock = FakeClock()
    qoder, relay = FakeQoderSessions(), FakeRelay()
    outbox = Outbox(RecordingTransport(clock), clock=clock, sleep=clock.sleep)
    source = Source({"F1": b"\x89PNG"})
    attachments = Attachments(source, Files(), store)
    use_cases = UseCases.build(
        qoder, store, relay, outbox, ThreadsConfig("agent", "env"), attachments=attachments
    )
    try:
        await store.inbox_add(
            T1, QueuedMessage(T1, T1.thread_ts, "U1", "", files=(SlackFile("F1", "a.png", "image/png"),))
        )
        await use_cases.intake.recover()
        (sent,) = qoder.sent
        assert sent.text == "(Attached: a.png, an image, below)"
        assert [block["type"] for block in sent.attachments] == ["image"]
        assert source.fetched == ["F1"]
    finally:
        await use_cases.aclose()
        await outbox.aclose()


# -- SlackDownloads -----------------------------------------------------------------------------------


def slack_files(content: dict[str, tuple[bytes, str]]) -> httpx.MockTransport:
    """Answers like Slack's file server: the bytes to the bot token, the sign-in page to anyone else."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(200, text="<html>Sign in</html>", headers={"content-type": "text/html"})
        if request.url.path not in content:
            return httpx.Response(404)
        data, mime = content[request.url.path]
        return httpx.Response(200, content=data, headers={"content-type": mime})

    return httpx.MockTransport(answer)


async def test_a_download_is_the_file() -> None:
    transport = slack_files({"/F1/a.png": (b"png-bytes", "image/png")})
    downloads = SlackDownloads(TOKEN, max_bytes=100, transport=transport)
    assert (
        await downloads.fetch(SlackFile("F1", "a.png", "image/png", 9, "https://f/F1/a.png")) == b"png-bytes"
    )
    assert "xoxb" not in repr(downloads)


async def test_the_limit_holds_on_the_announced_size_and_while_reading() -> None:
    transport = slack_files({"/F1/a.bin": (b"x" * 500, "application/octet-stream")})
    downloads = SlackDownloads(TOKEN, max_bytes=100, transport=transport)
    with pytest.raises(FileTooLarge) as announced:
        await downloads.fetch(SlackFile("F1", "a.bin", size=500, url="https://f/F1/a.bin"))
    assert announced.value.size == 500 and "100 bytes" in announced.value.reason
    with pytest.raises(FileTooLarge) as read:
        await downloads.fetch(SlackFile("F1", "a.bin", size=50, url="https://f/F1/a.bin"))
    assert read.value.size > 100 and "larger than the limit" in read.value.reason


async def test_the_sign_in_page_and_errors_are_not_the_file() -> None:
    transport = slack_files({"/F1/p.html": (b"<html>mine</html>", "text/html")})
    wrong = SlackDownloads("xoxb-wrong", max_bytes=1000, transport=transport)
    with pytest.raises(FileUnavailable, match="files:read"):
        await wrong.fetch(SlackFile("F2", "a.png", "image/png", 20, "https://f/F2/a.png"))  # the page's size
    with pytest.raises(FileUnavailable, match="files:read"):  # an HTML file, but not the one asked for
        await wrong.fetch(SlackFile("F1", "p.html", "text/html", 17, "https://f/F1/p.html"))
    right = SlackDownloads(TOKEN, max_bytes=1000, transport=transport)
    assert (
        await right.fetch(SlackFile("F1", "p.html", "text/html", 17, "https://f/F1/p.html"))
        == b"<html>mine</html>"
    )
    with pytest.raises(FileUnavailable, match="HTTP 404"):
        await right.fetch(SlackFile("F3", "x.png", "image/png", 5, "https://f/F3/x.png"))
    with pytest.raises(FileUnavailable, match="no download"):
        await right.fetch(SlackFile("F4", "x.png", "image/png", 5, ""))
