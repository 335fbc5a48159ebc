"""The edit-mode reply writer: a turn's replies in a thread, kept in step with the latest rendering.

Each write cycle posts new continuation messages and edits only the messages whose content changed; the
call's grant comes first and the newest frame is taken only then, so what is written is never older than
the moment of the call. Priorities: the first post and a finished turn are ``URGENT``, everything else is
``PROGRESS``. A finished turn whose reply cannot be edited within ``divert_after`` seconds is posted as new
messages instead (``chat.postMessage`` has a per-channel budget of its own) and the replies it replaces are
deleted later, when the budget allows. ``on_written`` learns each frame that is entirely visible and the ts
of every reply, so the caller can make that progress durable; ``on_posted`` learns each new reply.

A reply whose blocks Slack refuses (``invalid_blocks`` and its kin) is written again, with the next grant,
as plain text (``_plain``), so the thread never stays on an older frame. That reply stays plain while the
turn runs (its content only grows, so the blocks would most likely be refused again, at two calls a frame);
the finished turn tries blocks once more, for its buttons and layout, and falls back again if refused.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.outbox._pacer import Frame, FramePacer
from bot.outbox._plain import plain, refused_content
from bot.outbox._scheduler import Grant, Priority, Want
from bot.outbox._transport import RateLimited, SlackError
from bot.outbox._workspace import WorkspaceOutbox
from bot.render import SlackMessage

log = logging.getLogger(__name__)

DIVERT_AFTER_SECONDS = 1.0
# Slack errors after which the message we were editing is gone for good: post a fresh one instead.
_GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}
_POST = "chat.postMessage"
_UPDATE = "chat.update"


@dataclass(frozen=True)
class _Op:
    """One Slack call that brings reply ``index`` in line with the rendering."""

    method: str
    index: int


class _Again(Exception):
    """The reply is gone: ask for a new grant and post it anew."""


class EditWriter(FramePacer[Frame]):
    """Publishes the frames of one turn into one thread. One per turn; not shared between tasks."""

    def __init__(
        self,
        outbox: WorkspaceOutbox,
        *,
        channel: str,
        thread_ts: str,
        render: Callable[[Frame], Sequence[SlackMessage]],
        finished: Callable[[Frame], bool],
        on_written: Callable[[Frame, list[str]], Awaitable[None]],
        on_posted: Callable[[str], Awaitable[None]] | None = None,
        reply_ts: Sequence[str] = (),
        interval: float = 1.0,
        divert_after: float = DIVERT_AFTER_SECONDS,
    ) -> None:
        super().__init__(
            clock=outbox.clock,
            sleep=outbox.sleep,
            poke=outbox.scheduler.poke,
            interval=interval,
            name=f"edit {channel}/{thread_ts}",
        )
        self._outbox = outbox
        self._channel = channel
        self._thread_ts = thread_ts
        self._render = render
        self._finished = finished
        self._on_written = on_written
        self._on_posted = on_posted
        self._divert_after = divert_after
        self.reply_ts: list[str] = list(reply_ts)
        self._sent: list[SlackMessage | None] = [None] * len(self.reply_ts)
        self._gone: set[int] = set()
        self._plain: set[int] = set()  # replies written as plain text since Slack refused their blocks
        self._retried: set[int] = set()  # plain replies the finished turn tried with blocks again
        self._stale: list[str] = []  # replies replaced by newer ones, to delete once the frame is visible
        self._rendered: tuple[int, Sequence[SlackMessage]] = (-1, ())

    def _priority(self) -> Priority:
        latest = self._latest
        if not self.reply_ts or (latest is not None and self._finished(latest)):
            return Priority.URGENT
        return Priority.PROGRESS

    async def _cycle(self) -> None:
        """Bring Slack up to the newest frame, writing each reply at most once; what is left (the frame moved
        on meanwhile) waits for the next cycle."""
        written: set[int] = set()
        replies_before = list(self.reply_ts)
        while True:
            version, frame, messages = self._newest()
            needed = self._ops(messages)
            todo = [op for op in needed if op.index not in written]
            if needed and not todo:
                # A reply written in this cycle changed again meanwhile: this frame is not visible yet, and
                # the next cycle writes it. Replies posted in this one are made durable now all the same.
                if self.reply_ts != replies_before:
                    await self._on_written(frame, list(self.reply_ts))
                return
            if not todo:
                self._tidy(len(messages))
                self._visible = max(self._visible, version)
                await self._on_written(frame, list(self.reply_ts))
                return
            method = todo[0].method
            want = Want(method, self._channel, self._priority)
            if method == _UPDATE:
                want.alternative, want.patience = _POST, self._divert_after
            grant = await self._outbox.scheduler.acquire(want)
            version, frame, messages = self._newest()  # granted: take the newest frame only now
            op = next((o for o in self._ops(messages) if o.method == method and o.index not in written), None)
            if op is None:
                grant.refund()
                self._outbox.scheduler.poke()
                continue
            if grant.method != op.method:
                self._divert(op.index)
                op = _Op(_POST, op.index)
            try:
                await self._apply(grant, op, messages[op.index], final=self._finished(frame))
            except (RateLimited, _Again):
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
        return ops

    def _divert(self, index: int) -> None:
        """Replies from ``index`` on will be posted anew; the old ones are deleted once that is visible."""
        log.info(
            "reply in %s/%s posted anew: no edit budget for the final answer", self._channel, self._thread_ts
        )
        self._stale.extend(ts for i, ts in enumerate(self.reply_ts[index:], index) if i not in self._gone)
        del self.reply_ts[index:]
        del self._sent[index:]
        self._gone = {i for i in self._gone if i < index}

    async def _send(
        self, grant: Grant, index: int, params: dict[str, Any], *, edit: bool, final: bool
    ) -> dict[str, Any]:
        """Make the call for reply ``index``, as plain text if Slack refused its blocks before (a ``final``
        frame tries them once more). A refusal of its content marks it plain and raises ``_Again``: the
        next grant writes it so."""
        if final and index in self._plain and index not in self._retried:
            self._retried.add(index)
            self._plain.discard(index)
        if index in self._plain:
            params = plain(params, edit=edit)
        try:
            return await self._outbox.send(grant, params)
        except SlackError as error:
            if index in self._plain or not refused_content(error, params):
                raise
            log.warning(
                "Slack refused reply %d in %s/%s (%s); writing it as plain text",
                index,
                self._channel,
                self._thread_ts,
                error.code,
            )
            self._plain.add(index)
            raise _Again from None

    def _tidy(self, needed: int) -> None:
        """Delete replies a shorter rendering no longer needs and replies that were posted anew."""
        self._stale.extend(self.reply_ts[needed:])
        del self.reply_ts[needed:]
        del self._sent[needed:]
        self._gone = {i for i in self._gone if i < needed}
        self._plain = {i for i in self._plain if i < needed}
        self._retried = {i for i in self._retried if i < needed}
        for ts in reversed(self._stale):
            self._outbox.delete(self._channel, ts)
        self._stale.clear()

    async def _apply(self, grant: Grant, op: _Op, message: SlackMessage, *, final: bool) -> None:
        if op.method == _UPDATE:
            params = {"channel": self._channel, "ts": self.reply_ts[op.index], **message.payload()}
            try:
                await self._send(grant, op.index, params, edit=True, final=final)
            except SlackError as error:
                if error.code not in _GONE:
                    raise
                log.warning("reply %s is gone (%s); posting a new one", self.reply_ts[op.index], error.code)
                self._gone.add(op.index)
                raise _Again from None  # not written: the next grant re-posts it
            self._sent[op.index] = message
            return
        params = {"channel": self._channel, "thread_ts": self._thread_ts, **message.payload()}
        response = await self._send(grant, op.index, params, edit=False, final=final)
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
