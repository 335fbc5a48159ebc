"""The fake's external file upload flow, driven by slack_sdk's own ``files_upload_v2`` and step by step."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack, RateLimit


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.token, base_url=fake.api_url)


async def test_files_upload_v2_shares_the_file_in_the_thread(fake: FakeSlack, client: AsyncWebClient) -> None:
    root = fake.add_user_message("C1", "<@UBOT> make a report")
    data = b"# CI report\n\nall green\n"
    response = await client.files_upload_v2(
        channel="C1", thread_ts=root, filename="ci-report.md", title="CI report.md", content=data
    )
    assert response["file"]["title"] == "CI report.md"
    (message,) = [m for m in fake.thread("C1", root) if m.files]
    assert message.thread_ts == root and message.bot_id == fake.bot_id
    assert message.files is not None and message.files[0]["title"] == "CI report.md"
    (shared,) = fake.uploads.shared("C1", root)
    assert (shared.id, shared.filename, shared.data) == (message.files[0]["id"], "ci-report.md", data)
    assert [c.method for c in fake.calls if c.ok] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    replies = await client.conversations_replies(channel="C1", ts=root)
    assert replies["messages"][-1]["files"][0]["id"] == shared.id


async def test_an_initial_comment_is_the_text_of_the_message(fake: FakeSlack, client: AsyncWebClient) -> None:
    root = fake.add_user_message("C1", "hi")
    await client.files_upload_v2(
        channel="C1", thread_ts=root, filename="a.txt", content=b"x", initial_comment="Here it is"
    )
    (message,) = [m for m in fake.thread("C1", root) if m.files]
    assert fake.visible_text(message) == "Here it is"


async def test_the_bytes_must_have_the_announced_length(fake: FakeSlack, client: AsyncWebClient) -> None:
    answer = await client.files_getUploadURLExternal(filename="a.txt", length=5)
    async with httpx.AsyncClient() as http:
        short = await http.post(answer["upload_url"], content=b"abc")
        assert short.status_code == 400
        with pytest.raises(SlackApiError) as refused:
            await client.files_completeUploadExternal(files=[{"id": answer["file_id"]}], channel_id="C1")
        assert refused.value.response["error"] == "file_not_found"
        ok = await http.post(answer["upload_url"], content=b"abcde")
        assert (ok.status_code, ok.text) == (200, "OK - 5")
        again = await http.post(answer["upload_url"], content=b"abcde")
        assert again.status_code == 404, "an upload URL takes one upload"
    await client.files_completeUploadExternal(files=[{"id": answer["file_id"]}], channel_id="C1")
    assert fake.uploads.files[answer["file_id"]].data == b"abcde"


async def test_bad_arguments_and_missing_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    for args in ({"filename": "", "length": 3}, {"filename": "a", "length": 0}):
        with pytest.raises(SlackApiError) as refused:
            await client.api_call("files.getUploadURLExternal", params=args)
        assert refused.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as unknown:
        await client.files_completeUploadExternal(files=[{"id": "FNOPE"}], channel_id="C1")
    assert unknown.value.response["error"] == "file_not_found"
    fake.conversations.add("C9", member=False)
    with pytest.raises(SlackApiError) as outside:
        await client.files_upload_v2(channel="C9", filename="a.txt", content=b"x")
    assert outside.value.response["error"] == "not_in_channel"
    assert fake.uploads.shared("C9") == []


async def test_the_upload_needs_files_write(fake: FakeSlack) -> None:
    fake.scopes = frozenset({"chat:write"})
    client = AsyncWebClient(token=fake.token, base_url=fake.api_url)
    with pytest.raises(SlackApiError) as refused:
        await client.files_upload_v2(channel="C1", filename="a.txt", content=b"x")
    assert (refused.value.response["error"], refused.value.response["needed"]) == (
        "missing_scope",
        "files:write",
    )


async def test_the_methods_are_rate_limited_like_tier_4(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert fake.rate_limits["files.getUploadURLExternal"] == RateLimit(100, 60.0)
    fake.rate_limits["files.getUploadURLExternal"] = RateLimit(1, 60.0)
    await client.files_getUploadURLExternal(filename="a.txt", length=1)
    with pytest.raises(SlackApiError) as limited:
        await client.files_upload_v2(channel="C1", filename="b.txt", content=b"y")
    assert limited.value.response.status_code == 429
