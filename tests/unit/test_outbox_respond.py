"""Answers through response URLs: posted as Slack takes them, refusals raised by the poster and only
logged by the outbox, which drains them on shutdown like its other background calls."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest

from bot.outbox import Outbox, ResponseUrlPoster, SlackError
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_responses import response_path


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack


async def unused_transport(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    raise AssertionError(f"no Web API call expected, got {method}")


async def test_the_poster_posts_json_and_raises_what_slack_refuses(fake: FakeSlack) -> None:
    url = fake.response_url_base + response_path("commands", "T1", 1)
    async with aiohttp.ClientSession() as session:
        poster = ResponseUrlPoster(session, timeout=2.0)
        for n in range(5):
            await poster(url, {"response_type": "ephemeral", "text": f"answer {n}"})
        with pytest.raises(SlackError) as used:
            await poster(url, {"text": "one too many"})
        with pytest.raises(SlackError) as empty:
            await poster(fake.response_url_base + response_path("commands", "T1", 2), {"text": ""})
        with pytest.raises(SlackError) as unreachable:
            await poster("http://127.0.0.1:9/response/x", {"text": "nobody there"})
    assert [r.text for r in fake.responses_to(url)] == [f"answer {n}" for n in range(5)]
    assert (used.value.status, used.value.code) == (404, "used_url")
    assert (empty.value.status, empty.value.code) == (400, "no_text")
    assert unreachable.value.status == 0 and unreachable.value.method == "response_url"


async def test_the_outbox_answers_in_the_background_and_only_logs_refusals(
    fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    url = fake.response_url_base + response_path("commands", "T1", 3)
    async with aiohttp.ClientSession() as session:
        outbox = Outbox(unused_transport, responder=ResponseUrlPoster(session))
        outbox.respond("T1", url, {"text": "hello"})
        outbox.respond("T1", url, {"text": ""})
        with caplog.at_level(logging.WARNING, logger="bot.outbox"):
            await outbox.drain(5.0)
        await outbox.aclose()
    assert [r.text for r in fake.responses_to(url)] == ["hello"]
    assert "could not answer through a response_url: response_url: no_text" in caplog.text
    assert url not in caplog.text, "response URLs are not logged"


def test_an_outbox_without_a_responder_says_so() -> None:
    with pytest.raises(RuntimeError, match="without a responder"):
        Outbox(unused_transport).respond("T1", "http://x", {"text": "hi"})
