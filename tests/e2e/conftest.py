"""Fixtures: the two fakes, a signed-event sender, and the real bot wired to them. The fake Slack grants
exactly the scopes ``manifest.yml`` asks for, so a call needing another one fails as it would in Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.harness import (
    SIGNING_SECRET,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    bot_environment,
    free_port,
)
from tests.fakes.slack_scopes import manifest_scopes


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(scopes=manifest_scopes())
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def qoder() -> AsyncIterator[FakeQoder]:
    fake = FakeQoder(heartbeat_interval=0.2, step_delay=0.01)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def env(slack: FakeSlack, qoder: FakeQoder, store_url: str, port: int) -> dict[str, str]:
    return bot_environment(slack, qoder, store_url, port)


@pytest.fixture
async def bot(env: dict[str, str]) -> AsyncIterator[InProcessBot]:
    running = InProcessBot(env)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def events(port: int, slack: FakeSlack) -> AsyncIterator[SlackEvents]:
    sender = SlackEvents(
        f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, response_url_base=slack.response_url_base
    )
    yield sender
    await sender.aclose()
