"""Delivering an agent's file: the presigned download (no credentials, a size cap), the outbox's upload over
slack_sdk's ``files_upload_v2`` (rate limits of each step, refusals), and the notes ``ArtifactDelivery``
leaves when a file cannot be delivered. Against the fake Slack and the fake Qoder over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.artifacts import ArtifactDelivery
from bot.models import ThreadKey
from bot.outbox import Outbox, SlackError, WebClientTransport, WorkspaceOutbox, slack_limits
from bot.qoder import ArtifactDelivered, DownloadError, DownloadLink, PermissionDeniedError, QoderClient
from bot.store import open_store
from tests.fakes.qoder_api import FakeQoder
from tests.fakes.slack_api import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def qoder() -> AsyncIterator[FakeQoder]:
    fake = FakeQoder(heartbeat_interval=0.2, step_delay=0.01)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def client(qoder: FakeQoder) -> AsyncIterator[QoderClient]:
    qoder_client = QoderClient(qoder.base_url, qoder.token, max_retries=0)
    yield qoder_client
    await qoder_client.aclose()


def web_client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=slack.token, base_url=slack.api_url)


# --- downloading ----------------------------------------------------------------------------------------


async def test_a_download_sends_no_credentials_even_from_a_client_that_has_them(qoder: FakeQoder) -> None:
    file_id = qoder.files.add("a.txt", "text/plain", b"hello")
    headers = {"Authorization": f"Bearer {qoder.token}"}
    async with httpx.AsyncClient(headers=headers) as http:
        qoder_client = QoderClient(qoder.base_url, qoder.token, http=http)
        link = await qoder_client.file_download_url(file_id)
        assert link.url.startswith("http://") and link.expires_at is not None
        assert await qoder_client.download(link, max_bytes=5) == b"hello"
    assert qoder.files.downloads == [file_id]


async def test_a_file_over_the_cap_is_given_up(client: QoderClient, qoder: FakeQoder) -> None:
    file_id = qoder.files.add("big.bin", "application/octet-stream", b"x" * 100)
    with pytest.raises(DownloadError) as refused:
        await client.download(await client.file_download_url(file_id), max_bytes=99)
    assert refused.value.problem == "too_big"


async def test_an_expired_link_and_a_file_that_is_not_downloadable(
    client: QoderClient, qoder: FakeQoder
) -> None:
    file_id = qoder.files.add("a.txt", "text/plain", b"hello")
    qoder.files.presigned_ttl = -1.0
    with pytest.raises(DownloadError) as expired:
        await client.download(await client.file_download_url(file_id), max_bytes=100)
    assert expired.value.problem == "expired"
    locked = qoder.files.add("b.txt", "text/plain", b"no", downloadable=False)
    with pytest.raises(PermissionDeniedError):
        await client.file_download_url(locked)
    with pytest.raises(DownloadError) as nowhere:
        await client.download(DownloadLink(url=""), max_bytes=100)
    assert nowhere.value.problem == "failed"


# --- uploading ------------------------------------------------------------------------------------------


def workspace(slack: FakeSlack, secrets: tuple[str, ...] = ()) -> WorkspaceOutbox:
    return Outbox(WebClientTransport(web_client(slack)), slack_limits(), secrets=secrets).workspace("T1")


async def test_the_upload_shares_the_bytes_in_the_thread(slack: FakeSlack) -> None:
    root = slack.add_user_message("C1", "hi")
    outbox = workspace(slack, secrets=("pt-secret",))
    answer = await outbox.upload("C1", root, filename="r.md", title="Report r.md", content=b"key pt-secret")
    (shared,) = slack.uploads.shared("C1", root)
    assert answer["files"][0]["id"] == shared.id
    assert (shared.filename, shared.title) == ("r.md", "Report r.md")
    assert shared.data == b"key [redacted]", "no configured secret reaches Slack, not even inside a file"
    await outbox.aclose()


async def test_a_429_on_one_step_holds_that_step_and_the_upload_is_made_again(slack: FakeSlack) -> None:
    root = slack.add_user_message("C1", "hi")
    slack.fail_next("files.completeUploadExternal", retry_after=1)
    outbox = workspace(slack)
    started = time.monotonic()
    await outbox.upload("C1", root, filename="a.txt", title="a.txt", content=b"abc")
    assert time.monotonic() - started >= 0.9, "not before Retry-After"
    assert [f.data for f in slack.uploads.shared("C1", root)] == [b"abc"]
    assert len(slack.calls_to("files.getUploadURLExternal")) == 2
    await outbox.aclose()


async def test_a_refusal_names_the_step_that_refused(slack: FakeSlack) -> None:
    slack.scopes = frozenset({"chat:write"})
    outbox = workspace(slack)
    with pytest.raises(SlackError) as refused:
        await outbox.upload("C1", "1.0", filename="a.txt", title="a.txt", content=b"abc")
    assert (refused.value.method, refused.value.code) == ("files.getUploadURLExternal", "missing_scope")
    await outbox.aclose()


# --- delivering -----------------------------------------------------------------------------------------


@pytest.fixture
async def delivery(
    slack: FakeSlack, client: QoderClient, tmp_path: object
) -> AsyncIterator[tuple[ArtifactDelivery, Outbox]]:
    store = open_store(f"sqlite:///{tmp_path}/store.db")
    outbox = Outbox(WebClientTransport(web_client(slack)), slack_limits())
    yield ArtifactDelivery(client, store, outbox, max_bytes=1000), outbox
    await outbox.aclose()
    await store.close()


async def notes(slack: FakeSlack, root: str) -> list[str]:
    for _ in range(100):
        texts = [m.text for m in slack.bot_replies("C1", root) if not m.files]
        if texts:
            return texts
        await asyncio.sleep(0.02)
    return []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (ArtifactDelivered(id="e1", filename="x.txt"), "x.txt: Qoder did not say which file it is."),
        (ArtifactDelivered(id="e2", file_id="file_gone", filename="y.txt"), "y.txt: Qoder no longer has it."),
        (
            ArtifactDelivered(id="e3", file_id="f", filename="z.bin", size=5000),
            "z.bin: it is larger than 1000 B, the most I pass on.",
        ),
    ],
)
async def test_an_undeliverable_file_gets_a_note_naming_it_and_why(
    slack: FakeSlack, delivery: tuple[ArtifactDelivery, Outbox], event: ArtifactDelivered, expected: str
) -> None:
    root = slack.add_user_message("C1", "hi")
    await delivery[0].deliver("sess_1", ThreadKey("T1", "C1", root), event)
    assert await notes(slack, root) == [f":warning: I couldn't deliver the file {expected}"]


async def test_an_expired_link_is_asked_for_once_more_then_explained(
    slack: FakeSlack, qoder: FakeQoder, delivery: tuple[ArtifactDelivery, Outbox]
) -> None:
    root = slack.add_user_message("C1", "hi")
    file_id = qoder.files.add("late.txt", "text/plain", b"too late")
    qoder.files.presigned_ttl = -1.0
    event = ArtifactDelivered(id="e4", file_id=file_id, filename="late.txt", size=8)
    await delivery[0].deliver("sess_1", ThreadKey("T1", "C1", root), event)
    assert await notes(slack, root) == [
        ":warning: I couldn't deliver the file late.txt: its download link expired."
    ]
    links = [r for r in qoder.requests if r.path.endswith(f"/files/{file_id}/content")]
    assert len(links) == 2


async def test_each_file_of_a_session_is_delivered_once(
    slack: FakeSlack, qoder: FakeQoder, delivery: tuple[ArtifactDelivery, Outbox]
) -> None:
    root = slack.add_user_message("C1", "hi")
    file_id = qoder.files.add("a.txt", "text/plain", b"once")
    event = ArtifactDelivered(id="e5", file_id=file_id, filename="a.txt", size=4)
    thread = ThreadKey("T1", "C1", root)
    await asyncio.gather(*(delivery[0].deliver("sess_1", thread, event) for _ in range(3)))
    await delivery[0].deliver("sess_2", thread, event)  # another session's claim is its own
    assert [f.data for f in slack.uploads.shared("C1", root)] == [b"once", b"once"]
