"""The Store protocol: everything the bot must remember across restarts and replicas."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from bot.models import ChannelDefaults, PendingQuestion, QueuedMessage, SessionRecord, ThreadKey, TurnRecord


class Store(Protocol):
    """Persistence for thread↔session mapping, turn progress, de-duplication, queued messages, channel
    defaults and the per-thread lock.

    Implementations: ``SqliteStore`` (embedded default) and ``RedisStore`` (several replicas).
    All methods but ``thread_lock`` are coroutines; all are safe to call concurrently from one event loop.
    """

    async def get_session(self, thread: ThreadKey) -> SessionRecord | None:
        """The session serving ``thread``, or None."""

    async def save_session(self, record: SessionRecord) -> None:
        """Map ``record.thread`` to ``record.session_id`` (replacing any earlier mapping)."""

    async def thread_for_session(self, session_id: str) -> ThreadKey | None:
        """Reverse lookup of ``save_session``."""

    async def sessions_in_channel(self, team: str, channel: str, limit: int = 20) -> list[SessionRecord]:
        """Sessions of a channel, newest first."""

    async def sessions_started_by(self, team: str, user: str, limit: int = 20) -> list[SessionRecord]:
        """Sessions of workspace ``team`` whose ``started_by`` is ``user``, newest first."""

    async def get_channel_defaults(self, team: str, channel: str) -> ChannelDefaults | None:
        """What new sessions in the channel run, or None when nothing was set for it."""

    async def save_channel_defaults(self, defaults: ChannelDefaults) -> None:
        """Replace the channel's defaults; ``defaults.empty`` removes them."""

    async def index_message(self, channel: str, ts: str, thread: ThreadKey) -> None:
        """Remember that message ``(channel, ts)`` belongs to ``thread`` (root, user message or bot reply)."""

    async def thread_for_message(self, channel: str, ts: str) -> ThreadKey | None:
        """The thread a message was indexed under, or None."""

    async def claim_event(self, key: str, ttl_seconds: float) -> bool:
        """Atomically mark ``key`` as seen. True the first time within ``ttl_seconds``, else False."""

    async def release_event(self, key: str) -> None:
        """Forget a claimed key, so that a retried delivery of a failed event is processed."""

    async def get_turn(self, session_id: str) -> TurnRecord | None:
        """The latest turn record of a session, or None."""

    async def save_turn(self, turn: TurnRecord) -> None:
        """Insert or replace the turn record of ``turn.session_id``."""

    async def active_turns(self) -> list[TurnRecord]:
        """All turn records with ``active`` set (for resuming relays after a restart)."""

    async def resting_turns(self, since: float) -> list[TurnRecord]:
        """Turn records saved inactive (their turn ended, or paused for approval) at ``updated_at >= since``,
        oldest first (for re-arming what a paused turn waits for after a restart)."""

    async def save_question(self, question: PendingQuestion) -> None:
        """Remember a question waiting in ``question.thread`` (replacing one of the same tool use)."""

    async def questions_in(self, thread: ThreadKey) -> list[PendingQuestion]:
        """The questions waiting in ``thread``, oldest ``asked_at`` first."""

    async def delete_question(self, thread: ThreadKey, tool_use_id: str) -> None:
        """Forget the question of ``tool_use_id`` in ``thread`` (no-op if absent)."""

    async def enqueue(self, session_id: str, message: QueuedMessage) -> None:
        """Append to the session's FIFO of messages waiting for the running turn to end."""

    async def peek_queue(self, session_id: str) -> QueuedMessage | None:
        """The oldest queued message, not removed."""

    async def pop_queue(self, session_id: str, message_ts: str) -> None:
        """Remove the queued message with ``message_ts`` (no-op if absent)."""

    async def queue_length(self, session_id: str) -> int:
        """How many messages wait for this session."""

    async def queued_keys(self) -> list[str]:
        """Every session id that has at least one queued message, sorted."""

    async def inbox_add(self, thread: ThreadKey, message: QueuedMessage) -> None:
        """Append to the thread's inbox: messages received but not yet sent, queued or refused."""

    async def inbox_peek(self, thread: ThreadKey) -> QueuedMessage | None:
        """The oldest message in the thread's inbox, not removed."""

    async def inbox_remove(self, thread: ThreadKey, message_ts: str) -> None:
        """Remove the inbox message with ``message_ts`` (no-op if absent)."""

    async def threads_with_inbox(self) -> list[ThreadKey]:
        """Every thread whose inbox holds at least one message, sorted."""

    def thread_lock(self, thread: ThreadKey) -> AbstractAsyncContextManager[None]:
        """Mutual exclusion for work on one thread: ``async with store.thread_lock(thread): ...``.

        Waiters of one process enter in the order they came. ``SqliteStore`` excludes within the
        process; ``RedisStore`` across every replica, with a lease that a holder which stops renewing
        (e.g. dies) loses after its TTL. Memory is held only for threads locked or waited for.
        """

    async def hold_relay(self, session_id: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew ``owner``'s lease on relaying ``session_id`` for ``ttl_seconds``; False while
        another owner's lease on it has not expired. Atomic across every process sharing the store."""

    async def hold_relays(self, session_ids: Sequence[str], owner: str, ttl_seconds: float) -> set[str]:
        """``hold_relay`` for each of ``session_ids``, in one round trip; the ones ``owner`` now holds."""

    async def release_relay(self, session_id: str, owner: str) -> None:
        """Give up ``owner``'s lease on ``session_id`` (no-op when it holds none), so another process may
        adopt the turn at once."""

    async def ping(self) -> bool:
        """True when the backing store answers."""

    async def close(self) -> None:
        """Release connections."""
