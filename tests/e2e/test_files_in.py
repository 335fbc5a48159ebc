"""End to end: files shared with a message reach the agent — images and PDFs as base64 blocks, text as a text
document, anything else uploaded to Qoder's Files API and mounted into the session — and a file that can't be
passed on gets a note in the thread while the message still goes."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    eventually,
    finished,
    mention,
    reply,
    thread_text,
)
from tests.fakes.qoder_api import Sleep, Text

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def user_contents(qoder: FakeQoder) -> list[list[dict[str, Any]]]:
    """The content blocks of every ``user.message`` the fake Qoder accepted, in order."""
    return [
        list(event["content"])
        for session in qoder.sessions.values()
        for event in session.events
        if event["type"] == "user.message"
    ]


def text_of(content: list[dict[str, Any]]) -> str:
    return "".join(block.get("text", "") for block in content if block["type"] == "text")


@asynccontextmanager
async def running(env: dict[str, str], **extra: str) -> AsyncIterator[InProcessBot]:
    bot = InProcessBot({**env, **extra})
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def test_an_image_in_a_thread_reply_reaches_the_agent_as_an_image_block(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    root = await mention(slack, events, "look at the build")
    await eventually(lambda: finished(slack, root, "You said: look at the build"))
    shot = slack.files.add("screen shot.png", "image/png", PNG)
    await reply(slack, events, root, "this is what I see", files=[shot])

    await eventually(lambda: len(user_contents(qoder)) == 2, message="the reply did not reach Qoder")
    content = user_contents(qoder)[1]
    assert content[0]["type"] == "text"
    assert text_of(content).startswith("this is what I see\n\n")
    assert "screen shot.png" in text_of(content)
    assert content[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()},
    }
    assert slack.files.downloads == [shot["id"]]


async def test_a_pdf_goes_as_a_base64_document_and_text_as_a_text_document(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    report = slack.files.add("report.pdf", "application/pdf", PDF)
    notes = slack.files.add("notes.md", "text/markdown", "# Notes\n\nCI is réd.\n".encode())
    root = await mention(slack, events, "summarise these", files=[report, notes])

    await eventually(lambda: user_contents(qoder), message="the mention did not reach Qoder")
    content = user_contents(qoder)[0]
    assert [block["type"] for block in content] == ["text", "document", "document"]
    assert content[1] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(PDF).decode()},
        "title": "report.pdf",
    }
    assert content[2] == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "# Notes\n\nCI is réd.\n"},
        "title": "notes.md",
    }
    assert "report.pdf" in text_of(content) and "notes.md" in text_of(content)
    await eventually(lambda: finished(slack, root, "You said: summarise these"))


async def test_another_type_is_uploaded_and_mounted_into_the_session(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    root = await mention(slack, events, "hello")
    await eventually(lambda: finished(slack, root, "You said: hello"))
    archive = slack.files.add("logs.zip", "application/zip", b"PK\x03\x04 zipped logs")
    await reply(slack, events, root, "the logs", files=[archive])

    await eventually(lambda: len(user_contents(qoder)) == 2, message="the reply did not reach Qoder")
    (session_id,) = qoder.sessions
    (uploaded,) = qoder.files.files.values()
    assert (uploaded.filename, uploaded.mime_type, uploaded.data) == (
        "logs.zip",
        "application/zip",
        b"PK\x03\x04 zipped logs",
    )
    (resource,) = qoder.files.resources[session_id]
    assert resource["file_id"] == uploaded.id
    content = user_contents(qoder)[1]
    assert [block["type"] for block in content] == ["text"]
    assert f"logs.zip → {resource['mount_path']}" in text_of(content)
    assert text_of(content).startswith("the logs\n\n")


async def test_an_oversize_file_gets_a_note_and_the_text_still_goes(
    env: dict[str, str], slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    async with running(env, MAX_FILE_BYTES="1000"):
        big = slack.files.add("dump.bin", "application/octet-stream", b"x" * 5000)
        # Slack's size says it fits, the download says otherwise: reading stops at the limit.
        liar = slack.files.add("liar.png", "image/png", PNG, size=10)
        root = await mention(slack, events, "why is it slow?", files=[big, liar])

        await eventually(lambda: user_contents(qoder), message="the text did not reach Qoder")
        content = user_contents(qoder)[0]
        assert [block["type"] for block in content] == ["text"]
        assert text_of(content).startswith("why is it slow?")
        assert "not passed on: dump.bin" in text_of(content)
        assert "not passed on: liar.png" in text_of(content)
        await eventually(lambda: "dump.bin" in thread_text(slack, CHANNEL, root))
        await eventually(lambda: "liar.png" in thread_text(slack, CHANNEL, root))
        shown = thread_text(slack, CHANNEL, root)
        assert "dump.bin to the agent: it is 4.9 KB, and the limit is 1000 bytes (MAX_FILE_BYTES)" in shown
        assert "liar.png to the agent: it is larger than the limit of 1000 bytes" in shown
        assert big["id"] not in slack.files.downloads  # refused on Slack's figure, not fetched
        assert qoder.files.files == {}
        await eventually(lambda: finished(slack, root, "You said: why is it slow?"))


async def test_a_file_slack_will_not_hand_over_is_noticed(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.scopes = (slack.scopes or frozenset()) - {"files:read"}
    shot = slack.files.add("shot.png", "image/png", PNG)
    doc = slack.files.add("plan.gdoc", "application/vnd.google-apps.document", b"", mode="external")
    root = await mention(slack, events, "have a look", files=[shot, doc])

    await eventually(lambda: user_contents(qoder), message="the text did not reach Qoder")
    content = user_contents(qoder)[0]
    assert [block["type"] for block in content] == ["text"]  # not the sign-in page as an image
    assert slack.files.refused == [shot["id"]]
    await eventually(lambda: "plan.gdoc" in thread_text(slack, CHANNEL, root))
    shown = thread_text(slack, CHANNEL, root)
    assert "shot.png" in shown and "files:read" in shown
    assert "stored outside Slack" in shown


async def test_files_without_text_still_reach_the_agent_in_a_new_session(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    data = slack.files.add("data.parquet", "application/octet-stream", b"PAR1\x00\x01")
    shot = slack.files.add("chart.webp", "image/webp", b"RIFF\x00\x00WEBP")
    ts = slack.add_user_message("D1", "", user="U1", files=[data, shot])
    event = events.message("D1", "U1", "", ts, channel_type="im", subtype="file_share", files=[data, shot])
    assert await events.send(event) == 200

    await eventually(lambda: user_contents(qoder), message="the files did not reach Qoder")
    (session_id,) = qoder.sessions
    (resource,) = qoder.files.resources[session_id]  # mounted into the session the message created
    content = user_contents(qoder)[0]
    assert [block["type"] for block in content] == ["text", "image"]
    assert content[1]["source"]["media_type"] == "image/webp"
    assert f"data.parquet → {resource['mount_path']}" in text_of(content)
    assert "chart.webp" in text_of(content)
    assert "What should the agent do?" not in thread_text(slack, "D1", ts)


async def test_files_with_an_outcome_are_named_in_a_note(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    spec = slack.files.add("spec.md", "text/markdown", b"# Spec\n")
    root = await mention(slack, events, "!outcome the spec is implemented", files=[spec])
    await eventually(lambda: qoder.outcomes(), message="the outcome did not reach Qoder")
    await eventually(lambda: "didn't get spec.md" in thread_text(slack, CHANNEL, root))
    assert user_contents(qoder) == []


async def test_a_file_queued_behind_a_turn_is_fetched_when_its_turn_comes(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("slow start", chunks=1), Sleep(1.5), Text("first answer")])
    root = await mention(slack, events, "first")
    await eventually(lambda: "slow start" in thread_text(slack, CHANNEL, root))
    shot = slack.files.add("later.gif", "image/gif", b"GIF89a-later")
    second = await reply(slack, events, root, "and this", files=[shot])

    await eventually(lambda: "hourglass_flowing_sand" in slack.messages[(CHANNEL, second)].reactions)
    assert slack.files.downloads == []  # nothing is fetched while the message waits
    await eventually(lambda: len(user_contents(qoder)) == 2, timeout=15)
    content = user_contents(qoder)[1]
    assert content[1]["source"] == {
        "type": "base64",
        "media_type": "image/gif",
        "data": base64.b64encode(b"GIF89a-later").decode(),
    }
    assert slack.files.downloads == [shot["id"]]
