"""``SqliteStore``: the embedded default ``Store``, one SQLite file, stdlib ``sqlite3`` only.

Every query runs on one dedicated worker thread that owns the single connection, so calls never block
the event loop and are serialised without further locking. The database uses WAL journal mode
(readers never wait for the writer; ``synchronous=NORMAL`` keeps commits durable across a crash of
the process). The schema is created on open and versioned with ``PRAGMA user_version``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.models import QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.store.serialize import reply_ts_from_json, reply_ts_to_json

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    thread      TEXT PRIMARY KEY,
    team        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    thread_ts   TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    title       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sessions_by_channel ON sessions (team, channel, created_at);
CREATE INDEX IF NOT EXISTS sessions_by_session ON sessions (session_id);

CREATE TABLE IF NOT EXISTS message_index (
    channel     TEXT NOT NULL,
    ts          TEXT NOT NULL,
    thread      TEXT NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (channel, ts)
);
CREATE INDEX IF NOT EXISTS message_index_expiry ON message_index (expires_at);

CREATE TABLE IF NOT EXISTS seen_events (
    key         TEXT PRIMARY KEY,
    expires_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_events_expiry ON seen_events (expires_at);

CREATE TABLE IF NOT EXISTS turns (
    session_id      TEXT PRIMARY KEY,
    thread          TEXT NOT NULL,
    cursor          TEXT,
    reply_ts        TEXT NOT NULL DEFAULT '[]',
    state_json      TEXT NOT NULL DEFAULT '',
    active          INTEGER NOT NULL,
    user_ts         TEXT NOT NULL DEFAULT '',
    updated_at      REAL NOT NULL DEFAULT 0,
    user_id         TEXT NOT NULL DEFAULT '',
    start_event_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS turns_active ON turns (active) WHERE active = 1;

CREATE TABLE IF NOT EXISTS queue (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL,
    thread      TEXT NOT NULL,
    message_ts  TEXT NOT NULL,
    user        TEXT NOT NULL,
    text        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_by_session ON queue (session_id, id);
"""

_TURN_COLUMNS = (
    "session_id, thread, cursor, reply_ts, state_json, active, user_ts, updated_at, user_id, start_event_id"
)

DEFAULT_MESSAGE_TTL = 30 * 24 * 3600.0
_PRUNE_INTERVAL = 60.0


