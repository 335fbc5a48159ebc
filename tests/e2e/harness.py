"""Runs the real bot (HTTP mode) against the fake Slack and fake Qoder servers, in-process or as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bot.config import Settings
from bot.main import Runtime, build, serve
from tests.fakes.qoder_api import FakeQoder
from tests.fakes.slack_api import FakeSlack, Message
from tests.fakes.slack_events import SlackEvents

SIGNING_SECRET = "test-signing-secret"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_environment(
    slack: FakeSlack, qoder: FakeQoder, store_url: str, port: int, **extra: str
) -> dict[str, str]:
    """The environment variables that point a bot at the fakes."""
    env = {
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_MODE": "http",
        "SLACK_API_URL": slack.api_url,
        "PORT": str(port),
        "QODER_PAT": qoder.token,
        "QODER_API_URL": qoder.base_url,
        "QODER_AGENT_ID": "agent_test",
        "QODER_ENVIRONMENT_ID": "env_test",
        "STORE_URL": store_url,
        "UPDATE_INTERVAL": "0.2",
    }
    env.update(extra)
    return env


async def eventually(
    check: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05, message: str = ""
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail with ``message`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if isinstance(last, Awaitable):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout}s (last value: {last!r})")


class InProcessBot:
    """The bot's ``serve`` running as a task in the test's event loop."""

    def __init__(self, env: dict[str, str]) -> None:
        self.settings = Settings(**env)  # type: ignore[arg-type]
        self.port = self.settings.PORT
        self.runtime: Runtime | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.runtime = await build(self.settings)
        self._task = asyncio.create_task(
            serve(self.settings, self._stop, handle_signals=False, runtime=self.runtime)
        )
        await wait_healthy(self.url, self._task)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 15)


class SubprocessBot:
    """``python app.py`` in a child process (for crash and signal tests)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.port = int(env["PORT"])
        self.process: subprocess.Popen[bytes] | None = None
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        # Read the output all along, so a chatty bot never blocks on a full pipe; the pipe closes at EOF.
        self._reader = threading.Thread(target=self._read_output, args=(self.process,), daemon=True)
        self._reader.start()
        await wait_healthy(self.url, None, process=self.process, output=self.output)

    def _read_output(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in iter(process.stdout.readline, b""):
                self._lines.append(line.decode(errors="replace"))

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    async def terminate(self) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took). Waits without blocking the loop the fakes run on."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.process.wait, 20)
        return code, time.monotonic() - started

    def output(self) -> str:
        """Everything the bot printed so far (all of it once the process has exited)."""
        if self.process is not None and self.process.poll() is not None and self._reader is not None:
            self._reader.join(5)
        return "".join(self._lines)


async def wait_healthy(
    url: str,
    task: asyncio.Task[None] | None,
    *,
    process: subprocess.Popen[bytes] | None = None,
    output: Callable[[], str] = str,
) -> None:
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if task is not None and task.done():
                task.result()
                raise AssertionError("bot stopped during startup")
            if process is not None and process.poll() is not None:
                raise AssertionError(f"bot exited with {process.returncode} during startup:\n{output()}")
            try:
                response = await client.get(f"{url}/healthz")
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("bot did not become healthy")


CHANNEL = "C1"


async def mention(
    slack: FakeSlack,
    events: SlackEvents,
    text: str,
    *,
    thread_ts: str | None = None,
    channel: str = CHANNEL,
    files: list[dict[str, Any]] | None = None,
) -> str:
    """A person posts ``<@UBOT> text`` (optionally in a thread, sharing ``files`` made with
    ``slack.files.add``); Slack delivers app_mention. Returns its ts."""
    ts = slack.add_user_message(channel, f"<@UBOT> {text}", user="U1", thread_ts=thread_ts, files=files)
    event = events.app_mention(channel, "U1", f"<@UBOT> {text}", ts, thread_ts=thread_ts, files=files)
    assert await events.send(event) == 200
    return ts


async def reply(
    slack: FakeSlack,
    events: SlackEvents,
    thread_ts: str,
    text: str,
    *,
    user: str = "U1",
    channel: str = CHANNEL,
    files: list[dict[str, Any]] | None = None,
) -> str:
    """A person replies in a thread without mentioning the bot (sharing ``files``, if given, as a
    ``file_share`` message); Slack delivers the message event."""
    ts = slack.add_user_message(channel, text, user=user, thread_ts=thread_ts, files=files)
    subtype = "file_share" if files else None
    event = events.message(channel, user, text, ts, thread_ts=thread_ts, subtype=subtype, files=files)
    assert await events.send(event) == 200
    return ts


def finished(slack: FakeSlack, thread_ts: str, needle: str, channel: str = CHANNEL) -> bool:
    """The thread shows ``needle`` and no reply is still working."""
    text = thread_text(slack, channel, thread_ts)
    return needle in text and "Working…" not in text and "Thinking…" not in text


def reply_texts(slack: FakeSlack, channel: str, thread_ts: str) -> list[str]:
    """What a person reads in the bot's replies of a thread, in order."""
    return [slack.visible_text(m) for m in slack.bot_replies(channel, thread_ts)]


def thread_text(slack: FakeSlack, channel: str, thread_ts: str) -> str:
    return "\n".join(reply_texts(slack, channel, thread_ts))


__all__ = [
    "CHANNEL",
    "SIGNING_SECRET",
    "FakeQoder",
    "FakeSlack",
    "InProcessBot",
    "Message",
    "SlackEvents",
    "SubprocessBot",
    "bot_environment",
    "eventually",
    "finished",
    "free_port",
    "mention",
    "reply",
    "reply_texts",
    "thread_text",
]
