"""Self-tests of what the fake Slack enforces beyond messages: conversations and membership, scopes,
modals and the Home tab, response URLs, slowness, and the 3 s acknowledgement of interactions."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_events import AckTimeout, SlackEvents
from tests.fakes.slack_interactive import NotSubmitted
from tests.fakes.slack_responses import response_path
from tests.fakes.slack_views import new_trigger_id

SECRET = "shh-signing-secret"

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "ask",
    "title": {"type": "plain_text", "text": "Ask Qoder"},
    "submit": {"type": "plain_text", "text": "Start"},
    "private_metadata": "meta",
    "blocks": [
        {
            "type": "input",
            "block_id": "task",
            "label": {"type": "plain_text", "text": "Task"},
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "initial_value": "look",
                "max_length": 20,
            },
        },
        {
            "type": "input",
            "block_id": "outcome",
            "optional": True,
            "label": {"type": "plain_text", "text": "Done when"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
    ],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as f:
        yield f


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=fake.token, base_url=fake.api_url)


async def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        await call
    return str(raised.value.response["error"])


# -- conversations --------------------------------------------------------------------------------


async def test_posting_needs_membership_and_join_works_for_public_channels_only(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.conversations.add("C2", "public", member=False)
    fake.conversations.add("G1", "private", member=False)
    fake.conversations.add("G2", "private", member=True)
    fake.conversations.add("C3", "public", archived=True)

    assert await error_of(client.chat_postMessage(channel="C2", text="hi")) == "not_in_channel"
    assert await error_of(client.chat_postMessage(channel="G1", text="hi")) == "channel_not_found"
    assert await error_of(client.chat_postEphemeral(channel="C2", user="U1", text="hi")) == "not_in_channel"
    assert await error_of(client.chat_postMessage(channel="C3", text="hi")) == "is_archived"

    joined = await client.conversations_join(channel="C2")
    assert joined["channel"]["is_member"] is True and "warning" not in joined.data
    assert (await client.conversations_join(channel="C2"))["warning"] == "already_in_channel"
    assert (await client.chat_postMessage(channel="C2", text="hi"))["ok"] is True

    assert await error_of(client.conversations_join(channel="G1")) == "channel_not_found"
    assert await error_of(client.conversations_join(channel="G2")) == "method_not_supported_for_channel_type"
    assert await error_of(client.conversations_join(channel="D9")) == "method_not_supported_for_channel_type"
    assert await error_of(client.conversations_join(channel="C3")) == "is_archived"
    assert await error_of(client.conversations_info(channel="G1")) == "channel_not_found"
    assert (await client.conversations_info(channel="G2"))["channel"]["is_private"] is True
    # Undeclared conversations are ones the bot is in.
    assert (await client.chat_postMessage(channel="C77", text="hi"))["ok"] is True


async def test_ephemeral_messages_are_recorded(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.chat_postEphemeral(channel="C1", user="U5", text="only you", thread_ts="1.1")
    assert [(e.channel, e.user, e.text, e.thread_ts) for e in fake.ephemerals] == [
        ("C1", "U5", "only you", "1.1")
    ]
    assert (
        await error_of(client.api_call("chat.postEphemeral", json={"channel": "C1", "user": "U5"}))
        == "no_text"
    )


async def test_missing_scope_when_scopes_are_given() -> None:
    async with FakeSlack(scopes=frozenset({"chat:write"})) as fake:
        client = AsyncWebClient(token=fake.token, base_url=fake.api_url)
        assert (await client.chat_postMessage(channel="C1", text="ok"))["ok"] is True
        with pytest.raises(SlackApiError) as raised:
            await client.conversations_join(channel="C1")
        assert raised.value.response["error"] == "missing_scope"
        assert raised.value.response["needed"] == "channels:join"
        assert await error_of(client.conversations_info(channel="G1")) == "missing_scope"
        assert (await client.chat_getPermalink(channel="C1", message_ts="1.1"))["ok"] is True


# -- views ----------------------------------------------------------------------------------------


async def test_views_open_needs_a_fresh_unused_trigger(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger = new_trigger_id(1)
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    assert opened["view"]["id"] == fake.views.modals[0].id and opened["view"]["callback_id"] == "ask"
    assert await error_of(client.views_open(trigger_id=trigger, view=MODAL)) == "exchanged_trigger_id"
    stale = new_trigger_id(2, issued_at=time.time() - 3.5)
    assert await error_of(client.views_open(trigger_id=stale, view=MODAL)) == "expired_trigger_id"
    assert await error_of(client.views_open(trigger_id="1.trigger", view=MODAL)) == "invalid_trigger_id"
    assert len(fake.views.modals) == 1


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"title": {"type": "plain_text", "text": "A title far longer than 24"}}, "/view/title/text"),
        ({"title": {"type": "mrkdwn", "text": "Ask"}}, "/view/title/type"),
        ({"submit": None}, "/view/submit"),
        ({"private_metadata": "x" * 3001}, "/view/private_metadata"),
        ({"blocks": [{"type": "divider"}] * 101}, "/view/blocks"),
        ({"blocks": [{"type": "markdown", "text": "**no**"}]}, "/view/blocks/0/type"),
        (
            {"blocks": [{"type": "section", "block_id": "a", "text": {"type": "mrkdwn", "text": "x"}}] * 2},
            "/view/blocks/1/block_id",
        ),
        (
            {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
            "/view/blocks/0/text/text",
        ),
        (
            {
                "blocks": [
                    {
                        "type": "input",
                        "block_id": "t",
                        "label": {"type": "plain_text", "text": "T"},
                        "element": {
                            "type": "plain_text_input",
                            "action_id": "v",
                            "initial_value": "abc",
                            "max_length": 2,
                        },
                    }
                ]
            },
            "/view/blocks/0/element/initial_value",
        ),
        (
            {
                "blocks": [
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": "x"},
                        "accessory": {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "y" * 76},
                            "action_id": "b",
                        },
                    }
                ]
            },
            "/view/blocks/0/accessory/text/text",
        ),
    ],
)
async def test_views_open_refuses_what_block_kit_forbids(
    fake: FakeSlack, client: AsyncWebClient, change: dict[str, Any], pointer: str
) -> None:
    view = {key: value for key, value in {**MODAL, **change}.items() if value is not None}
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=new_trigger_id(1), view=view)
    assert raised.value.response["error"] == "invalid_arguments"
    assert any(pointer in m for m in raised.value.response["response_metadata"]["messages"])


async def test_views_publish_sets_a_users_home_tab(fake: FakeSlack, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]}
    first = await client.views_publish(user_id="U1", view=home)
    again = await client.views_publish(user_id="U1", view=home, hash=first["view"]["hash"])
    assert first["view"]["id"] == again["view"]["id"] == fake.views.homes["U1"].id
    assert await error_of(client.views_publish(user_id="U1", view=home, hash="stale")) == "hash_conflict"
    assert await error_of(client.views_publish(user_id="U1", view=MODAL)) == "invalid_arguments"
    assert await error_of(client.views_publish(user_id="", view=home)) == "invalid_arguments"
    assert len(fake.views.publishes) == 2


# -- response URLs and slowness ---------------------------------------------------------------------


async def test_response_url_takes_five_valid_answers_within_thirty_minutes(fake: FakeSlack) -> None:
    url = fake.response_url_base + response_path("commands", "T1", 1)
    old = fake.response_url_base + response_path("commands", "T1", 2, issued_at=time.time() - 31 * 60)
    async with httpx.AsyncClient() as http:
        assert (await http.post(url, json={"response_type": "ephemeral"})).text == "no_text"
        too_many = [{"type": "divider"}] * 51
        assert (await http.post(url, json={"blocks": too_many})).text == "invalid_blocks"
        statuses = [(await http.post(url, json={"text": f"answer {i}"})).status_code for i in range(6)]
        assert (await http.post(old, json={"text": "late"})).text == "expired_url"
    assert statuses == [200] * 5 + [404]
    assert [r.text for r in fake.responses_to(url)] == [f"answer {i}" for i in range(5)]


async def test_delay_slows_one_method(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.delay("chat.getPermalink", 0.4)
    started = time.monotonic()
    await client.chat_getPermalink(channel="C1", message_ts="1.1")
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    await client.chat_postMessage(channel="C1", text="fast")
    assert time.monotonic() - started < 0.3


# -- the sender: interactions and the 3 s acknowledgement ---------------------------------------------


class SlowApp:
    """Receives signed requests and answers each after ``delay`` seconds, with ``body``."""

    def __init__(self, delay: float = 0.0, body: str = "") -> None:
        self.delay, self.body = delay, body
        self.payloads: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        form = dict(urllib.parse.parse_qsl((await request.read()).decode()))
        self.payloads.append(json.loads(form["payload"]) if "payload" in form else form)
        await asyncio.sleep(self.delay)
        return web.Response(text=self.body, content_type="application/json")

    async def __aenter__(self) -> SlowApp:
        app = web.Application()
        app.router.add_post("/slack/events", self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/slack/events"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_commands_and_interactions_acknowledged_late_time_out() -> None:
    async with SlowApp(delay=3.3) as app, SlackEvents(app.url, SECRET) as events:
        with pytest.raises(AckTimeout):
            await events.command("list")
        with pytest.raises(AckTimeout):
            await events.message_shortcut("ask", channel="C1", ts="1.1", text="hi", author="U2")


async def test_shortcut_submission_and_home_payloads() -> None:
    async with (
        SlowApp(body='{"response_action": "errors", "errors": {"task": "no"}}') as app,
        SlackEvents(app.url, SECRET, response_url_base="http://x/r/") as events,
    ):
        assert (
            await events.message_shortcut(
                "ask", channel="C1", ts="1.2", text="hi", author="U2", thread_ts="1.1"
            )
            == 200
        )
        status, answer = await events.submit_view({"id": "V1", **MODAL}, {"outcome": "green"}, user="U3")
        assert status == 200 and answer == {"response_action": "errors", "errors": {"task": "no"}}
        with pytest.raises(NotSubmitted):
            await events.submit_view({"id": "V1", **MODAL}, {"task": ""})
        with pytest.raises(NotSubmitted):
            await events.submit_view({"id": "V1", **MODAL}, {"task": "x" * 21})
    shortcut, submission = app.payloads
    assert shortcut["type"] == "message_action" and shortcut["callback_id"] == "ask"
    assert shortcut["message"] == {
        "type": "message",
        "user": "U2",
        "ts": "1.2",
        "text": "hi",
        "team": "T1",
        "thread_ts": "1.1",
    }
    assert shortcut["response_url"] == events.response_urls[-1] and shortcut["response_url"].startswith(
        "http://x/r/"
    )
    assert submission["type"] == "view_submission" and submission["user"]["id"] == "U3"
    values = submission["view"]["state"]["values"]
    assert values == {
        "task": {"value": {"type": "plain_text_input", "value": "look"}},
        "outcome": {"value": {"type": "plain_text_input", "value": "green"}},
    }
    home = events.app_home_opened("U4")
    assert (home["type"], home["user"], home["tab"]) == ("app_home_opened", "U4", "home")
