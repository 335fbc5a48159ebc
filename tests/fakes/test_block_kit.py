"""The Block Kit rules the fake Slack and the render tests share: each refuses what Slack refuses, and
takes what sits exactly at a limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.block_kit import (
    chunk_refusal,
    house_problems,
    message_refusal,
    validate_blocks,
    validate_view,
)
from tests.fakes.slack_api import FakeSlack


def section(text: str = "x", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def context(count: int) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * count}


def button(action_id: str = "a", text: str = "Go", value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def markdown(size: int) -> dict[str, Any]:
    return {"type": "markdown", "text": "m" * size}


# Each pair: the blocks at a limit (accepted) and just past it (refused with the error).
LIMITS = [
    ([{"type": "divider"}] * 50, [{"type": "divider"}] * 51, "invalid_blocks"),
    ([section(block_id="a"), section(block_id="b")], [section(block_id="a"), section(block_id="a")], "invalid_blocks"),
    ([actions(button("a")), actions(button("a"))], [actions(button("a"), button("a"))], "invalid_blocks"),
    ([actions(button(text="t" * 75))], [actions(button(text="t" * 76))], "invalid_blocks"),
    ([actions(button(value="v" * 2000))], [actions(button(value="v" * 2001))], "invalid_blocks"),
    ([markdown(6000), markdown(6000)], [markdown(6000), markdown(6001)], "msg_blocks_too_long"),
    ([section("s" * 3000)], [section("s" * 3001)], "invalid_blocks"),
    ([context(10)], [context(11)], "invalid_blocks"),
    ([context(1)], [context(0)], "invalid_blocks"),
    ([actions(*(button(f"a{n}") for n in range(25)))], [actions(*(button(f"a{n}") for n in range(26)))], "invalid_blocks"),
    ([section("x")], [section("")], "invalid_blocks"),
    ([section("x")], [section("x", colour="red")], "invalid_blocks"),  # a field Block Kit does not know
    ([markdown(1)], [markdown(0)], "invalid_blocks"),
    ([markdown(1)], [{"type": "fancy", "text": "x"}], "invalid_blocks"),
    (
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}],
        [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
        "invalid_blocks",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("ok", "bad", "error"), LIMITS)
def test_each_block_rule_takes_its_limit_and_refuses_past_it(
    ok: list[dict[str, Any]], bad: list[dict[str, Any]], error: str
) -> None:
    assert message_refusal({"text": "t", "blocks": ok}) is None
    refusal = message_refusal({"text": "t", "blocks": bad})
    assert refusal is not None and refusal.error == error
    if error == "invalid_blocks":
        assert refusal.messages and all(
            m.startswith("[ERROR] ") and "[json-pointer:/blocks" in m for m in refusal.messages
        )


def test_a_block_the_model_refuses_is_refused_wherever_it_stands() -> None:
    """The model's verdict on a block is remembered; its pointer is still the block's own."""
    unknown = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}, "bogus": 1}
    unparsable = {"type": "section", "text": {"type": "mrkdwn"}}
    for _ in range(2):
        problems = validate_blocks([unknown, {"type": "divider"}, dict(unknown), unparsable], "message")
        assert [p.rsplit("[json-pointer:", 1)[1] for p in problems] == [
            "/blocks/0]",
            "/blocks/2]",
            "/blocks/3]",
            "/blocks/3/text/text]",
        ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"text": "t", "markdown_text": "m"}, "markdown_text_conflict"),
        ({"blocks": [section()], "markdown_text": "m"}, "markdown_text_conflict"),
        ({}, "no_text"),
        ({"text": "t", "blocks": {"type": "section"}}, "invalid_blocks_format"),
        ({"markdown_text": "m" * 12_001}, "msg_too_long"),
        ({"text": "t", "attachments": "nope"}, "invalid_attachments"),
    ],
)
def test_message_content_refusals(args: dict[str, Any], error: str) -> None:
    refusal = message_refusal(args)
    assert refusal is not None and refusal.error == error


def test_a_long_text_is_refused_by_an_edit_only() -> None:
    assert message_refusal({"text": "t" * 4001}) is None
    refusal = message_refusal({"text": "t" * 4001}, update=True)
    assert refusal is not None and refusal.error == "msg_too_long"
    assert message_refusal({"text": "t" * 4000}, update=True) is None


def test_the_bot_promises_a_text_beside_its_blocks() -> None:
    assert house_problems({"blocks": [section()]}) != []
    assert house_problems({"text": "  ", "blocks": [section()]}) != []
    assert house_problems({"text": "fallback", "blocks": [section()]}) == []


@pytest.mark.parametrize(
    "chunks",
    [
        "not a list",
        [{"type": "sparkles"}],
        [{"type": "task_update", "id": "", "title": "t", "status": "complete"}],
        [{"type": "task_update", "id": "t1", "title": "t", "status": "done"}],
        [{"type": "markdown_text", "text": ""}],
        [{"type": "blocks", "blocks": [section("")]}],
    ],
)
def test_stream_chunks_slack_refuses(chunks: Any) -> None:
    refusal = chunk_refusal(chunks)
    assert refusal is not None and refusal.error == "invalid_chunks"


def test_stream_chunks_slack_takes_and_the_markdown_limit() -> None:
    good = [
        {"type": "markdown_text", "text": "m" * 6000},
        {"type": "task_update", "id": "t1", "title": "Run", "status": "in_progress", "output": "ok"},
        {"type": "blocks", "blocks": [section()]},
        {"type": "markdown_text", "text": "m" * 6000},
    ]
    assert chunk_refusal(good) is None
    refusal = chunk_refusal([*good, {"type": "markdown_text", "text": "m"}])
    assert refusal is not None and refusal.error == "msg_too_long"


def test_views_allow_a_hundred_blocks_and_no_markdown_blocks() -> None:
    home: dict[str, Any] = {"type": "home", "blocks": [section()] * 100}
    assert validate_view(home, "home") == []
    assert validate_view({**home, "blocks": [section()] * 101}, "home") != []
    assert validate_view({"type": "home", "blocks": [markdown(5)]}, "home") != []


# --- the fake refuses with the same rules --------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeSlack, AsyncWebClient]]:
    async with FakeSlack() as fake:
        yield fake, AsyncWebClient(token=fake.token, base_url=fake.api_url)


async def error_of(call: Any) -> tuple[str, list[str]]:
    with pytest.raises(SlackApiError) as raised:
        await call
    response = raised.value.response
    return str(response["error"]), list((response.get("response_metadata") or {}).get("messages", []))


async def test_the_fake_refuses_a_duplicate_action_id_saying_where(
    client: tuple[FakeSlack, AsyncWebClient],
) -> None:
    fake, web = client
    blocks = [actions(button("approve"), button("approve"))]
    error, messages = await error_of(web.chat_postMessage(channel="C1", text="t", blocks=blocks))
    assert error == "invalid_blocks"
    assert messages == [
        "[ERROR] action_id must be unique within the block [json-pointer:/blocks/0/elements/1/action_id]"
    ]
    assert not any(m.bot_id for m in fake.messages.values())


async def test_the_fake_refuses_bad_chunks(client: tuple[FakeSlack, AsyncWebClient]) -> None:
    fake, web = client
    ts = (await web.chat_startStream(channel="D1", thread_ts="1.0", markdown_text="a"))["ts"]
    chunk = {"type": "task_update", "id": "t1", "title": "Run", "status": "done"}
    error, messages = await error_of(web.chat_appendStream(channel="D1", ts=ts, chunks=[chunk]))
    assert error == "invalid_chunks" and messages
    assert fake.messages[("D1", ts)].tasks == {}


async def test_refuse_blocks_refuses_valid_blocks_n_times_and_lets_text_through(
    client: tuple[FakeSlack, AsyncWebClient],
) -> None:
    fake, web = client
    fake.refuse_blocks(2)
    first = web.chat_postMessage(channel="C1", text="t", blocks=[section("hello")])
    assert (await error_of(first))[0] == "invalid_blocks"
    posted = await web.chat_postMessage(channel="C1", text="plain")  # no blocks: not refused, not counted
    second = web.chat_update(channel="C1", ts=posted["ts"], text="t", blocks=[section("hello")])
    assert (await error_of(second))[0] == "invalid_blocks"
    assert fake.visible_text(fake.messages[("C1", posted["ts"])]) == "plain"
    await web.chat_update(channel="C1", ts=posted["ts"], text="t", blocks=[section("hello")])
    assert fake.visible_text(fake.messages[("C1", posted["ts"])]) == "hello"
    assert (await web.chat_postMessage(channel="C1", text="t", blocks=[section("again")]))["ok"]
