"""End to end in Socket Mode: the real app connects to a fake Socket Mode server and acks the envelopes it gets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.config import Settings
from bot.main import StartupError, serve
from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    eventually,
    finished,
)
from tests.fakes.socket_mode import FakeSocketMode

APP_TOKEN = "xapp-1-test"


@pytest.fixture
async def socket(slack: FakeSlack) -> AsyncIterator[FakeSocketMode]:
    fake = FakeSocketMode()
    await fake.start()
    slack.socket_url = fake.url
    yield fake
    await fake.stop()


@pytest.fixture
async def socket_bot(env: dict[str, str], socket: FakeSocketMode) -> AsyncIterator[InProcessBot]:
    settings = {k: v for k, v in env.items() if k != "SLACK_SIGNING_SECRET"}
    running = InProcessBot({**settings, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_MODE": "socket"})
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def build() -> AsyncIterator[SlackEvents]:
    """Only its payload builders are used; nothing is posted over HTTP."""
    builder = SlackEvents("http://127.0.0.1:9/unused", "unused")
    yield builder
    await builder.aclose()


async def socket_mention(
    slack: FakeSlack, socket: FakeSocketMode, build: SlackEvents, text: str
) -> tuple[str, dict[str, Any]]:
    """A person posts ``<@UBOT> text``; Slack delivers app_mention over the socket. Returns (ts, the envelope's payload)."""
    ts = slack.add_user_message(CHANNEL, f"<@UBOT> {text}", user="U1")
    payload = build.envelope(build.app_mention(CHANNEL, "U1", f"<@UBOT> {text}", ts))
    ack = await socket.wait_for_ack(await socket.send_event(payload))
    assert "payload" not in ack, "events are acked without a payload"
    return ts, payload


def command_fields(text: str, *, channel: str = CHANNEL, user: str = "U1") -> dict[str, str]:
    """The fields of a ``/qoder`` slash command, as Slack puts them in a ``slash_commands`` envelope."""
    return {
        "token": "verification-token",
        "team_id": "T1",
        "team_domain": "fake-workspace",
        "channel_id": channel,
        "channel_name": f"channel-{channel.lower()}",
        "user_id": user,
        "user_name": f"user-{user.lower()}",
        "command": "/qoder",
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/response/commands/T1/1",
        "trigger_id": "1.trigger",
    }


async def test_mention_over_the_socket_is_acked_and_answered(
    socket_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, socket: FakeSocketMode, build: SlackEvents
) -> None:
    assert socket.connections == 1
    assert [c.ok for c in slack.calls_to("apps.connections.open")] == [True]
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{socket_bot.url}/healthz")).status_code == 200
        assert (await client.post(f"{socket_bot.url}/slack/events", json={})).status_code == 404

    ts, _ = await socket_mention(slack, socket, build, "hello over the socket")
    await eventually(lambda: finished(slack, ts, "You said: hello over the socket"), message="no answer")
    assert qoder.user_messages() == ["hello over the socket"]
    assert len(slack.bot_replies(CHANNEL, ts)) == 1


async def test_redelivered_event_reaches_the_agent_once(
    socket_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, socket: FakeSocketMode, build: SlackEvents
) -> None:
    ts, payload = await socket_mention(slack, socket, build, "only once please")
    retry = await socket.send_event(payload, retry_attempt=1)
    await socket.wait_for_ack(retry)
    await eventually(lambda: finished(slack, ts, "You said: only once please"))

    # A follow-up in the same thread: had the redelivery been taken as a new message, it would come first.
    follow_up = slack.add_user_message(CHANNEL, "canary", user="U1", thread_ts=ts)
    event = build.message(CHANNEL, "U1", "canary", follow_up, thread_ts=ts)
    await socket.wait_for_ack(await socket.send_event(build.envelope(event)))
    await eventually(lambda: finished(slack, ts, "You said: canary"), message="follow-up never answered")
    assert qoder.user_messages() == ["only once please", "canary"]
    assert len(qoder.sessions) == 1


async def test_slash_command_help_is_answered_in_the_ack(
    socket_bot: InProcessBot, socket: FakeSocketMode
) -> None:
    ack = await socket.wait_for_ack(await socket.send_command(command_fields("help")))
    text = ack.get("payload", {}).get("text", "")
    assert "/qoder new" in text and "octagonal_sign" in text, ack


async def test_reconnects_when_slack_asks_and_keeps_answering(
    socket_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, socket: FakeSocketMode, build: SlackEvents
) -> None:
    await socket.send_disconnect("refresh_requested")
    await socket.wait_connected(2)
    await eventually(lambda: socket.open_connections == 1, message="the old connection was not closed")

    ts, _ = await socket_mention(slack, socket, build, "still there?")
    await eventually(
        lambda: finished(slack, ts, "You said: still there?"), message="no answer after reconnect"
    )


async def test_refused_app_token_stops_startup_with_a_clear_error(
    env: dict[str, str], slack: FakeSlack
) -> None:
    assert slack.socket_url is None  # apps.connections.open answers invalid_auth
    settings = Settings(**{**env, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_MODE": "socket"})  # type: ignore[arg-type]
    task = asyncio.create_task(serve(settings, asyncio.Event(), handle_signals=False))
    try:
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "startup neither failed nor succeeded while Slack kept refusing the app token"
        with pytest.raises(StartupError, match=r"SLACK_APP_TOKEN: Slack refused it \(invalid_auth\)"):
            task.result()
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
