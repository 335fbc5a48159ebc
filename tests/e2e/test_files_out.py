"""Files out: a file the agent delivers (``agent.artifact_delivered``) is uploaded into the thread, once,
titled with its original name; the reply's timeline lists it; a file that cannot be delivered gets a short
note naming it, and the turn carries on."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    eventually,
    finished,
    mention,
    thread_text,
)
from tests.fakes.qoder_api import Artifact, Sleep, Text
from tests.fakes.slack_uploads import UploadedFile

REPORT = ("# CI report\n\n" + "all green\n" * 203 + "done\n").encode()  # 2048 bytes: "2 KB"


def shared(slack: FakeSlack, ts: str) -> list[UploadedFile]:
    return slack.uploads.shared(CHANNEL, ts)


async def test_a_delivered_file_is_uploaded_into_the_thread_with_its_name_and_bytes(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    assert len(REPORT) == 2048
    qoder.script(
        [
            Text("Writing the report.", chunks=1),
            Artifact("ci-report.md", REPORT, content_type="text/markdown"),
            Text("The report is attached."),
        ]
    )
    ts = await mention(slack, events, "run CI and send me the report")
    await eventually(
        lambda: finished(slack, ts, "The report is attached."), message=thread_text(slack, CHANNEL, ts)
    )
    (uploaded,) = await eventually(lambda: shared(slack, ts), message="no file reached the thread")
    assert (uploaded.title, uploaded.filename, uploaded.data) == ("ci-report.md", "ci-report.md", REPORT)
    (message,) = [m for m in slack.thread(CHANNEL, ts) if m.files]
    assert message.thread_ts == ts and message.bot_id == slack.bot_id
    assert message.files is not None and message.files[0]["id"] == uploaded.id
    assert ":paperclip: ci-report.md (2 KB)" in thread_text(slack, CHANNEL, ts), "the timeline lists the file"
    assert len(qoder.files.downloads) == 1, "fetched once, through the presigned link (without credentials)"


async def test_a_file_that_cannot_be_downloaded_gets_a_note_and_the_answer_still_finishes(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Artifact("secret.bin", b"\x00\x01", downloadable=False), Text("All done here.")])
    ts = await mention(slack, events, "make the binary")
    await eventually(lambda: finished(slack, ts, "All done here."), message=thread_text(slack, CHANNEL, ts))
    note = await eventually(
        lambda: [t for t in thread_text(slack, CHANNEL, ts).splitlines() if "couldn't deliver" in t],
        message=thread_text(slack, CHANNEL, ts),
    )
    assert "secret.bin" in note[0] and "does not let it be downloaded" in note[0]
    assert slack.calls_to("files.getUploadURLExternal") == [] and shared(slack, ts) == []
    assert qoder.files.downloads == []


async def test_a_refused_upload_is_explained(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    slack.fail_next(
        "files.completeUploadExternal", error="file_uploads_disabled", status=200, retry_after=None
    )
    qoder.script([Artifact("log.txt", b"lines\n"), Text("Sent the log.")])
    ts = await mention(slack, events, "send the log")
    await eventually(lambda: finished(slack, ts, "Sent the log."))
    await eventually(
        lambda: (
            "log.txt: Slack refused the upload (file_uploads_disabled)" in thread_text(slack, CHANNEL, ts)
        ),
        message=thread_text(slack, CHANNEL, ts),
    )
    assert shared(slack, ts) == []


async def test_a_file_over_the_limit_is_not_downloaded_and_gets_a_note(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str]
) -> None:
    small = InProcessBot({**env, "MAX_FILE_BYTES": "1024"})
    await small.start()
    try:
        qoder.script([Artifact("ci-report.md", REPORT), Text("Too big, sorry.")])
        ts = await mention(slack, events, "the big report")
        await eventually(lambda: finished(slack, ts, "Too big, sorry."))
        await eventually(
            lambda: "ci-report.md: it is larger than 1 KB" in thread_text(slack, CHANNEL, ts),
            message=thread_text(slack, CHANNEL, ts),
        )
    finally:
        await small.stop()
    assert qoder.files.downloads == [] and shared(slack, ts) == []


async def test_a_replayed_delivery_after_a_restart_uploads_nothing_again(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str], store_url: str
) -> None:
    qoder.script([Artifact("notes.txt", b"first notes\n"), Sleep(2.0), Text("Finished the notes.")])
    first = InProcessBot(env)
    await first.start()
    try:
        ts = await mention(slack, events, "take notes")
        await eventually(lambda: shared(slack, ts), message="no file reached the thread")
    finally:
        await first.stop()
    # As if the bot had died before storing how far it got: the stream replays the delivery.
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
        rewound = db.execute("UPDATE turns SET cursor = start_event_id WHERE active = 1").rowcount
    assert rewound == 1, "the turn was still running"

    second = InProcessBot(env)
    await second.start()
    try:
        await eventually(
            lambda: finished(slack, ts, "Finished the notes."),
            timeout=15,
            message=thread_text(slack, CHANNEL, ts),
        )
        assert any(c.last_event_id for c in qoder.stream_connects), "the stream was resumed from a cursor"
    finally:
        await second.stop()
    assert [f.data for f in shared(slack, ts)] == [b"first notes\n"]
    assert len(slack.calls_to("files.getUploadURLExternal")) == 1 and len(qoder.files.downloads) == 1
    assert thread_text(slack, CHANNEL, ts).count(":paperclip: notes.txt") == 1


@pytest.fixture
async def native_bot(env: dict[str, str]) -> AsyncIterator[InProcessBot]:
    running = InProcessBot({**env, "STREAM_MODE": "native"})
    await running.start()
    yield running
    await running.stop()


async def test_a_native_stream_shows_the_file_as_a_card_and_it_is_uploaded(
    native_bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script(
        [Artifact("ci-report.md", REPORT, content_type="text/markdown"), Text("Here is the report.")]
    )
    ts = await mention(slack, events, "report please")
    await eventually(
        lambda: (
            "Here is the report." in thread_text(slack, CHANNEL, ts)
            and not any(m.streaming for m in slack.bot_replies(CHANNEL, ts))
        ),
        timeout=15,
    )
    (uploaded,) = await eventually(lambda: shared(slack, ts))
    assert (uploaded.title, uploaded.data) == ("ci-report.md", REPORT)
    titles = [str(t.get("title")) for m in slack.bot_replies(CHANNEL, ts) for t in m.tasks.values()]
    assert any("ci-report.md (2 KB)" in title for title in titles), titles
