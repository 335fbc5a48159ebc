"""What ``python app.py`` writes to its log: JSON lines with the ids of the work they describe, and never a
secret, neither there nor in anything it sends to Slack, however the turns go."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import (
    CHANNEL,
    REPO,
    FakeQoder,
    FakeSlack,
    SlackEvents,
    SubprocessBot,
    bot_environment,
    eventually,
    finished,
    free_port,
    mention,
    reply,
    thread_text,
)
from tests.fakes.qoder_api import Error, Text, Tool


def parse_lines(output: str) -> list[dict[str, Any]]:
    """Every line of ``output`` as a JSON object (the test fails on any line that is not one)."""
    records = []
    for number, line in enumerate(output.splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"log line {number} is not JSON: {line!r}")
            assert isinstance(record, dict), line
            records.append(record)
    return records


async def test_json_logs_carry_the_ids_of_the_thread_session_and_turn(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str]
) -> None:
    bot = SubprocessBot({**env, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"})
    await bot.start()
    try:
        first = await mention(slack, events, "first thread")
        second = await mention(slack, events, "second thread")
        await eventually(lambda: finished(slack, first, "You said: first thread"))
        await eventually(lambda: finished(slack, second, "You said: second thread"))
        await eventually(lambda: "white_check_mark" in slack.messages[(CHANNEL, second)].reactions)
    finally:
        code, _ = await bot.terminate()
    assert code == 0
    records = parse_lines(bot.output())
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    ready = [r["message"] for r in records if r["message"].startswith("ready") and r["level"] == "INFO"]
    assert ready, records
    # app.py runs on uvloop where it is installed (it is a dependency on Linux and macOS)
    assert "uvloop event loop" in ready[0], ready[0]

    sessions = {s.metadata["slack_thread_ts"]: s.id for s in qoder.sessions.values()}
    turns: set[str] = set()
    for root in (first, second):
        ended = [r for r in records if r["message"] == "turn ended: done" and r.get("thread") == root]
        assert len(ended) == 1, f"one end of turn logged for thread {root}: {records}"
        record = ended[0]
        assert record["team"] == "T1" and record["channel"] == CHANNEL
        assert record["session"] == sessions[root], "a thread's lines name its own session"
        assert record["turn"], record
        turns.add(record["turn"])
        created = [r for r in records if r["message"].startswith(f"session {sessions[root]} created")]
        assert created and created[0].get("thread") == root and created[0].get("channel") == CHANNEL
    assert len(turns) == 2, "each turn has its own id"


@pytest.fixture
async def secret_fakes() -> AsyncIterator[tuple[FakeSlack, FakeQoder]]:
    slack = FakeSlack(token=f"xoxb-{secrets.token_hex(16)}")
    qoder = FakeQoder(token=f"pt-{secrets.token_hex(16)}", heartbeat_interval=0.2, step_delay=0.01)
    await slack.start()
    await qoder.start()
    yield slack, qoder
    await qoder.stop()
    await slack.stop()


async def test_no_secret_reaches_the_log_or_slack(
    secret_fakes: tuple[FakeSlack, FakeQoder], tmp_path: Path
) -> None:
    slack, qoder = secret_fakes
    signing_secret = secrets.token_hex(16)
    app_token = f"xapp-1-{secrets.token_hex(16)}"
    port = free_port()
    env = bot_environment(
        slack,
        qoder,
        f"sqlite:///{tmp_path / 'bot.db'}",
        port,
        SLACK_SIGNING_SECRET=signing_secret,
        SLACK_APP_TOKEN=app_token,
        SLACK_MODE="http",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
    )
    every_secret = [slack.token, app_token, signing_secret, qoder.token]
    events = SlackEvents(f"http://127.0.0.1:{port}/slack/events", signing_secret)
    bot = SubprocessBot(env)
    await bot.start()
    try:
        qoder.script(
            [Tool("Bash", {"command": "env"}, result="ok"), Text("All good.", chunks=3)],
            [Text("partial", chunks=1), Error("the model gave up", retry_status="exhausted")],
        )
        ts = await mention(slack, events, "run it")
        await eventually(lambda: finished(slack, ts, "All good."), message=thread_text(slack, CHANNEL, ts))

        await reply(slack, events, ts, "again")  # fails mid-turn
        await eventually(
            lambda: (
                "partial" in thread_text(slack, CHANNEL, ts)
                and "Working…" not in thread_text(slack, CHANNEL, ts)
            )
        )

        qoder.fail_next("POST", "/events", 401, error_type="authentication_error", message="Invalid token.")
        await reply(slack, events, ts, "once more")
        await eventually(lambda: "QODER_PAT" in thread_text(slack, CHANNEL, ts))

        # A server that quotes credentials back in its error: the bot passes the sentence on, not the secret.
        quoted = f"bad request with {qoder.token} and {slack.token}"
        qoder.fail_next("POST", "/sessions", 400, error_type="invalid_request_error", message=quoted)
        slack.fail_next("chat.update", error="ratelimited", status=429, retry_after=1)
        other = await mention(slack, events, "new thread")
        await eventually(
            lambda: "[redacted]" in thread_text(slack, CHANNEL, other),
            message=thread_text(slack, CHANNEL, other),
        )
        assert (
            await events.send(events.app_mention(CHANNEL, "U1", "<@UBOT> x", other), bad_signature=True)
            == 401
        )
    finally:
        await events.aclose()
        code, _ = await bot.terminate()
    assert code == 0
    check = subprocess.run(
        [sys.executable, "app.py", "--check"],
        cwd=REPO,
        env={**bot.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    logs = bot.output() + check.stdout + check.stderr
    assert "Qoder rejected the configured QODER_PAT" in logs, "the failures were logged"
    assert "chat.postMessage" in logs, "debug logging captured the Slack traffic"
    parse_lines(bot.output())

    sent_to_slack = json.dumps([call.args for call in slack.calls]) + json.dumps(
        [message.versions for message in slack.messages.values()]
    )
    assert "[redacted]" in sent_to_slack
    for secret in every_secret:
        assert secret not in logs, "a secret appeared in the log"
        assert secret not in sent_to_slack, "a secret was sent to Slack"
