"""The fake workspace's shared files: the event's file object and the private download that needs the bot
token and ``files:read``, answering a sign-in page (HTTP 200) otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_files import SIGN_IN_PAGE


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as f:
        yield f


async def test_a_hosted_file_is_described_like_slack_does(fake: FakeSlack) -> None:
    obj = fake.files.add("shot 1.png", "image/png", b"\x89PNG-bytes")
    assert obj["id"].startswith("F") and obj["id"] in fake.files.files
    assert (obj["name"], obj["title"], obj["mimetype"]) == ("shot 1.png", "shot 1.png", "image/png")
    assert (obj["filetype"], obj["size"], obj["mode"]) == ("png", 10, "hosted")
    assert obj["url_private_download"].startswith(f"{fake.base_url}/files-pri/T1-{obj['id']}/download/")
    assert obj["url_private"].startswith(fake.base_url)


async def test_the_download_needs_the_bot_token(fake: FakeSlack) -> None:
    obj = fake.files.add("notes.txt", "text/plain", "héllo".encode())
    async with httpx.AsyncClient() as http:
        good = await http.get(obj["url_private_download"], headers={"Authorization": f"Bearer {fake.token}"})
        anonymous = await http.get(obj["url_private_download"])
        wrong = await http.get(obj["url_private"], headers={"Authorization": "Bearer xoxb-other"})
    assert good.status_code == 200 and good.content == "héllo".encode()
    assert good.headers["content-type"].startswith("text/plain")
    for refused in (anonymous, wrong):
        assert refused.status_code == 200
        assert refused.headers["content-type"].startswith("text/html")
        assert refused.text == SIGN_IN_PAGE
    assert fake.files.downloads == [obj["id"]]
    assert fake.files.refused == [obj["id"], obj["id"]]


async def test_the_download_needs_files_read() -> None:
    async with FakeSlack(scopes=frozenset({"chat:write"})) as fake:
        obj = fake.files.add("a.pdf", "application/pdf", b"%PDF-1.7")
        async with httpx.AsyncClient() as http:
            answer = await http.get(
                obj["url_private_download"], headers={"Authorization": f"Bearer {fake.token}"}
            )
    assert answer.status_code == 200 and answer.text == SIGN_IN_PAGE
    assert fake.files.downloads == []


async def test_external_and_deleted_files_have_no_download(fake: FakeSlack) -> None:
    external = fake.files.add("plan.gdoc", "application/vnd.google-apps.document", b"", mode="external")
    gone = fake.files.add("old.png", "image/png", b"x", mode="tombstone")
    assert external["is_external"] is True and "url_private_download" not in external
    assert "url_private_download" not in gone and "url_private" not in gone
    async with httpx.AsyncClient() as http:
        missing = await http.get(
            f"{fake.base_url}/files-pri/T1-F99999999/download/x.png",
            headers={"Authorization": f"Bearer {fake.token}"},
        )
    assert missing.status_code == 404
