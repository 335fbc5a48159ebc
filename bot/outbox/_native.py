"""The native-stream reply writer: a turn through Slack's chat.startStream / appendStream / stopStream.

It shares the edit writer's pacing (newest frame only, at most one cycle per ``interval``). The first write
starts a stream in the thread; later writes append only what is new (the Markdown suffix and task cards that
are new or changed). A finished turn appends the rest of its answer first (``chat.appendStream`` has the
larger budget) and then stops the stream with the footer. Slack ends streams after about five minutes, so a
stream older than ``rollover_seconds`` (or one whose message is full) is stopped and the answer continues in
a new stream message. What goes into which message is planned by ``bot.render.plan_appends``.

Streamed text cannot be taken back. When the new Markdown does not extend what was streamed, or on any
stream error, the current stream is stopped and an edit writer over the same messages takes over the rest of
the turn. A writer resumed with existing replies uses the edit writer from the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.outbox._edit import EditWriter
from bot.outbox._pacer import Frame, FramePacer
from bot.outbox._scheduler import Priority, Want
from bot.outbox._timing import wait_event
from bot.outbox._transport import RateLimited, SlackError
from bot.outbox._workspace import WorkspaceOutbox
from bot.render import Streamed, StreamView, TaskChunk, closing_chunks, footer_blocks, plan_appends

log = logging.getLogger(__name__)


class StreamBroken(Exception):
    """The stream can no longer show the turn; the edit writer must take over."""


class NativeStreamWriter(FramePacer[Frame]):
    """Streams the frames of one turn into one thread. One per turn; not shared between tasks."""

    def __init__(
        self,
        outbox: WorkspaceOutbox,
        *,
        channel: str,
        thread_ts: str,
        recipient_user_id: str,
        recipient_team_id: str,
        view: Callable[[Frame], StreamView],
        finished: Callable[[Frame], bool],
        fallback: Callable[[list[str]], EditWriter[Frame]],
        on_written: Callable[[Frame, list[str]], Awaitable[None]],
        on_posted: Callable[[str], Awaitable[None]] | None = None,
        reply_ts: Sequence[str] = (),
        interval: float = 1.0,
        rollover_seconds: float = 240.0,
    ) -> None:
        super().__init__(
            clock=outbox.clock,
            sleep=outbox.sleep,
            poke=outbox.scheduler.poke,
            interval=interval,
            name=f"stream {channel}/{thread_ts}",
        )
        self._outbox = outbox
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
        self._rollover = rollover_seconds
        self._reply_ts: list[str] = list(reply_ts)
        self._resumed = bool(self._reply_ts)
        self._fallback: EditWriter[Frame] | None = None
        # what the stream shows
        self._stream_ts: str | None = None  # the open stream, if any
        self._stream_started = 0.0
        self._streamed = Streamed()
        self._tasks: dict[str, TaskChunk] = {}  # task cards as last sent, by id
        self._stopped = False  # the final stop was sent
        self._last_frame: Frame | None = None
        self._wake = asyncio.Event()

    @property
    def reply_ts(self) -> list[str]:
        """The bot messages of this turn, in order (the edit writer's once it has taken over)."""
        return list(self._fallback.reply_ts) if self._fallback is not None else self._reply_ts

    def show(self, frame: Frame) -> None:
        """Make ``frame`` the newest state to publish; returns at once."""
        if self._fallback is not None:
            self._fallback.show(frame)
            return
        super().show(frame)

    async def flush(self) -> None:
        """Write the newest frame now; return once it is visible or failed."""
        await super().flush()
        if self._fallback is not None:
            await self._fallback.flush()

    async def aclose(self) -> None:
        """Stop writing; frames not yet written are dropped. An open stream is left for a resumed turn."""
        await super().aclose()
        if self._fallback is not None:
            await self._fallback.aclose()

    # --- scheduling -------------------------------------------------------------------------------------

    def _priority(self) -> Priority:
        latest = self._latest
        if not self._reply_ts or (latest is not None and self._finished(latest)):
            return Priority.URGENT
        return Priority.PROGRESS

    def _frame_changed(self) -> None:
        self._wake.set()

    async def _cycle(self) -> None:
        version, frame = self._version, self._latest
        assert frame is not None
        if self._resumed:
            await self._stop_quietly()
            self._hand_over(frame)
        else:
            try:
                await self._write(self._view(frame), finished=self._finished(frame))
            except (StreamBroken, SlackError) as error:
                reason = error.code if isinstance(error, SlackError) else str(error)
                log.warning("stream in %s/%s: %s; editing instead", self._channel, self._thread_ts, reason)
                await self._stop_quietly()
                self._hand_over(frame)
            except Exception:
                log.exception("stream in %s/%s failed; editing instead", self._channel, self._thread_ts)
                await self._stop_quietly()
                self._hand_over(frame)
            else:
                self._last_frame = frame
                await self._notify(self._on_written(frame, list(self._reply_ts)))
        self._visible = max(self._visible, version)

    async def _while_idle(self) -> bool:
        """Idle with an open stream: end it before Slack does, unless a new frame comes first."""
        while self._fallback is None and self._stream_ts is not None and not self._stopped:
            if self._visible < self._version:
                return True
            self._wake.clear()
            wait = self._stream_started + self._rollover - self._clock()
            if wait > 0:
                await wait_event(self._wake, wait, self._sleep)
                continue
            try:
                await self._end_stream()
            except Exception:
                log.exception("could not end the stream in %s/%s", self._channel, self._thread_ts)
                if self._last_frame is not None:
                    self._hand_over(self._last_frame)
        return self._fallback is None and self._visible < self._version

    def _hand_over(self, frame: Frame) -> None:
        """Let the edit writer publish the newest frame and everything after (it edits these replies in
        order, posting more or deleting the ones it no longer needs)."""
        self._stream_ts = None
        self._fallback = self._make_fallback(list(self._reply_ts))
        self._fallback.show(self._latest if self._latest is not None else frame)

    async def _stop_quietly(self) -> None:
        """Stop the open stream (best effort) before the edit writer takes over."""
        ts = self._stream_ts or (self._reply_ts[-1] if self._resumed and self._reply_ts else None)
        if ts is None or self._stopped:
            return
        try:
            await self._call("chat.stopStream", ts=ts)
        except Exception as error:
            log.debug("stopping stream %s before editing: %s", ts, error)

    # --- writing ----------------------------------------------------------------------------------------

    async def _write(self, view: StreamView, *, finished: bool) -> None:
        changed = [task for task in view.tasks if _card(self._tasks.get(task.id)) != _card(task)]
        if self._stopped:
            if view.markdown != self._streamed.markdown or changed:
                raise StreamBroken("the turn changed after its stream was stopped")
            return
        if not view.markdown.startswith(self._streamed.markdown):
            raise StreamBroken("the answer no longer extends what was streamed")
        if self._stream_ts is not None and self._clock() - self._stream_started >= self._rollover:
            await self._end_stream()
        for append in plan_appends(self._streamed, view.markdown, changed):
            chunks = list(append.chunks)
            if self._stream_ts is None and (chunks or not self._reply_ts or (not append.full and finished)):
                await self._start(chunks)
            elif chunks:
                await self._call("chat.appendStream", ts=self._stream_ts, chunks=chunks)
            self._streamed = append.streamed
            self._tasks.update((task.id, task) for task in append.tasks)
            if append.full:
                await self._end_stream()
        if finished and not self._stopped:
            await self._stop(view)

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
        self._stream_started = self._clock()
        self._reply_ts.append(self._stream_ts)
        if self._on_posted is not None:
            await self._notify(self._on_posted(self._stream_ts))

    async def _stop(self, view: StreamView) -> None:
        args: dict[str, Any] = {"ts": self._stream_ts}
        if blocks := [*view.blocks, *footer_blocks(view.footer)]:
            args["blocks"] = blocks
        await self._call("chat.stopStream", **args)
        self._stream_ts = None
        self._streamed = self._streamed.ended()
        self._stopped = True

    async def _end_stream(self) -> None:
        """Stop the open stream so the answer can continue in a new one; closes a code block left open."""
        if self._stream_ts is None:
            return
        args: dict[str, Any] = {"ts": self._stream_ts}
        if chunks := closing_chunks(self._streamed):
            args["chunks"] = chunks
        await self._call("chat.stopStream", **args)
        self._stream_ts = None
        self._streamed = self._streamed.ended()

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """Call ``method`` when the workspace budget grants it; after a 429, again with a new grant."""
        while True:
            grant = await self._outbox.scheduler.acquire(Want(method, self._channel, self._priority))
            try:
                return await self._outbox.send(grant, {"channel": self._channel, **kwargs})
            except RateLimited:
                continue

    async def _notify(self, callback: Awaitable[None]) -> None:
        try:
            await callback
        except Exception:
            log.exception("could not record the stream of %s/%s", self._channel, self._thread_ts)


def _card(task: TaskChunk | None) -> tuple[str, str, str] | None:
    """What a task card shows (its position is only used when it is first sent)."""
    return None if task is None else (task.title, task.status, task.output)
