"""The fake's Files API, presigned downloads, session resources and agent-delivered artifacts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fakes.qoder_api import Artifact, FakeQoder
from tests.fakes.test_qoder_fake import TOKEN, new_session, send_text, until


@pytest.fixture
async def fake() -> AsyncIterator[FakeQoder]:
    server = FakeQoder(token=TOKEN, heartbeat_interval=0.05, step_delay=0.005)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeQoder) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, timeout=5) as c:
        yield c


async def test_an_upload_is_stored_and_described(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    files = {"file": ("notes.csv", b"a,b\n1,2\n", "text/csv")}
    response = await client.post("/files", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "file" and body["filename"] == "notes.csv"
    assert body["mime_type"] == "text/csv" and body["size_bytes"] == 8
    assert fake.files.files[body["id"]].data == b"a,b\n1,2\n"
    again = await client.get(f"/files/{body['id']}")
    assert again.json() == body


async def test_an_upload_needs_multipart_and_the_token(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    assert (await client.post("/files", json={"file": "x"})).status_code == 400
    async with httpx.AsyncClient(base_url=fake.base_url) as anonymous:
        response = await anonymous.post("/files", files={"file": ("a.txt", b"x", "text/plain")})
    assert response.status_code == 401
    assert fake.files.files == {}


async def test_content_is_a_presigned_url_fetched_without_auth(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    file_id = fake.files.add("report.md", "text/markdown", b"# Report\n")
    link = (await client.get(f"/files/{file_id}/content")).json()
    assert link["expires_at"].endswith("Z")
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(link["url"])).content == b"# Report\n"
        refused = await plain.get(link["url"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 400
    assert fake.files.downloads == [file_id]


async def test_an_expired_link_and_a_file_not_downloadable_are_refused(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    fake.files.presigned_ttl = -1.0
    file_id = fake.files.add("a.bin", "application/octet-stream", b"\x00")
    link = (await client.get(f"/files/{file_id}/content")).json()
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(link["url"])).status_code == 403
    private = fake.files.add("b.bin", "application/octet-stream", b"\x01", downloadable=False)
    assert (await client.get(f"/files/{private}/content")).status_code == 403
    assert (await client.get("/files/file_missing/content")).status_code == 404


async def test_an_uploaded_file_is_mounted_into_a_session(fake: FakeQoder, client: httpx.AsyncClient) -> None:
    sid = await new_session(client)
    uploaded = await client.post("/files", files={"file": ("data.zip", b"PK", "application/zip")})
    file_id = uploaded.json()["id"]
    mounted = await client.post(f"/sessions/{sid}/resources", json={"type": "file", "file_id": file_id})
    assert mounted.status_code == 200
    assert mounted.json()["mount_path"] == f"/mnt/session/uploads/{file_id}"
    listed = (await client.get(f"/sessions/{sid}/resources")).json()["data"]
    assert [r["file_id"] for r in listed] == [file_id]
    unknown = await client.post(f"/sessions/{sid}/resources", json={"type": "file", "file_id": "file_x"})
    assert unknown.status_code == 404
    repo = {"type": "github_repository", "url": "https://github.com/a/b"}
    assert (await client.post(f"/sessions/{sid}/resources", json=repo)).status_code == 400


async def test_an_artifact_step_stores_the_file_and_announces_it(
    fake: FakeQoder, client: httpx.AsyncClient
) -> None:
    fake.script([Artifact("ci-report.md", b"all green", content_type="text/markdown")])
    sid = await new_session(client)
    await send_text(client, sid, "report please")
    await until(lambda: any(e["type"] == "session.status_idle" for e in fake.history(sid)))
    [event] = [e for e in fake.history(sid) if e["type"] == "agent.artifact_delivered"]
    assert event["original_filename"] == "ci-report.md" and event["size"] == 9
    assert event["content_type"] == "text/markdown"
    assert fake.files.files[event["file_id"]].data == b"all green"


@pytest.mark.parametrize(
    ("block", "accepted"),
    [
        (
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}},
            True,
        ),
        ({"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "AAAA"}}, False),
        (
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not b64!"}},
            False,
        ),
        ({"type": "image", "source": {"type": "file", "file_id": "file_1"}}, True),
        ({"type": "image"}, False),
        (
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERg=="},
                "title": "a.pdf",
            },
            True,
        ),
        (
            {"type": "document", "source": {"type": "base64", "media_type": "text/plain", "data": "eA=="}},
            False,
        ),
        ({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}, True),
        ({"type": "document", "source": {"type": "text", "media_type": "text/csv", "data": "x"}}, False),
        ({"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}, "title": 3}, False),
        ({"type": "video", "source": {}}, False),
    ],
)
async def test_message_content_blocks_are_checked(
    fake: FakeQoder, client: httpx.AsyncClient, block: dict[str, object], accepted: bool
) -> None:
    sid = await new_session(client)
    body = {"events": [{"type": "user.message", "content": [{"type": "text", "text": "see"}, block]}]}
    response = await client.post(f"/sessions/{sid}/events", json=body)
    assert response.status_code == (200 if accepted else 400), response.text
    assert fake.user_messages(sid) == (["see"] if accepted else [])
