"""Self-tests for the fake Slack Web API and the signed event sender."""

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
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack, RateLimit
from tests.fakes.slack_events import SlackEvents

SECRET = "shh-signing-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as f:
        yield f


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    c = AsyncWebClient(token=fake.token, base_url=fake.api_url)
    yield c


async def call(fake: FakeSlack, method: str, **args: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            fake.api_url + method, json=args, headers={"Authorization": f"Bearer {fake.token}"}
        )


async def test_auth_test_and_bad_token(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert (resp["user_id"], resp["bot_id"], resp["team_id"]) == ("UBOT", "BBOT", "T1")
    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    with pytest.raises(SlackApiError) as e:
        await bad.auth_test()
    assert e.value.response["error"] == "invalid_auth"
    assert [c.ok for c in fake.calls_to("auth.test")] == [True, False]


async def test_post_update_and_thread_view(fake: FakeSlack, client: AsyncWebClient) -> None:
    root = fake.add_user_message("C1", "<@UBOT> do the thing")
    first = await client.chat_postMessage(channel="C1", thread_ts=root, text="working…")
    second = await client.chat_postMessage(channel="C1", thread_ts=root, text="second")
    assert float(first["ts"]) < float(second["ts"])
    await client.chat_update(channel="C1", ts=first["ts"], text="done: 42")

    thread = fake.thread("C1", root)
    assert [m.ts for m in thread] == [root, first["ts"], second["ts"]]
    assert thread[0].user == "U1" and thread[0].bot_id is None
    replies = fake.bot_replies("C1", root)
    assert [fake.visible_text(m) for m in replies] == ["done: 42", "second"]
    assert replies[0].edits == 1
    assert replies[0].versions == ["working…", "done: 42"]

    await client.chat_delete(channel="C1", ts=second["ts"])
    assert [m.ts for m in fake.bot_replies("C1", root)] == [first["ts"]]

    replies_api = await client.conversations_replies(channel="C1", ts=root)
    assert [m["ts"] for m in replies_api["messages"]] == [root, first["ts"]]


async def test_visible_text_prefers_blocks(fake: FakeSlack, client: AsyncWebClient) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "body"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "ctx"}]},
        {"type": "divider"},
    ]
    posted = await client.chat_postMessage(channel="C1", text="fallback", blocks=blocks)
    msg = fake.messages[("C1", posted["ts"])]
    assert fake.visible_text(msg) == "Title\nbody\nctx"
    # Slack keeps previous blocks when chat.update sends only text.
    await client.chat_update(channel="C1", ts=posted["ts"], text="new fallback")
    assert fake.visible_text(msg) == "Title\nbody\nctx"
    await client.chat_update(channel="C1", ts=posted["ts"], text="plain", blocks=[])
    assert fake.visible_text(msg) == "plain"