def _connect(path: str) -> sqlite3.Connection:
    """Open ``path``, configure it and bring its schema to ``SCHEMA_VERSION``."""
    if path != ":memory:":
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{path}: schema version {version} is newer than this qoder-slack supports ({SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            conn.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
    except BaseException:
        conn.close()
        raise
    return conn


def _session_from_row(row: tuple[str, str, float, str]) -> SessionRecord:
    thread, session_id, created_at, title = row
    return SessionRecord(ThreadKey.parse(thread), session_id, float(created_at), title)


def _turn_from_row(row: tuple[str, str, str | None, str, str, int, str, float, str, str]) -> TurnRecord:
    (
        session_id,
        thread,
        cursor,
        reply_ts,
        state_json,
        active,
        user_ts,
        updated_at,
        user_id,
        start_event_id,
    ) = row
    return TurnRecord(
        session_id=session_id,
        thread=ThreadKey.parse(thread),
        cursor=cursor,
        reply_ts=reply_ts_from_json(reply_ts),
        state_json=state_json,
        active=bool(active),
        user_ts=user_ts,
        updated_at=float(updated_at),
        user_id=user_id,
        start_event_id=start_event_id,
    )


class SqliteStore:
    """``Store`` backed by one SQLite database file (or ``":memory:"``).

    The file and its parent directories are created if missing. Expired de-duplication keys and
    message-index entries older than ``message_ttl_seconds`` are pruned opportunistically.
    """

    def __init__(self, path: str, *, message_ttl_seconds: float = DEFAULT_MESSAGE_TTL) -> None:
        self._path = path
        self._message_ttl = message_ttl_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            self._conn = self._executor.submit(_connect, path).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        self._next_prune = 0.0
        self._closed = False

    @classmethod
    async def open(cls, path: str, *, message_ttl_seconds: float = DEFAULT_MESSAGE_TTL) -> SqliteStore:
        """Like the constructor, without blocking the event loop while the file is opened."""
        return await asyncio.to_thread(cls, path, message_ttl_seconds=message_ttl_seconds)

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
        def query(conn: sqlite3.Connection) -> SessionRecord | None:
            row = conn.execute(
                "SELECT thread, session_id, created_at, title FROM sessions WHERE thread = ?",
                (str(thread),),
            ).fetchone()
            return _session_from_row(row) if row else None

        return await self._run(query)

    async def save_session(self, record: SessionRecord) -> None:
        t = record.thread
        params = (str(t), t.team, t.channel, t.thread_ts, record.session_id, record.created_at, record.title)
        await self._run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO sessions"
                " (thread, team, channel, thread_ts, session_id, created_at, title)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                params,
            )
        )

    async def thread_for_session(self, session_id: str) -> ThreadKey | None:
        def query(conn: sqlite3.Connection) -> ThreadKey | None:
            row = conn.execute(
                "SELECT thread FROM sessions WHERE session_id = ? ORDER BY created_at DESC LIMIT 1",
                (session_id,),
            ).fetchone()
            return ThreadKey.parse(row[0]) if row else None

        return await self._run(query)

    async def sessions_in_channel(self, team: str, channel: str, limit: int = 20) -> list[SessionRecord]:
        def query(conn: sqlite3.Connection) -> list[SessionRecord]:
            rows = conn.execute(
                "SELECT thread, session_id, created_at, title FROM sessions"
                " WHERE team = ? AND channel = ? ORDER BY created_at DESC LIMIT ?",
                (team, channel, max(limit, 0)),
            ).fetchall()
            return [_session_from_row(row) for row in rows]

        return await self._run(query)

    # -- message index --------------------------------------------------------------------------

    async def index_message(self, channel: str, ts: str, thread: ThreadKey) -> None:
        params = (channel, ts, str(thread), time.time() + self._message_ttl)
        await self._run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO message_index (channel, ts, thread, expires_at) VALUES (?, ?, ?, ?)",
                params,
            )
        )

    async def thread_for_message(self, channel: str, ts: str) -> ThreadKey | None:
        def query(conn: sqlite3.Connection) -> ThreadKey | None:
            row = conn.execute(
                "SELECT thread FROM message_index WHERE channel = ? AND ts = ? AND expires_at > ?",
                (channel, ts, time.time()),
            ).fetchone()
            return ThreadKey.parse(row[0]) if row else None

        return await self._run(query)

    # -- de-duplication -------------------------------------------------------------------------

    async def claim_event(self, key: str, ttl_seconds: float) -> bool:
        def claim(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if now >= self._next_prune:
                self._next_prune = now + _PRUNE_INTERVAL
                conn.execute("DELETE FROM seen_events WHERE expires_at <= ?", (now,))
                conn.execute("DELETE FROM message_index WHERE expires_at <= ?", (now,))
            # One statement, so atomic even across processes sharing the file: insert, or take over
            # a row whose claim has expired; an unexpired row is left alone (rowcount 0).
            cur = conn.execute(
                "INSERT INTO seen_events (key, expires_at) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at"
                " WHERE seen_events.expires_at <= ?",
                (key, now + ttl_seconds, now),
            )
            return cur.rowcount == 1

        return await self._run(claim)

    async def release_event(self, key: str) -> None:
        await self._run(lambda conn: conn.execute("DELETE FROM seen_events WHERE key = ?", (key,)))

    # -- turns ----------------------------------------------------------------------------------

    async def get_turn(self, session_id: str) -> TurnRecord | None:
        def query(conn: sqlite3.Connection) -> TurnRecord | None:
            row = conn.execute(
                f"SELECT {_TURN_COLUMNS} FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()
            return _turn_from_row(row) if row else None

        return await self._run(query)

    async def save_turn(self, turn: TurnRecord) -> None:
        params = (
            turn.session_id,
            str(turn.thread),
            turn.cursor,
            reply_ts_to_json(turn.reply_ts),
            turn.state_json,
            int(turn.active),
            turn.user_ts,
            turn.updated_at,
            turn.user_id,
            turn.start_event_id,
        )
        await self._run(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO turns ({_TURN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
        )

    async def active_turns(self) -> list[TurnRecord]:
        def query(conn: sqlite3.Connection) -> list[TurnRecord]:
            rows = conn.execute(
                f"SELECT {_TURN_COLUMNS} FROM turns WHERE active = 1 ORDER BY updated_at, session_id"
            ).fetchall()
            return [_turn_from_row(row) for row in rows]

        return await self._run(query)

    # -- queue ----------------------------------------------------------------------------------

    async def enqueue(self, session_id: str, message: QueuedMessage) -> None:
        params = (session_id, str(message.thread), message.message_ts, message.user, message.text)
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO queue (session_id, thread, message_ts, user, text) VALUES (?, ?, ?, ?, ?)",
                params,
            )
        )

    async def peek_queue(self, session_id: str) -> QueuedMessage | None:
        def query(conn: sqlite3.Connection) -> QueuedMessage | None:
            row = conn.execute(
                "SELECT thread, message_ts, user, text FROM queue WHERE session_id = ? ORDER BY id LIMIT 1",
                (session_id,),
            ).fetchone()
            if row is None:
                return None
            thread, message_ts, user, text = row
            return QueuedMessage(ThreadKey.parse(thread), message_ts, user, text)

        return await self._run(query)

    async def pop_queue(self, session_id: str, message_ts: str) -> None:
        await self._run(
            lambda conn: conn.execute(
                "DELETE FROM queue WHERE session_id = ? AND message_ts = ?", (session_id, message_ts)
            )
        )

    async def queue_length(self, session_id: str) -> int:
        def query(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute("SELECT COUNT(*) FROM queue WHERE session_id = ?", (session_id,)).fetchone()[0]
            )

        return await self._run(query)

    async def queued_keys(self) -> list[str]:
        def query(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT DISTINCT session_id FROM queue ORDER BY session_id").fetchall()
            return [str(row[0]) for row in rows]

        return await self._run(query)

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
