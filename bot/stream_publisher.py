"""Publishes a turn with Slack's native streams (chat.startStream / appendStream / stopStream).

Like :class:`bot.publisher.ReplyPublisher`, one writer task renders only the newest frame and writes at most
once per ``interval``. The first write starts a stream in the thread; later writes append only what is new
(the Markdown suffix and task cards that are new or changed); a finished frame stops the stream with the
footer. Slack ends streams after about five minutes, so a stream older than ``rollover_seconds`` (or one
whose message is full) is stopped and the answer continues in a new stream message.

Streamed text cannot be taken back. When the new Markdown does not extend what was streamed, or on any
stream error, the current stream is stopped and a fallback publisher (chat.update over the same messages,
posting more or deleting extra ones as needed) takes over the rest of the turn. A
publisher resumed with existing replies uses the fallback from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.publisher import Frame, Publisher
from bot.ratelimit import RateBudget
from bot.render.stream import (
    MARKDOWN_LIMIT,
    StreamView,
    TaskChunk,
    closing_fence,
    cut_point,
    open_fence,
)
from bot.slack_calls import error_code, note_rate_limited

log = logging.getLogger(__name__)

# Markdown per stream message, leaving room for the line that closes a code block cut at its end.
MESSAGE_LIMIT = MARKDOWN_LIMIT - 500


class StreamBroken(Exception):
    """The stream can no longer show the turn; the fallback publisher must take over."""


class NativeStreamPublisher(Generic[Frame]):
    """Streams the frames of one turn into one thread. Not thread-safe; one per turn."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        recipient_user_id: str,
        recipient_team_id: str,
        view: Callable[[Frame], StreamView],
        finished: Callable[[Frame], bool],
        fallback: Callable[[list[str]], Publisher[Frame]],
        on_written: Callable[[Frame, list[str]], Awaitable[None]],
        on_posted: Callable[[str], Awaitable[None]] | None = None,
        reply_ts: Sequence[str] = (),
        interval: float = 1.0,
        budget: RateBudget | None = None,
        rollover_seconds: float = 240.0,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._recipient = {
            key: value
            for key, value in (
                ("recipient_user_id", recipient_user_id),
                ("recipient_team_id", recipient_team_id),
            )
            if value
        }
        self._view = view
        self._finished = finished
        self._make_fallback = fallback
        self._on_written = on_written
        self._on_posted = on_posted
        self._interval = interval
        self._budget = budget
        self._rollover = rollover_seconds
        self._reply_ts: list[str] = list(reply_ts)
        self._resumed = bool(self._reply_ts)
        self._fallback: Publisher[Frame] | None = None
        # what the stream shows
        self._stream_ts: str | None = None  # the open stream, if any
        self._stream_started = 0.0
        self._message_chars = 0  # markdown in the open stream's message
        self._streamed = ""  # the turn's markdown sent so far, over all messages
        self._tasks: dict[str, TaskChunk] = {}  # task cards as last sent, by id
        self._stopped = False  # the final stop was sent
        self._last_frame: Frame | None = None
        # scheduling
        self._pending: Frame | None = None
        self._has_pending = False
        self._last_cycle = 0.0
        self._urgent = asyncio.Event()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    @property
    def reply_ts(self) -> list[str]:
        """The bot messages of this turn, in order (the fallback's once it has taken over)."""
        return self._fallback.reply_ts if self._fallback is not None else self._reply_ts

    @reply_ts.setter
    def reply_ts(self, value: list[str]) -> None:
        if self._fallback is not None:
            self._fallback.reply_ts = value
        else:
            self._reply_ts = value

    def show(self, frame: Frame) -> None:
        """Make ``frame`` the newest state to publish; returns at once."""
        if self._fallback is not None:
            self._fallback.show(frame)
            return
        self._pending = frame
        self._has_pending = True
        self._idle.clear()
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(
                self._write_loop(), name=f"stream {self._channel}/{self._thread_ts}"
            )

    async def flush(self) -> None:
        """Write the newest frame now (not waiting for the interval); return once it is visible or failed."""
        self._urgent.set()
        await self._idle.wait()
        if self._fallback is not None:
            await self._fallback.flush()

    async def aclose(self) -> None:
        """Stop writing; frames not yet written are dropped. An open stream is left for a resumed turn."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._fallback is not None:
            await self._fallback.aclose()

    # --- scheduling -------------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        try:
            while self._fallback is None:
                if self._has_pending:
                    await self._cycle()
                    continue
                self._urgent.clear()
                self._idle.set()
                if self._stream_ts is None or self._stopped or self._last_frame is None:
                    return
                # idle with an open stream: end it before Slack does, unless a new frame comes first
                self._wake.clear()
                wait = self._stream_started + self._rollover - time.monotonic()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=wait)
                    continue
                try:
                    await self._end_stream()
                except Exception:
                    log.exception("could not end the stream in %s/%s", self._channel, self._thread_ts)
                    await self._hand_over(self._last_frame)
        finally:
            self._urgent.clear()
            self._idle.set()

    async def _cycle(self) -> None:
        wait = self._last_cycle + self._interval - time.monotonic()
        if wait > 0 and not self._urgent.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), timeout=wait)
        frame = self._pending
        self._has_pending = False
        assert frame is not None
        self._last_cycle = time.monotonic()
        if self._resumed:
            await self._hand_over(frame)
            return
        try:
            await self._write(self._view(frame), finished=self._finished(frame))
        except (StreamBroken, SlackApiError) as error:
            reason = error_code(error) if isinstance(error, SlackApiError) else str(error)
            log.warning("stream in %s/%s: %s; editing instead", self._channel, self._thread_ts, reason)
            await self._hand_over(frame)
            return
        except Exception:
            log.exception("stream in %s/%s failed; editing instead", self._channel, self._thread_ts)
            await self._hand_over(frame)
            return
        self._last_frame = frame
        await self._notify(self._on_written(frame, list(self._reply_ts)))

    async def _hand_over(self, frame: Frame) -> None:
        """Stop the open stream (best effort) and let the fallback publish ``frame`` and everything after."""
        ts = self._stream_ts or (self._reply_ts[-1] if self._resumed and self._reply_ts else None)
        if ts is not None and not self._stopped:
            try:
                await self._call("chat.stopStream", ts=ts)
            except Exception as error:
                log.debug("stopping stream %s before editing: %s", ts, error)
        self._stream_ts = None
        newest = self._pending if self._has_pending and self._pending is not None else frame
        self._pending, self._has_pending = None, False
        # The fallback edits these replies in order, posting more or deleting the ones it no longer needs.
        self._fallback = self._make_fallback(list(self._reply_ts))
        self._fallback.show(newest)

    # --- writing ----------------------------------------------------------------------------------------

    async def _write(self, view: StreamView, *, finished: bool) -> None:
        changed = [task for task in view.tasks if _card(self._tasks.get(task.id)) != _card(task)]
        if self._stopped:
            if view.markdown != self._streamed or changed:
                raise StreamBroken("the turn changed after its stream was stopped")
            return
        if not view.markdown.startswith(self._streamed):
            raise StreamBroken("the answer no longer extends what was streamed")
        if self._stream_ts is not None and time.monotonic() - self._stream_started >= self._rollover:
            await self._end_stream()
        rest = view.markdown[len(self._streamed) :]
        while True:
            reopen = self._reopen()
            room = max(MESSAGE_LIMIT - self._message_chars - len(reopen), 0)
            cut = len(rest) if len(rest) <= room else cut_point(rest, room)
            last = cut == len(rest)
            end = len(self._streamed) + cut
            now = changed if last else [task for task in changed if task.position <= end]
            chunks = self._chunks(reopen, rest[:cut], now)
            if last and finished and self._stream_ts is not None:
                await self._stop(chunks, view.footer)
            elif self._stream_ts is None and (chunks or not self._reply_ts or (last and finished)):
                await self._start(chunks)
            elif chunks:
                await self._call("chat.appendStream", ts=self._stream_ts, chunks=chunks)
            self._sent(rest[:cut], chunks, now)
            changed = [task for task in changed if task not in now]
            rest = rest[cut:]
            if last:
                break
            await self._end_stream()  # the message is full
        if finished and not self._stopped:
            await self._stop([], view.footer)

    def _reopen(self) -> str:
        """The line reopening a code block cut by the previous message, until the new one has markdown."""
        if self._message_chars or not self._streamed:
            return ""
        opening = open_fence(self._streamed)
        return f"{opening}\n" if opening is not None else ""

    def _chunks(self, reopen: str, markdown: str, tasks: list[TaskChunk]) -> list[dict[str, Any]]:
        """``markdown`` (prefixed by ``reopen``) with ``tasks`` placed where they are in the timeline.
        A new message does not start with blank space (inside a reopened code block, with blank lines)."""
        chunks: list[dict[str, Any]] = []
        start = len(self._streamed)
        fresh = not self._message_chars
        done = 0

        def text(piece: str) -> None:
            nonlocal reopen, fresh
            if fresh:
                piece = piece.lstrip("\n") if reopen else piece.lstrip()
            if piece:
                chunks.append(_markdown(reopen + piece))
                reopen, fresh = "", False

        for task in sorted(tasks, key=lambda t: t.position):
            at = min(max(task.position - start, done), len(markdown))
            text(markdown[done:at])
            done = at
            chunks.append(task.chunk())
        text(markdown[done:])
        return chunks

    def _sent(self, markdown: str, chunks: list[dict[str, Any]], tasks: list[TaskChunk]) -> None:
        self._streamed += markdown
        self._message_chars += sum(len(chunk["text"]) for chunk in chunks if chunk["type"] == "markdown_text")
        self._tasks.update((task.id, task) for task in tasks)

    async def _start(self, chunks: list[dict[str, Any]]) -> None:
        args: dict[str, Any] = {
            "thread_ts": self._thread_ts,
            "task_display_mode": "timeline",
            **self._recipient,
        }
        if chunks:
            args["chunks"] = chunks
        response = await self._call("chat.startStream", **args)
        ts = response.get("ts")
        if not ts:
            raise StreamBroken("chat.startStream returned no ts")
        self._stream_ts = str(ts)
        self._stream_started = time.monotonic()
        self._message_chars = 0
        self._reply_ts.append(self._stream_ts)
        if self._on_posted is not None:
            await self._notify(self._on_posted(self._stream_ts))

    async def _stop(self, chunks: list[dict[str, Any]], footer: str) -> None:
        args: dict[str, Any] = {"ts": self._stream_ts}
        if chunks:
            args["chunks"] = chunks
        if footer:
            args["blocks"] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]}]
        await self._call("chat.stopStream", **args)
        self._stream_ts = None
        self._message_chars = 0
        self._stopped = True

    async def _end_stream(self) -> None:
        """Stop the open stream so the answer can continue in a new one; closes a code block left open."""
        if self._stream_ts is None:
            return
        opening = open_fence(self._streamed) if self._message_chars else None
        args: dict[str, Any] = {"ts": self._stream_ts}
        if opening is not None:
            newline = "" if self._streamed.endswith("\n") else "\n"
            args["chunks"] = [_markdown(newline + closing_fence(opening))]
        await self._call("chat.stopStream", **args)
        self._stream_ts = None
        self._message_chars = 0

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
                wait = note_rate_limited(self._budget, method, error)
                if self._budget is None:
                    await asyncio.sleep(wait)

    async def _notify(self, callback: Awaitable[None]) -> None:
        try:
            await callback
        except Exception:
            log.exception("could not record the stream of %s/%s", self._channel, self._thread_ts)


def _markdown(text: str) -> dict[str, Any]:
    return {"type": "markdown_text", "text": text}


def _card(task: TaskChunk | None) -> tuple[str, str, str] | None:
    """What a task card shows (its position is only used when it is first sent)."""
    return None if task is None else (task.title, task.status, task.output)
