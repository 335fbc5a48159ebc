"""``QoderClient``'s calls for shared files, against the fake Qoder: a multipart upload, mounting it into a
session, and a ``user.message`` carrying content blocks after its text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.qoder import QoderClient
from tests.fakes.qoder_api import FakeQoder

TOKEN = "pt-files"


@pytest.fixture
async def fake() -> AsyncIterator[FakeQoder]:
    server = FakeQoder(token=TOKEN, heartbeat_interval=0.05, step_delay=0.005)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeQoder) -> AsyncIterator[QoderClient]:
    qoder = QoderClient(fake.base_url, TOKEN, max_retries=0)
    yield qoder
    await qoder.aclose()


async def test_an_upload_is_mounted_and_a_retried_upload_is_the_same_file(
    fake: FakeQoder, client: QoderClient
) -> None:
    session = await client.create_session(
        agent="agent_1", environment_id="env_1", title="t", metadata={}, idempotency_key="k"
    )
    file_id = await client.upload_file("logs.zip", b"PK\x03\x04", "application/zip", idempotency_key="F1")
    again = await client.upload_file("logs.zip", b"PK\x03\x04", "application/zip", idempotency_key="F1")
    assert again == file_id and list(fake.files.files) == [file_id]
    stored = fake.files.files[file_id]
    assert (stored.filename, stored.mime_type, stored.data) == ("logs.zip", "application/zip", b"PK\x03\x04")
    upload = next(r for r in fake.requests if r.path.endswith("/files"))
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert "idempotency-key" in upload.headers

    mount = await client.add_resource(session.id, file_id, idempotency_key="F1")
    assert mount == f"/mnt/session/uploads/{file_id}"
    assert [r["file_id"] for r in fake.files.resources[session.id]] == [file_id]


async def test_send_message_puts_the_blocks_after_the_text(fake: FakeQoder, client: QoderClient) -> None:
    session = await client.create_session(
        agent="agent_1", environment_id="env_1", title="t", metadata={}, idempotency_key="k"
    )
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}}
    echo = await client.send_message(session.id, "see", idempotency_key="m1", attachments=[image])
    (message,) = [e for e in fake.history(session.id) if e["type"] == "user.message"]
    assert message["id"] == echo
    assert message["content"] == [{"type": "text", "text": "see"}, image]
