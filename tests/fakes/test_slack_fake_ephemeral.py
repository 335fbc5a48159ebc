"""Self-tests of the fake Slack's chat.postEphemeral."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.token, base_url=fake.api_url)


async def test_an_ephemeral_is_seen_by_its_user_only_and_is_not_in_the_thread(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    root = fake.add_user_message("C1", "hello")
    answer = await client.chat_postEphemeral(channel="C1", user="U2", text="just for you", thread_ts=root)
    assert answer["ok"] and answer["message_ts"]
    [shown] = fake.ephemerals.seen_by("U2", "C1", root)
    assert (shown.text, shown.ts) == ("just for you", answer["message_ts"])
    assert fake.ephemerals.seen_by("U1") == []
    assert fake.bot_replies("C1", root) == [] and len(fake.thread("C1", root)) == 1
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel="C1", ts=answer["message_ts"], text="edited")
    assert raised.value.response["error"] == "message_not_found"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"user": "U2", "text": "x"}, "channel_not_found"),
        ({"channel": "C1", "text": "x"}, "user_not_found"),
        ({"channel": "C1", "user": "U2"}, "no_text"),
        ({"channel": "C1", "user": "U2", "blocks": [{"type": "section"}]}, "invalid_blocks"),
    ],
)
async def test_bad_ephemerals_are_refused(
    fake: FakeSlack, client: AsyncWebClient, args: dict[str, str], error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.api_call("chat.postEphemeral", json=args)
    assert raised.value.response["error"] == error
    assert fake.ephemerals.shown == []
