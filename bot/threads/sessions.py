"""Sessions and the per-thread queue: a thread's session, the turn a message opens, and what waits behind it.

A message either starts a turn (a ``user.message``, or a ``user.define_outcome`` for an outcome; see
``_opening``, which also creates sessions on what ``Defaults.choose`` picks) or waits in the session's FIFO
until the running turn ends; each end of a turn sends the next one. ``start_over`` archives a thread's
session for ``!new``. Nothing here waits on Slack: feedback is handed to the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from bot import metrics
from bot.models import QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.qoder import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    QoderError,
)
from bot.store import Store
from bot.threads._opening import Opener
from bot.threads._ports import QoderSessions, TurnRelay
from bot.threads._shared import (
    CONTEXT_LOST_NOTICE,
    RETRY_DELAYS,
    TRANSIENT,
    Background,
    IncomingMessage,
    Reactions,
    ThreadsConfig,
    explain,
    ran_longer_than,
)
from bot.threads.attachments import Attachments
from bot.threads.defaults import Defaults
from bot.threads.feedback import Feedback
from bot.turn import TurnState

log = logging.getLogger(__name__)

StartOver = Literal["none", "busy", "done"]

# How often (every 2 s) to wait for a session that Qoder says is busy with a turn this bot is not relaying.
BUSY_POLLS = 900


class Sessions:
    """Maps threads to sessions and runs each thread's messages in order, one turn at a time."""

    def __init__(
        self,
        qoder: QoderSessions,
        store: Store,
        relay: TurnRelay,
        feedback: Feedback,
        config: ThreadsConfig,
        background: Background,
        defaults: Defaults,
        attachments: Attachments | None = None,
    ) -> None:
        self._qoder = qoder
        self._store = store
        self._relay = relay
        self._feedback = feedback
        self._config = config
        self._background = background
        self._opener = Opener(
            qoder, store, relay, config, defaults, background.sleep, attachments, feedback.notice
        )
        self._watched: set[str] = set()
        self.on_superseded: Callable[[TurnRecord], None] | None = None  # a new turn followed this one

    async def deliver(self, message: IncomingMessage) -> None:
        """Send ``message`` to its thread's session (created if needed), or queue it behind the running turn.
        Raises ``QoderError`` when Qoder refuses or is unavailable; the caller decides what that means."""
        thread = message.thread
        async with self._store.thread_lock(thread):
            session = await self._store.get_session(thread)
            if session is None:
                session, started = await self._opener.create(thread, message.queued(), attempt="")
                if started:
                    return
            turn = await self._store.get_turn(session.session_id)
            busy = (turn is not None and turn.active) or await self._store.queue_length(
                session.session_id
            ) > 0
            queued = message.queued()
            if busy or not await self._start_turn(session, queued):
                await self._queue(session.session_id, queued)
            else:
                metrics.user_message_accepted(message.ts)
                if turn is not None and self.on_superseded is not None:
                    self.on_superseded(turn)

    def refuse(self, message: IncomingMessage, error: QoderError) -> None:
        """Qoder refused the message for a reason retrying won't fix: say so in the thread and in the log."""
        thread = message.thread
        if isinstance(error, AuthenticationError):
            log.error("Qoder rejected the configured QODER_PAT (HTTP %s): %s", error.status, error.message)
        elif isinstance(error, PermissionDeniedError):
            log.error(
                "Qoder denied access (HTTP 403; check the token's permissions, QODER_AGENT_ID and"
                " QODER_ENVIRONMENT_ID): %s",
                error.message,
            )
        else:
            log.warning("Qoder refused %s/%s: %s", thread.channel, message.ts, error)
        self._feedback.react(thread, message.ts, self._config.reactions.failed)
        self._feedback.notice(thread, explain(error))

    async def turn_ended(self, turn: TurnRecord, state: TurnState) -> None:
        """A relayed turn ended (or paused): mark the message that started it, then send the next one."""
        if state.phase == "needs_action":
            return  # paused, not over: the approval buttons (or a new message) continue it
        reactions = self._config.reactions
        self._feedback.react(turn.thread, turn.user_ts, reactions.received, on=False)
        self._feedback.react(turn.thread, turn.user_ts, final_reaction(state, reactions))
        if turn.user_id and ran_longer_than(state, self._config.notify_after):
            reply = turn.reply_ts[0] if turn.reply_ts else ""
            self._feedback.turn_ended(turn.thread, turn.user_id, state, reply)
        # A terminated session is replaced when the next message to it is refused (see _start_turn).
        await self.drain(turn.thread)

    async def start_over(self, thread: ThreadKey, *, key: str) -> StartOver:
        """Archive ``thread``'s session and give the thread a fresh one, with the same starter, agent and
        environment (``key`` makes the creation idempotent). ``none``: the thread has no session; ``busy``:
        a turn runs (stop it first); ``done``. Raises ``QoderError`` when Qoder refuses; a session already
        gone or archived is simply replaced."""
        async with self._store.thread_lock(thread):
            old = await self._store.get_session(thread)
            if old is None:
                return "none"
            turn = await self._store.get_turn(old.session_id)
            if turn is not None and turn.active:
                return "busy"
            try:
                await self._qoder.archive(old.session_id)
            except NotFoundError:
                pass
            except ConflictError as error:
                if not error.archived:
                    raise
            fresh, _ = await self._opener.create(
                thread, None, attempt=f":new:{key}", title=old.title, replacing=old
            )
            await self._move_queue(old.session_id, fresh.session_id)
            log.info("session %s archived for %s; %s replaces it", old.session_id, thread, fresh.session_id)
            return "done"

    async def drain(self, thread: ThreadKey) -> None:
        """Send the oldest queued message of the thread's session, if any; it leaves the queue once sent."""
        async with self._store.thread_lock(thread):
            session = await self._store.get_session(thread)
            queued = await self._store.peek_queue(session.session_id) if session else None
            if session is None or queued is None:
                return
            try:
                started = await self._start_turn(session, queued)
            except TRANSIENT as error:
                log.warning("Qoder unavailable while sending queued %s: %s", queued.message_ts, error)
                self._background.spawn(self._drain_later(session), name=f"drain later {session.session_id}")
                return
            except QoderError as error:
                started = False
                self.refuse(IncomingMessage.from_queued(queued), error)
                await self._store.pop_queue(session.session_id, queued.message_ts)
            if started:
                current = await self._store.get_session(thread)
                for sid in {session.session_id, current.session_id if current else session.session_id}:
                    await self._store.pop_queue(sid, queued.message_ts)
                self._feedback.react(thread, queued.message_ts, self._config.reactions.queued, on=False)

    async def _start_turn(self, session: SessionRecord, message: QueuedMessage) -> bool:
        """Send ``message`` and relay the turn it opens; False when the session is busy.

        A session that is gone (deleted, expired, archived, terminated) is replaced by a new one first.
        """
        try:
            await self._opener.send(session, message)
        except ConflictError as error:
            if error.archived:
                return await self._replace_session(session, message)
            if not error.busy:
                raise
            self._watch_foreign_turn(session)
            return False
        except NotFoundError:
            return await self._replace_session(session, message)
        return True

    async def _replace_session(self, old: SessionRecord, message: QueuedMessage) -> bool:
        """The session is gone: start a new one for the thread, say so, and send ``message`` there."""
        log.info("session %s is gone; starting a new one for %s", old.session_id, old.thread)
        self._feedback.notice(old.thread, CONTEXT_LOST_NOTICE)
        fresh, started = await self._opener.create(
            old.thread, message, attempt=f":after:{old.session_id}", replacing=old
        )
        await self._move_queue(old.session_id, fresh.session_id)
        return started or await self._start_turn(fresh, message)

    async def _queue(self, session_id: str, message: QueuedMessage) -> None:
        await self._store.enqueue(session_id, message)
        self._feedback.react(message.thread, message.message_ts, self._config.reactions.queued)

    async def _move_queue(self, old_session: str, new_session: str) -> None:
        while (queued := await self._store.peek_queue(old_session)) is not None:
            await self._store.enqueue(new_session, queued)
            await self._store.pop_queue(old_session, queued.message_ts)

    def _watch_foreign_turn(self, session: SessionRecord) -> None:
        """Qoder says busy but no turn of ours runs: wait for the session to go idle, then drain the queue."""
        if self._relay.is_relaying(session.session_id) or session.session_id in self._watched:
            return
        self._watched.add(session.session_id)
        self._background.spawn(self._drain_when_idle(session), name=f"drain {session.session_id}")

    async def _drain_when_idle(self, session: SessionRecord, poll_seconds: float = 2.0) -> None:
        try:
            for _ in range(BUSY_POLLS):
                await self._background.sleep(poll_seconds)
                try:
                    current = await self._qoder.get_session(session.session_id)
                except QoderError as error:
                    log.warning("polling %s failed: %s", session.session_id, error)
                    continue
                if current.status not in ("running", "canceling"):
                    break
        finally:
            self._watched.discard(session.session_id)
        await self.drain(session.thread)

    async def _drain_later(self, session: SessionRecord) -> None:
        session_id = session.session_id
        for delay in RETRY_DELAYS:
            await self._background.sleep(delay)
            if await self._store.queue_length(session_id) == 0:
                return
            turn = await self._store.get_turn(session_id)
            if turn is not None and turn.active:
                return  # a turn started meanwhile; its end drains the queue
            try:
                await self._qoder.get_session(session_id)
            except TRANSIENT:
                continue
            except QoderError:
                pass  # e.g. the session is gone: draining replaces it
            await self.drain(session.thread)
            return


def final_reaction(state: TurnState, reactions: Reactions) -> str:
    """The reaction that tells how a turn ended; for an outcome turn, how its last verdict went."""
    if state.phase == "stopped":
        return reactions.stopped
    if state.phase != "done":
        return reactions.failed
    result = state.outcome.result if state.outcome is not None else "satisfied"
    if result == "satisfied":
        return reactions.done
    if result == "interrupted":
        return reactions.stopped
    return reactions.failed if result == "failed" else reactions.missed
