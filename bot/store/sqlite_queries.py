"""The SQL of ``SqliteStore``: plain functions over one connection, each a single statement or a read.

Record columns come from ``bot.store.sqlite_rows``, so a record field is never listed here by hand. Times
(``now``, ``expires_at``) are passed in: the store owns the clock.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from bot.models import ChannelDefaults, PendingQuestion, QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.store.sqlite_rows import (
    CHANNEL_DEFAULTS_COLUMNS,
    MESSAGE_COLUMNS,
    QUESTION_COLUMNS,
    SESSION_COLUMNS,
    TURN_COLUMNS,
)

__all__ = [
    "INBOX",
    "QUEUE",
    "MessageLists",
    "active_turns",
    "claim_event",
    "delete_question",
    "get_channel_defaults",
    "get_session",
    "get_turn",
    "index_message",
    "prune_expired",
    "questions_in",
    "release_event",
    "resting_turns",
    "save_channel_defaults",
    "save_question",
    "save_session",
    "save_turns",
    "sessions_in_channel",
    "sessions_started_by",
    "thread_for_message",
    "thread_for_session",
]

_S = SESSION_COLUMNS
_T = TURN_COLUMNS
_M = MESSAGE_COLUMNS
_D = CHANNEL_DEFAULTS_COLUMNS
_Q = QUESTION_COLUMNS

# -- sessions ---------------------------------------------------------------------------------------


def get_session(conn: sqlite3.Connection, thread: ThreadKey) -> SessionRecord | None:
    row = conn.execute(f"SELECT {_S.sql} FROM sessions WHERE thread = ?", (str(thread),)).fetchone()
    return _S.record(row) if row else None


def save_session(conn: sqlite3.Connection, record: SessionRecord) -> None:
    # team, channel and thread_ts repeat the thread key so that a channel's sessions can be indexed.
    t = record.thread
    conn.execute(
        f"INSERT OR REPLACE INTO sessions (team, channel, thread_ts, {_S.sql}) VALUES (?, ?, ?, {_S.marks})",
        (t.team, t.channel, t.thread_ts, *_S.values(record)),
    )


def thread_for_session(conn: sqlite3.Connection, session_id: str) -> ThreadKey | None:
    row = conn.execute(
        "SELECT thread FROM sessions WHERE session_id = ? ORDER BY created_at DESC LIMIT 1", (session_id,)
    ).fetchone()
    return ThreadKey.parse(row[0]) if row else None


def sessions_in_channel(conn: sqlite3.Connection, team: str, channel: str, limit: int) -> list[SessionRecord]:
    rows = conn.execute(
        f"SELECT {_S.sql} FROM sessions WHERE team = ? AND channel = ? ORDER BY created_at DESC LIMIT ?",
        (team, channel, max(limit, 0)),
    ).fetchall()
    return [_S.record(row) for row in rows]


def sessions_started_by(conn: sqlite3.Connection, team: str, user: str, limit: int) -> list[SessionRecord]:
    rows = conn.execute(
        f"SELECT {_S.sql} FROM sessions WHERE team = ? AND started_by = ? ORDER BY created_at DESC LIMIT ?",
        (team, user, max(limit, 0)),
    ).fetchall()
    return [_S.record(row) for row in rows]


# -- channel defaults -------------------------------------------------------------------------------


def get_channel_defaults(conn: sqlite3.Connection, team: str, channel: str) -> ChannelDefaults | None:
    row = conn.execute(
        f"SELECT {_D.sql} FROM channel_defaults WHERE team = ? AND channel = ?", (team, channel)
    ).fetchone()
    return _D.record(row) if row else None


def save_channel_defaults(conn: sqlite3.Connection, defaults: ChannelDefaults) -> None:
    if defaults.empty:
        conn.execute(
            "DELETE FROM channel_defaults WHERE team = ? AND channel = ?", (defaults.team, defaults.channel)
        )
        return
    conn.execute(
        f"INSERT OR REPLACE INTO channel_defaults ({_D.sql}) VALUES ({_D.marks})", _D.values(defaults)
    )


# -- message index and de-duplication ---------------------------------------------------------------


def index_message(
    conn: sqlite3.Connection, channel: str, ts: str, thread: ThreadKey, expires_at: float
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO message_index (channel, ts, thread, expires_at) VALUES (?, ?, ?, ?)",
        (channel, ts, str(thread), expires_at),
    )


def thread_for_message(conn: sqlite3.Connection, channel: str, ts: str, now: float) -> ThreadKey | None:
    row = conn.execute(
        "SELECT thread FROM message_index WHERE channel = ? AND ts = ? AND expires_at > ?", (channel, ts, now)
    ).fetchone()
    return ThreadKey.parse(row[0]) if row else None


def prune_expired(conn: sqlite3.Connection, now: float) -> None:
    """Delete de-duplication claims and message-index entries that expired by ``now``."""
    conn.execute("DELETE FROM seen_events WHERE expires_at <= ?", (now,))
    conn.execute("DELETE FROM message_index WHERE expires_at <= ?", (now,))


def claim_event(conn: sqlite3.Connection, key: str, now: float, expires_at: float) -> bool:
    # One statement, so atomic even across processes sharing the file: insert, or take over a row whose
    # claim has expired; an unexpired row is left alone (rowcount 0).
    cur = conn.execute(
        "INSERT INTO seen_events (key, expires_at) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_events.expires_at <= ?",
        (key, expires_at, now),
    )
    return cur.rowcount == 1


def release_event(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM seen_events WHERE key = ?", (key,))


# -- turns ------------------------------------------------------------------------------------------


def get_turn(conn: sqlite3.Connection, session_id: str) -> TurnRecord | None:
    row = conn.execute(f"SELECT {_T.sql} FROM turns WHERE session_id = ?", (session_id,)).fetchone()
    return _T.record(row) if row else None


def save_turns(conn: sqlite3.Connection, turns: list[TurnRecord]) -> None:
    """Save ``turns`` in one transaction: all or none."""
    with _transaction(conn):
        conn.executemany(
            f"INSERT OR REPLACE INTO turns ({_T.sql}) VALUES ({_T.marks})", [_T.values(t) for t in turns]
        )


def active_turns(conn: sqlite3.Connection) -> list[TurnRecord]:
    rows = conn.execute(
        f"SELECT {_T.sql} FROM turns WHERE active = 1 ORDER BY updated_at, session_id"
    ).fetchall()
    return [_T.record(row) for row in rows]


def resting_turns(conn: sqlite3.Connection, since: float) -> list[TurnRecord]:
    rows = conn.execute(
        f"SELECT {_T.sql} FROM turns WHERE active = 0 AND updated_at >= ? ORDER BY updated_at, session_id",
        (since,),
    ).fetchall()
    return [_T.record(row) for row in rows]


# -- questions waiting for a reply ------------------------------------------------------------------


def save_question(conn: sqlite3.Connection, question: PendingQuestion) -> None:
    conn.execute(f"INSERT OR REPLACE INTO questions ({_Q.sql}) VALUES ({_Q.marks})", _Q.values(question))


def questions_in(conn: sqlite3.Connection, thread: ThreadKey) -> list[PendingQuestion]:
    rows = conn.execute(
        f"SELECT {_Q.sql} FROM questions WHERE thread = ? ORDER BY asked_at, tool_use_id", (str(thread),)
    ).fetchall()
    return [_Q.record(row) for row in rows]


def delete_question(conn: sqlite3.Connection, thread: ThreadKey, tool_use_id: str) -> None:
    conn.execute("DELETE FROM questions WHERE thread = ? AND tool_use_id = ?", (str(thread), tool_use_id))


# -- message lists: session queues and thread inboxes -----------------------------------------------


class MessageLists:
    """FIFO lists of messages in one table, one list per value of its key column, oldest first."""

    def __init__(self, table: str, key_column: str) -> None:
        self._table = table
        self._key = key_column

    def push(self, conn: sqlite3.Connection, key: str, message: QueuedMessage) -> None:
        conn.execute(
            f"INSERT INTO {self._table} ({self._key}, {_M.sql}) VALUES (?, {_M.marks})",
            (key, *_M.values(message)),
        )

    def peek(self, conn: sqlite3.Connection, key: str) -> QueuedMessage | None:
        row = conn.execute(
            f"SELECT {_M.sql} FROM {self._table} WHERE {self._key} = ? ORDER BY id LIMIT 1", (key,)
        ).fetchone()
        return _M.record(row) if row else None

    def remove(self, conn: sqlite3.Connection, key: str, message_ts: str) -> None:
        conn.execute(f"DELETE FROM {self._table} WHERE {self._key} = ? AND message_ts = ?", (key, message_ts))

    def length(self, conn: sqlite3.Connection, key: str) -> int:
        row = conn.execute(f"SELECT COUNT(*) FROM {self._table} WHERE {self._key} = ?", (key,)).fetchone()
        return int(row[0])

    def keys(self, conn: sqlite3.Connection) -> list[str]:
        """Every key with at least one message, sorted."""
        rows = conn.execute(f"SELECT DISTINCT {self._key} FROM {self._table} ORDER BY {self._key}").fetchall()
        return [str(row[0]) for row in rows]


QUEUE = MessageLists("queue", "session_id")
INBOX = MessageLists("inbox", "inbox_thread")


def hold_relay(conn: sqlite3.Connection, session_id: str, owner: str, now: float, expires_at: float) -> bool:
    # One statement: take a free or expired lease, or renew our own; another owner's live lease stays.
    cur = conn.execute(
        "INSERT INTO relay_leases (session_id, owner, expires_at) VALUES (?, ?, ?)"
        " ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"
        " WHERE relay_leases.owner = excluded.owner OR relay_leases.expires_at <= ?",
        (session_id, owner, expires_at, now),
    )
    return cur.rowcount == 1


def hold_relays(
    conn: sqlite3.Connection, session_ids: list[str], owner: str, now: float, expires_at: float
) -> set[str]:
    """``hold_relay`` for each session, in one transaction; the sessions ``owner`` now holds."""
    with _transaction(conn):
        return {sid for sid in session_ids if hold_relay(conn, sid, owner, now, expires_at)}


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """The body's statements as one transaction (the connection is in autocommit mode): all or none."""
    conn.execute("BEGIN")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def release_relay(conn: sqlite3.Connection, session_id: str, owner: str) -> None:
    conn.execute("DELETE FROM relay_leases WHERE session_id = ? AND owner = ?", (session_id, owner))