@pytest.mark.parametrize(
    ("method", "args", "error"),
    [
        ("chat.update", {"channel": "C1", "ts": "1.000100", "text": "x"}, "message_not_found"),
        ("chat.postMessage", {"channel": "C1", "text": "x", "markdown_text": "y"}, "markdown_text_conflict"),
        ("chat.postMessage", {"channel": "C1"}, "no_text"),
        ("chat.postMessage", {"channel": "C1", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            "chat.postMessage",
            {
                "channel": "C1",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            },
            "invalid_blocks",
        ),
        (
            "chat.appendStream",
            {"channel": "C1", "ts": "1.000100", "markdown_text": "x"},
            "message_not_in_streaming_state",
        ),
        (
            "chat.startStream",
            {"channel": "C1", "thread_ts": "1.0", "markdown_text": "x"},
            "missing_recipient_user_id",
        ),
    ],
)
async def test_validation_errors(fake: FakeSlack, method: str, args: dict[str, Any], error: str) -> None:
    resp = await call(fake, method, **args)
    assert resp.status_code == 200
    body = resp.json()
    assert {key: body[key] for key in ("ok", "error")} == {"ok": False, "error": error}
    assert set(body) <= {"ok", "error", "response_metadata"}
    assert fake.calls[-1].error == error and not fake.calls[-1].ok


async def test_update_text_limits(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert posted["warning"] == "message_truncated"
    assert len(fake.messages[("C1", posted["ts"])].text) == 40_000
    with pytest.raises(SlackApiError) as e:
        await client.chat_update(channel="C1", ts=posted["ts"], text="y" * 4_001)
    assert e.value.response["error"] == "msg_too_long"
    await client.chat_update(channel="C1", ts=posted["ts"], text="y" * 4_000)
    assert fake.messages[("C1", posted["ts"])].edits == 1


async def test_form_encoded_and_query_bodies(fake: FakeSlack) -> None:
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            fake.api_url + "chat.postMessage",
            data={
                "token": fake.token,
                "channel": "C9",
                "blocks": json.dumps([{"type": "divider"}]),
                "text": "t",
            },
        )
        assert resp.json()["ok"] is True
        ts = resp.json()["ts"]
        got = await http.get(
            fake.api_url + "chat.getPermalink",
            params={"token": fake.token, "channel": "C9", "message_ts": ts},
        )
    assert got.json()["permalink"].endswith(ts.replace(".", ""))
    assert fake.messages[("C9", ts)].blocks == [{"type": "divider"}]
    assert "token" not in fake.calls[-1].args


async def test_reactions(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = fake.add_user_message("C1", "hi")
    await client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError) as e:
        await client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    assert e.value.response["error"] == "already_reacted"
    assert fake.messages[("C1", ts)].reactions == {"eyes": {"UBOT"}}
    await client.reactions_remove(channel="C1", timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError) as e:
        await client.reactions_remove(channel="C1", timestamp=ts, name="eyes")
    assert e.value.response["error"] == "no_reaction"
    # A message that predates the fake can still get reactions, but is not part of any thread view.
    await client.reactions_add(channel="C1", timestamp="1600000000.000100", name="eyes")
    assert fake.thread("C1", "1600000000.000100") == []


async def test_set_status_cleared_by_reply(fake: FakeSlack, client: AsyncWebClient) -> None:
    root = fake.add_user_message("C1", "go")
    await client.assistant_threads_setStatus(channel_id="C1", thread_ts=root, status="is thinking…")
    assert fake.statuses[("C1", root)] == "is thinking…"
    await client.chat_postMessage(channel="C1", thread_ts=root, text="answer")
    assert fake.statuses[("C1", root)] == ""


async def test_rate_limit_answers_429_then_recovers() -> None:
    limits = {"chat.update": RateLimit(3, 0.5, "workspace"), "chat.postMessage": RateLimit(1, 0.5, "channel")}
    async with FakeSlack(rate_limits=limits) as fake:
        client = AsyncWebClient(token=fake.token, base_url=fake.api_url)
        ts = (await client.chat_postMessage(channel="C1", text="a"))["ts"]
        await client.chat_postMessage(channel="C2", text="other channel has its own window")
        with pytest.raises(SlackApiError) as e:
            await client.chat_postMessage(channel="C1", text="too soon")
        assert e.value.response.status_code == 429
        assert e.value.response.headers["Retry-After"] == "1"

        for i in range(3):
            await client.chat_update(channel="C1", ts=ts, text=f"v{i}")
        with pytest.raises(SlackApiError) as e:
            await client.chat_update(channel="C1", ts=ts, text="v3")
        assert e.value.response["error"] == "ratelimited"
        assert fake.rate_limited == 2
        assert [c.status for c in fake.calls_to("chat.update")] == [200, 200, 200, 429]

        await asyncio.sleep(0.55)
        await client.chat_update(channel="C1", ts=ts, text="v4")
        await client.chat_postMessage(channel="C1", text="later")
        assert fake.messages[("C1", ts)].versions == ["a", "v0", "v1", "v2", "v4"]


async def test_fail_next(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", times=2)
    fake.fail_next("chat.postMessage", error="channel_not_found", status=200, retry_after=None)
    for _ in range(2):
        with pytest.raises(SlackApiError) as e:
            await client.chat_postMessage(channel="C1", text="x")
        assert e.value.response.status_code == 429 and e.value.response.headers["Retry-After"] == "1"
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="C1", text="x")
    assert e.value.response["error"] == "channel_not_found"
    await client.chat_postMessage(channel="C1", text="x")
    assert [c.error for c in fake.calls_to("chat.postMessage")] == [
        "ratelimited",
        "ratelimited",
        "channel_not_found",
        None,
    ]
    assert fake.rate_limited == 0


async def test_streaming_start_append_stop(fake: FakeSlack, client: AsyncWebClient) -> None:
    root = fake.add_user_message("C1", "go")
    start = await client.chat_startStream(
        channel="C1",
        thread_ts=root,
        recipient_user_id="U1",
        recipient_team_id="T1",
        chunks=[{"type": "markdown_text", "text": "Hello"}],
    )
    ts = start["ts"]
    msg = fake.messages[("C1", ts)]
    assert msg.streaming
    with pytest.raises(SlackApiError) as e:
        await client.chat_update(channel="C1", ts=ts, text="nope")
    assert e.value.response["error"] == "streaming_state_conflict"
    await client.chat_appendStream(
        channel="C1",
        ts=ts,
        chunks=[
            {"type": "markdown_text", "text": " world"},
            {"type": "task_update", "id": "t1", "title": "Run tests", "status": "in_progress"},
        ],
    )
    await client.chat_appendStream(
        channel="C1",
        ts=ts,
        chunks=[{"type": "task_update", "id": "t1", "title": "Run tests", "status": "complete"}],
    )
    buttons = {
        "type": "feedback_buttons",
        "action_id": "feedback",
        "positive_button": {"text": {"type": "plain_text", "text": "Good"}, "value": "good"},
        "negative_button": {"text": {"type": "plain_text", "text": "Bad"}, "value": "bad"},
    }
    feedback = [{"type": "context_actions", "elements": [buttons]}]
    stop = await client.chat_stopStream(channel="C1", ts=ts, markdown_text="!", blocks=feedback)
    assert stop["ok"] and not msg.streaming
    assert fake.visible_text(msg) == "Hello world!"
    assert msg.tasks["t1"]["status"] == "complete"
    assert msg.blocks == feedback
    assert fake.bot_replies("C1", root) == [msg]
    with pytest.raises(SlackApiError) as e:
        await client.chat_appendStream(channel="C1", ts=ts, markdown_text="late")
    assert e.value.response["error"] == "message_not_in_streaming_state"
    await client.chat_update(channel="C1", ts=ts, markdown_text="rewritten")
    assert fake.visible_text(msg) == "rewritten"


async def test_sdk_chat_stream_helper_and_dm_without_recipient(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    streamer = await client.chat_stream(channel="D1", thread_ts="1700000000.000100", buffer_size=5)
    await streamer.append(markdown_text="abcdef")
    await streamer.append(markdown_text="ghijkl")
    await streamer.stop()
    assert streamer.ts is not None
    msg = fake.messages[("D1", streamer.ts)]
    assert fake.visible_text(msg) == "abcdefghijkl" and not msg.streaming
    assert [c.method for c in fake.calls] == ["chat.startStream", "chat.appendStream", "chat.stopStream"]


async def test_fail_stream_after(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_stream_after(1)
    ts = (await client.chat_startStream(channel="D1", thread_ts="1.0", markdown_text="a"))["ts"]
    await client.chat_appendStream(channel="D1", ts=ts, markdown_text="b")
    with pytest.raises(SlackApiError) as e:
        await client.chat_appendStream(channel="D1", ts=ts, markdown_text="c")
    assert e.value.response["error"] == "message_not_in_streaming_state"
    msg = fake.messages[("D1", ts)]
    assert not msg.streaming and msg.stream_error == "message_not_in_streaming_state"
    with pytest.raises(SlackApiError):
        await client.chat_stopStream(channel="D1", ts=ts)
    # The fallback a bridge would use: finish the dead stream with chat.update.
    await client.chat_update(channel="D1", ts=ts, markdown_text="abc")
    assert fake.visible_text(msg) == "abc"


async def test_other_methods(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert (await client.users_info(user="U7"))["user"]["id"] == "U7"
    assert (await client.conversations_info(channel="D3"))["channel"]["is_im"] is True
    assert (await client.api_call("emoji.list"))["ok"] is True


# --------------------------------------------------------------------------------------------- SlackEvents


class Receiver:
    """A tiny aiohttp app that records what SlackEvents delivers."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status, text="ack")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/slack/events", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/slack/events"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def signature_ok(headers: dict[str, str], body: bytes, secret: str = SECRET) -> bool:
    return SignatureVerifier(secret).is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


async def test_send_event_is_signed_and_enveloped() -> None:
    async with Receiver() as rx, SlackEvents(rx.url, SECRET) as events:
        status = await events.send(events.app_mention("C1", "U1", "<@UBOT> hi", "1700000000.000100"))
        await events.send(
            events.message("C1", "U1", "reply", "1700000000.000200", thread_ts="1700000000.000100"),
            retry_num=1,
        )
        await events.send(
            events.reaction("C1", "U1", "octagonal_sign", "1700000000.000100"), bad_signature=True
        )
    assert status == 200
    (h1, b1), (h2, b2), (h3, b3) = rx.requests
    assert signature_ok(h1, b1) and signature_ok(h2, b2)
    assert not signature_ok(h3, b3)
    body1, body2 = json.loads(b1), json.loads(b2)
    assert body1["type"] == "event_callback" and body1["event"]["type"] == "app_mention"
    assert body1["authorizations"][0]["user_id"] == "UBOT"
    assert body1["event_id"] != body2["event_id"]
    assert body2["event"]["thread_ts"] == "1700000000.000100" and "client_msg_id" in body2["event"]
    assert h2["X-Slack-Retry-Num"] == "1" and "X-Slack-Retry-Num" not in h1
    assert abs(int(h1["X-Slack-Request-Timestamp"]) - time.time()) < 5


async def test_command_and_block_action_are_signed_forms() -> None:
    async with (
        Receiver(status=200) as rx,
        SlackEvents(rx.url, SECRET, response_url_base="http://x/r/") as events,
    ):
        status, text = await events.command("status", channel="C5")
        assert (status, text) == (200, "ack")
        assert (
            await events.block_action("stop", "sess-1", channel="C5", message_ts="1.2", thread_ts="1.1")
            == 200
        )
    (h1, b1), (h2, b2) = rx.requests
    assert signature_ok(h1, b1) and signature_ok(h2, b2)
    assert h1["Content-Type"] == "application/x-www-form-urlencoded"
    fields = dict(urllib.parse.parse_qsl(b1.decode()))
    assert (fields["command"], fields["text"], fields["channel_id"]) == ("/qoder", "status", "C5")
    assert fields["response_url"].startswith("http://x/r/")
    payload = json.loads(dict(urllib.parse.parse_qsl(b2.decode()))["payload"])
    assert payload["type"] == "block_actions" and payload["actions"][0]["value"] == "sess-1"
    assert payload["container"]["thread_ts"] == "1.1" and payload["channel"]["id"] == "C5"


async def test_bad_signature_rejected_by_bolt(fake: FakeSlack) -> None:
    """End to end with a real AsyncApp: signed mention reaches the listener; a forged one gets 401."""
    from slack_bolt.async_app import AsyncApp

    app = AsyncApp(client=AsyncWebClient(token=fake.token, base_url=fake.api_url), signing_secret=SECRET)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Any) -> None:
        await say(text="pong", thread_ts=event["ts"])

    runner = web.AppRunner(app.web_app(path="/slack/events"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    try:
        async with SlackEvents(url, SECRET) as events:
            root = fake.add_user_message("C1", "<@UBOT> ping")
            assert await events.send(events.app_mention("C1", "U1", "<@UBOT> ping", root)) == 200
            replies = await fake.wait_for(lambda: fake.bot_replies("C1", root))
            assert fake.visible_text(replies[0]) == "pong"
            assert await events.send(events.app_mention("C1", "U1", "x", root), bad_signature=True) == 401
    finally:
        await runner.cleanup()


async def test_replies_are_oldest_first_bounded_by_latest_and_paged(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    root = fake.add_user_message("C1", "root")
    replies = [fake.add_user_message("C1", f"reply {i}", thread_ts=root) for i in range(5)]
    first = await client.conversations_replies(channel="C1", ts=root, latest=replies[3], limit=2)
    assert [m["text"] for m in first["messages"]] == ["root", "reply 0"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = await client.conversations_replies(
        channel="C1", ts=root, latest=replies[3], limit=2, cursor=cursor
    )
    assert [m["text"] for m in second["messages"]] == ["reply 1", "reply 2"], "latest is exclusive"
    assert second["has_more"] is False
    inclusive = await client.conversations_replies(channel="C1", ts=root, latest=replies[3], inclusive=True)
    assert inclusive["messages"][-1]["text"] == "reply 3"
