"""Keeps a turn's bot replies in a Slack thread in step with the latest rendering.

The relay calls ``show(frame)`` as often as it likes; a single writer task brings Slack up to date at most
once per ``interval`` (intermediate frames are skipped, never queued). Each Slack call first waits for its
grant from the workspace's rate budget and only then takes the newest frame, so what it writes is never
older than the moment of the call. A write cycle posts new continuation messages and edits only the
messages whose content changed. Whenever a frame is entirely visible the ``on_written`` callback learns
which frame it is and the ts of every reply, so the caller can make that progress durable. A 429 pauses
the method for every reply sharing the budget and the call is made again (with the newest frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.ratelimit import RateBudget
from bot.render import SlackMessage
from bot.slack_calls import error_code, note_rate_limited

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
_MAX_ATTEMPTS = 3
_POST = "chat.postMessage"
_UPDATE = "chat.update"
_DELETE = "chat.delete"


@dataclass(frozen=True)
class _Op:
    """One Slack call that brings reply ``index`` in line with the rendering."""

    method: str
    index: int


class _Again(Exception):
    """The call was not made good (rate-limited, or the reply is gone): ask for a new grant and redo it."""


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
        self._gone: set[int] = set()
        self._latest: Frame | None = None
        self._version = 0  # bumped by every show()
        self._visible = 0  # the newest version known to be entirely visible
        self._rendered: tuple[int, Sequence[SlackMessage]] = (-1, ())
        self._last_cycle = -math.inf
        self._urgent = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    def show(self, frame: Frame) -> None:
        """Make ``frame`` the newest state to publish; returns at once."""
        self._latest = frame
        self._version += 1
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
        while self._visible < self._version:
            wait = self._last_cycle + self._interval - time.monotonic()
            if wait > 0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), timeout=wait)
            self._last_cycle = time.monotonic()
            try:
                await self._cycle()
                failures = 0
            except Exception:
                failures += 1
                log.exception("could not update the reply in %s/%s", self._channel, self._thread_ts)
                if failures > _MAX_ATTEMPTS:
                    self._visible = self._version  # give up on what is pending; the next show() retries
                else:
                    await asyncio.sleep(min(2.0**failures, 10.0))
        self._urgent.clear()
        self._idle.set()

    async def _cycle(self) -> None:
        """Bring Slack up to the newest frame, writing each reply at most once; what is left (the frame moved
        on meanwhile) waits for the next cycle."""
        written: set[int] = set()
        while True:
            version, frame, messages = self._newest()
            todo = [op for op in self._ops(messages) if op.index not in written]
            if not todo:
                if not self._ops(messages):
                    self._visible = max(self._visible, version)
                    await self._on_written(frame, list(self.reply_ts))
                return
            method = todo[0].method
            if self._budget is not None:
                await self._budget.acquire(method, self._channel)
            version, frame, messages = self._newest()  # granted: take the newest frame only now
            op = next((o for o in self._ops(messages) if o.method == method and o.index not in written), None)
            if op is None:
                continue
            try:
                await self._apply(op, messages[op.index] if op.index < len(messages) else None)
            except _Again:
                continue
            written.add(op.index)

    def _newest(self) -> tuple[int, Frame, Sequence[SlackMessage]]:
        version, frame = self._version, self._latest
        assert frame is not None
        if self._rendered[0] != version:
            self._rendered = (version, self._render(frame))
        return version, frame, self._rendered[1]

    def _ops(self, messages: Sequence[SlackMessage]) -> list[_Op]:
        """The calls still needed for ``messages`` to be visible, in thread order; at most one new post."""
        ops: list[_Op] = []
        for index, message in enumerate(messages):
            if index >= len(self.reply_ts):
                ops.append(_Op(_POST, index))
                break
            if index in self._gone:
                ops.append(_Op(_POST, index))
            elif self._sent[index] != message:
                ops.append(_Op(_UPDATE, index))
        # A shorter rendering (e.g. the timeline collapsed at the end) leaves replies that would show stale
        # text: delete them, last first so the indexes of the others stay put.
        ops.extend(_Op(_DELETE, index) for index in reversed(range(len(messages), len(self.reply_ts))))
        return ops

    async def _apply(self, op: _Op, message: SlackMessage | None) -> None:
        if op.method == _DELETE:
            await self._delete_last()
            return
        assert message is not None
        if op.method == _UPDATE:
            try:
                await self._call(_UPDATE, ts=self.reply_ts[op.index], **message.payload())
            except SlackApiError as error:
                if error_code(error) not in _GONE:
                    raise
                log.warning(
                    "reply %s is gone (%s); posting a new one", self.reply_ts[op.index], error_code(error)
                )
                self._gone.add(op.index)
                raise _Again from None  # not written: the next grant re-posts it
            self._sent[op.index] = message
            return
        response = await self._call(_POST, thread_ts=self._thread_ts, **message.payload())
        ts = str(response["ts"])
        if op.index < len(self.reply_ts):
            self.reply_ts[op.index] = ts
            self._sent[op.index] = message
        else:
            self.reply_ts.append(ts)
            self._sent.append(message)
        self._gone.discard(op.index)
        if self._on_posted is not None:
            await self._on_posted(ts)

    async def _delete_last(self) -> None:
        try:
            await self._call(_DELETE, ts=self.reply_ts[-1])
        except SlackApiError as error:
            if error_code(error) != "message_not_found":
                raise
        self.reply_ts.pop()
        self._sent.pop()
        self._gone.discard(len(self.reply_ts))

    async def _call(self, method: str, **kwargs: Any) -> Any:
        """Call ``method``; on 429 pause it for everyone sharing the budget and raise ``_Again``."""
        try:
            return await self._client.api_call(method, json={"channel": self._channel, **kwargs})
        except SlackApiError as error:
            if error.response.status_code != 429:
                raise
            wait = note_rate_limited(self._budget, method, error)
            if self._budget is None:
                await asyncio.sleep(wait)
            raise _Again from None
