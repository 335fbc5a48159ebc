"""``SqliteStore``: the embedded default ``Store``, one SQLite file, stdlib ``sqlite3`` only.

Every query runs on one dedicated worker thread that owns the single connection, so calls never block
the event loop and are serialised without further locking. The database uses WAL journal mode
(readers never wait for the writer; ``synchronous=NORMAL`` keeps commits durable across a crash of
the process). The schema is brought up to date on open (see ``bot.store.sqlite_schema``); the SQL
itself is in ``bot.store.sqlite_queries``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from bot.models import ChannelDefaults, PendingQuestion, QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.store import sqlite_queries as q
from bot.store.group_commit import GroupCommit
from bot.store.locks import LocalLocks
from bot.store.sqlite_schema import SCHEMA_VERSION, connect

__all__ = ["DEFAULT_MESSAGE_TTL", "SCHEMA_VERSION", "SqliteStore"]

T = TypeVar("T")

DEFAULT_MESSAGE_TTL = 30 * 24 * 3600.0
_PRUNE_INTERVAL = 60.0


class SqliteStore:
    """``Store`` backed by one SQLite database file (or ``":memory:"``).

    The file and its parent directories are created if missing. Expired de-duplication keys and
    message-index entries older than ``message_ttl_seconds`` are pruned opportunistically. Expiry is
    measured with ``clock`` (seconds, ``time.time`` by default). Thread locks hold within this process.
    """

    def __init__(
        self,
        path: str,
        *,
        message_ttl_seconds: float = DEFAULT_MESSAGE_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._message_ttl = message_ttl_seconds
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            self._conn = self._executor.submit(connect, path).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        self._locks: LocalLocks[ThreadKey] = LocalLocks()
        self._next_prune = 0.0
        self._closed = False
        self._turn_saves: GroupCommit[str, TurnRecord] = GroupCommit(self._save_turns)

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        message_ttl_seconds: float = DEFAULT_MESSAGE_TTL,
        clock: Callable[[], float] = time.time,
    ) -> SqliteStore:
        """Like the constructor, without blocking the event loop while the file is opened."""
        return await asyncio.to_thread(cls, path, message_ttl_seconds=message_ttl_seconds, clock=clock)

    @property
    def path(self) -> str:
        return self._path

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError("SqliteStore is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._conn)

    # -- sessions -------------------------------------------------------------------------------

    async def get_session(self, thread: ThreadKey) -> SessionRecord | None:
        return await self._run(lambda conn: q.get_session(conn, thread))

    async def save_session(self, record: SessionRecord) -> None:
        await self._run(lambda conn: q.save_session(conn, record))

    async def thread_for_session(self, session_id: str) -> ThreadKey | None:
        return await self._run(lambda conn: q.thread_for_session(conn, session_id))

    async def sessions_in_channel(self, team: str, channel: str, limit: int = 20) -> list[SessionRecord]:
        return await self._run(lambda conn: q.sessions_in_channel(conn, team, channel, limit))

    async def sessions_started_by(self, team: str, user: str, limit: int = 20) -> list[SessionRecord]:
        return await self._run(lambda conn: q.sessions_started_by(conn, team, user, limit))

    # -- channel defaults -----------------------------------------------------------------------

    async def get_channel_defaults(self, team: str, channel: str) -> ChannelDefaults | None:
        return await self._run(lambda conn: q.get_channel_defaults(conn, team, channel))

    async def save_channel_defaults(self, defaults: ChannelDefaults) -> None:
        await self._run(lambda conn: q.save_channel_defaults(conn, defaults))

    # -- message index --------------------------------------------------------------------------

    async def index_message(self, channel: str, ts: str, thread: ThreadKey) -> None:
        expires_at = self._clock() + self._message_ttl
        await self._run(lambda conn: q.index_message(conn, channel, ts, thread, expires_at))

    async def thread_for_message(self, channel: str, ts: str) -> ThreadKey | None:
        now = self._clock()
        return await self._run(lambda conn: q.thread_for_message(conn, channel, ts, now))

    # -- de-duplication -------------------------------------------------------------------------

    async def claim_event(self, key: str, ttl_seconds: float) -> bool:
        now = self._clock()
        prune = now >= self._next_prune
        if prune:
            self._next_prune = now + _PRUNE_INTERVAL

        def claim(conn: sqlite3.Connection) -> bool:
            if prune:
                q.prune_expired(conn, now)
            return q.claim_event(conn, key, now, now + ttl_seconds)

        return await self._run(claim)

    async def release_event(self, key: str) -> None:
        await self._run(lambda conn: q.release_event(conn, key))

    # -- relay leases ---------------------------------------------------------------------------

    async def hold_relay(self, session_id: str, owner: str, ttl_seconds: float) -> bool:
        now = self._clock()
        return await self._run(lambda conn: q.hold_relay(conn, session_id, owner, now, now + ttl_seconds))

    async def hold_relays(self, session_ids: Sequence[str], owner: str, ttl_seconds: float) -> set[str]:
        now = self._clock()
        sessions = list(session_ids)
        return await self._run(lambda conn: q.hold_relays(conn, sessions, owner, now, now + ttl_seconds))

    async def release_relay(self, session_id: str, owner: str) -> None:
        await self._run(lambda conn: q.release_relay(conn, session_id, owner))

    # -- turns ----------------------------------------------------------------------------------

    async def get_turn(self, session_id: str) -> TurnRecord | None:
        return await self._run(lambda conn: q.get_turn(conn, session_id))

    async def save_turn(self, turn: TurnRecord) -> None:
        """Saves of turns that arrive while others are being written are written together, in one
        transaction (see ``GroupCommit``): each still returns only once its turn is durable."""
        await self._turn_saves.write(turn.session_id, turn)

    async def _save_turns(self, turns: list[TurnRecord]) -> None:
        await self._run(lambda conn: q.save_turns(conn, turns))

    async def active_turns(self) -> list[TurnRecord]:
        return await self._run(q.active_turns)

    async def resting_turns(self, since: float) -> list[TurnRecord]:
        return await self._run(lambda conn: q.resting_turns(conn, since))

    # -- questions ------------------------------------------------------------------------------

    async def save_question(self, question: PendingQuestion) -> None:
        await self._run(lambda conn: q.save_question(conn, question))

    async def questions_in(self, thread: ThreadKey) -> list[PendingQuestion]:
        return await self._run(lambda conn: q.questions_in(conn, thread))

    async def delete_question(self, thread: ThreadKey, tool_use_id: str) -> None:
        await self._run(lambda conn: q.delete_question(conn, thread, tool_use_id))

    # -- queue ----------------------------------------------------------------------------------

    async def enqueue(self, session_id: str, message: QueuedMessage) -> None:
        await self._run(lambda conn: q.QUEUE.push(conn, session_id, message))

    async def peek_queue(self, session_id: str) -> QueuedMessage | None:
        return await self._run(lambda conn: q.QUEUE.peek(conn, session_id))

    async def pop_queue(self, session_id: str, message_ts: str) -> None:
        await self._run(lambda conn: q.QUEUE.remove(conn, session_id, message_ts))

    async def queue_length(self, session_id: str) -> int:
        return await self._run(lambda conn: q.QUEUE.length(conn, session_id))

    async def queued_keys(self) -> list[str]:
        return await self._run(q.QUEUE.keys)

    # -- inboxes --------------------------------------------------------------------------------

    async def inbox_add(self, thread: ThreadKey, message: QueuedMessage) -> None:
        await self._run(lambda conn: q.INBOX.push(conn, str(thread), message))

    async def inbox_peek(self, thread: ThreadKey) -> QueuedMessage | None:
        return await self._run(lambda conn: q.INBOX.peek(conn, str(thread)))

    async def inbox_remove(self, thread: ThreadKey, message_ts: str) -> None:
        await self._run(lambda conn: q.INBOX.remove(conn, str(thread), message_ts))

    async def threads_with_inbox(self) -> list[ThreadKey]:
        return sorted(ThreadKey.parse(key) for key in await self._run(q.INBOX.keys))

    # -- thread locks ---------------------------------------------------------------------------

    def thread_lock(self, thread: ThreadKey) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(thread)

    # -- lifecycle ------------------------------------------------------------------------------

    async def ping(self) -> bool:
        try:
            return await self._run(lambda conn: conn.execute("SELECT 1").fetchone() == (1,))
        except Exception:
            return False

    async def close(self) -> None:
        """Close the connection and stop the worker thread; later calls raise ``RuntimeError``."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)
