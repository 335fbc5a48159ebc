"""End to end: ``/qoder config`` shows and sets a channel's defaults, which new sessions there run; with
``ADMIN_USERS`` set only those people may change them."""

from __future__ import annotations

import pytest

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    bot_environment,
    eventually,
    finished,
    mention,
)
from tests.e2e.slash import slash


@pytest.fixture
def admin_users() -> str:
    return ""


@pytest.fixture
def env(slack: FakeSlack, qoder: FakeQoder, store_url: str, port: int, admin_users: str) -> dict[str, str]:
    extra = {"ADMIN_USERS": admin_users} if admin_users else {}
    return bot_environment(slack, qoder, store_url, port, **extra)


async def runtime_of_new_session(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, channel: str
) -> tuple[str, str]:
    """Mention the bot in ``channel``; the agent and environment of the session that starts."""
    known = set(qoder.sessions)
    ts = await mention(slack, events, f"task {len(known)}", channel=channel)
    await eventually(lambda: finished(slack, ts, f"You said: task {len(known)}", channel=channel))
    (new,) = [s for sid, s in qoder.sessions.items() if sid not in known]
    return str(new.agent["id"]), new.environment_id


async def test_anyone_sets_the_channels_defaults_and_new_sessions_run_them(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    shown = await slash(slack, events, "config")
    assert "agent `agent_test` — the workspace's default" in shown.text
    assert "environment `env_test` — the workspace's default" in shown.text
    assert "/qoder config agent &lt;id&gt;" in shown.text

    saved = await slash(slack, events, "config agent agent_chan", user="U2")
    assert "*Saved.*" in saved.text and "agent `agent_chan` — set for this channel by <@U2>" in saved.text
    await slash(slack, events, "config --env env_chan", user="U3")
    shown = await slash(slack, events, "config")
    assert "agent `agent_chan` — set for this channel by <@U3>" in shown.text
    assert "environment `env_chan` — set for this channel" in shown.text

    assert await runtime_of_new_session(slack, qoder, events, CHANNEL) == ("agent_chan", "env_chan")
    assert await runtime_of_new_session(slack, qoder, events, "C9") == ("agent_test", "env_test")
    await slash(slack, events, "new one-off --agent agent_once")
    one_off = await eventually(lambda: [s for s in qoder.sessions.values() if s.agent["id"] == "agent_once"])
    assert one_off[0].environment_id == "env_chan", "an option overrides only what it names"

    await slash(slack, events, "config env default")
    assert await runtime_of_new_session(slack, qoder, events, CHANNEL) == ("agent_chan", "env_test")
    reset = await slash(slack, events, "config reset")
    assert "agent `agent_test` — the workspace's default" in reset.text
    assert await runtime_of_new_session(slack, qoder, events, CHANNEL) == ("agent_test", "env_test")


@pytest.mark.parametrize("admin_users", ["UADMIN,UBOSS"])
async def test_only_admin_users_change_defaults_when_set(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    refused = await slash(slack, events, "config agent agent_mine", user="U1")
    assert "Only <@UADMIN> or <@UBOSS> can change this channel's defaults" in refused.text
    shown = await slash(slack, events, "config", user="U1")
    assert "agent `agent_test` — the workspace's default" in shown.text
    assert "_Only <@UADMIN> or <@UBOSS> can change them._" in shown.text
    assert await runtime_of_new_session(slack, qoder, events, CHANNEL) == ("agent_test", "env_test")

    saved = await slash(slack, events, "config agent agent_admin", user="UBOSS")
    assert "*Saved.*" in saved.text and "set for this channel by <@UBOSS>" in saved.text
    assert await runtime_of_new_session(slack, qoder, events, CHANNEL) == ("agent_admin", "env_test")
    assert "Only <@UADMIN>" in (await slash(slack, events, "config reset", user="U1")).text
    assert await runtime_of_new_session(slack, qoder, events, CHANNEL) == ("agent_admin", "env_test")
