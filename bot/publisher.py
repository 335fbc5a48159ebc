"""Keeps a turn's bot replies in a Slack thread in step with the latest rendering.

The relay calls ``show(frame)`` as often as it likes; a single writer task renders only the newest frame and
writes at most once per ``interval`` (intermediate frames are skipped, never queued). A write cycle posts new
continuation messages and edits only the messages whose content changed. After every successful cycle the
``on_written`` callback learns which frame is now visible and the ts of every reply, so the caller can make
that progress durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.ratelimit import RateBudget
from bot.render import SlackMessage

log = logging.getLogger(__name__)

Frame = TypeVar("Frame")
FrameContra = TypeVar("FrameContra", contravariant=True)


class Publisher(Protocol[FrameContra]):
    """Puts the frames of one turn into its thread; ``reply_ts`` lists the bot messages it owns, in order."""

    reply_ts: list[str]

    def show(self, frame: FrameContra) -> None:
        """Make ``frame`` the newest state to publish; returns at once."""

    async def flush(self) -> None:
        """Return once the newest frame is visible in Slack (or failed for good)."""

    async def aclose(self) -> None:
        """Stop; frames not yet written are dropped."""


# Slack errors after which the message we were editing is gone for good: post a fresh one instead.
_GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}
_MAX_RATE_LIMIT_WAIT = 60.0
_MAX_ATTEMPTS = 3


class ReplyPublisher(Generic[Frame]):
    """Publishes frames of one turn into one thread. Not thread-safe; one per turn."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        render: Callable[[Frame], Sequence[SlackMessage]],
        on_written: Callable[[Frame, list[str]], Awaitable[None]],
        on_posted: Callable[[str], Awaitable[None]] | None = None,
        reply_ts: Sequence[str] = (),
        interval: float = 1.0,
        budget: RateBudget | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._render = render
        self._on_written = on_written
        self._on_posted = on_posted
        self._interval = interval
        self._budget = budget
        self.reply_ts: list[str] = list(reply_ts)
        self._sent: list[SlackMessage | None] = [None] * len(self.reply_ts)
        self._pending: Frame | None = None
        self._has_pending = False
        self._last_cycle = 0.0
        self._urgent = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    def show(self, frame: Frame) -> None:
        """Make ``frame`` the newest state to publish; returns at once."""
        self._pending = frame
        self._has_pending = True
        self._idle.clear()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(
                self._write_loop(), name=f"publish {self._channel}/{self._thread_ts}"
            )

    async def flush(self) -> None:
        """Write the newest frame now (not waiting for the interval); return once it is visible or failed."""
        self._urgent.set()
        await self._idle.wait()

    async def aclose(self) -> None:
        """Stop writing; frames not yet written are dropped."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_loop(self) -> None:
        failures = 0
        while self._has_pending:
            wait = self._last_cycle + self._interval - time.monotonic()
            if wait > 0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), timeout=wait)
            frame = self._pending
            self._has_pending = False
            assert frame is not None
            self._last_cycle = time.monotonic()
            try:
                await self._write(self._render(frame))
                await self._on_written(frame, list(self.reply_ts))
                failures = 0
            except Exception:
                failures += 1
                log.exception("could not update the reply in %s/%s", self._channel, self._thread_ts)
                if not self._has_pending and failures <= _MAX_ATTEMPTS:
                    self._pending, self._has_pending = frame, True
                    await asyncio.sleep(min(2.0**failures, 10.0))
        self._urgent.clear()
        self._idle.set()

    async def _write(self, messages: Sequence[SlackMessage]) -> None:
        for index, message in enumerate(messages):
            if index < len(self.reply_ts):
                if self._sent[index] != message:
                    await self._update(index, message)
            else:
                await self._post(message)

    async def _post(self, message: SlackMessage) -> None:
        response = await self._call("chat.postMessage", thread_ts=self._thread_ts, **message.payload())
        ts = str(response["ts"])
        self.reply_ts.append(ts)
        self._sent.append(message)
        if self._on_posted is not None:
            await self._on_posted(ts)

    async def _update(self, index: int, message: SlackMessage) -> None:
        try:
            await self._call("chat.update", ts=self.reply_ts[index], **message.payload())
        except SlackApiError as error:
            if _error_code(error) not in _GONE:
                raise
            log.warning("reply %s is gone (%s); posting a new one", self.reply_ts[index], _error_code(error))
            response = await self._call("chat.postMessage", thread_ts=self._thread_ts, **message.payload())
            self.reply_ts[index] = str(response["ts"])
            if self._on_posted is not None:
                await self._on_posted(self.reply_ts[index])
        self._sent[index] = message

    async def _call(self, method: str, **kwargs: Any) -> Any:
        """Call ``method`` within the budget; on 429 pause the method for everyone and try again."""
        while True:
            if self._budget is not None:
                await self._budget.acquire(method, self._channel)
            try:
                return await self._client.api_call(method, json={"channel": self._channel, **kwargs})
            except SlackApiError as error:
                if error.response.status_code != 429:
                    raise
                retry_after = min(_retry_after(error), _MAX_RATE_LIMIT_WAIT)
                log.warning("Slack rate-limited %s; waiting %.1fs", method, retry_after)
                if self._budget is not None:
                    self._budget.pause(method, retry_after)
                else:
                    await asyncio.sleep(retry_after)


def _error_code(error: SlackApiError) -> str:
    return str(error.response.get("error", "")) if error.response is not None else ""


def _retry_after(error: SlackApiError) -> float:
    headers = error.response.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after") or "1"
    if isinstance(value, list):
        value = value[0]
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 1.0
