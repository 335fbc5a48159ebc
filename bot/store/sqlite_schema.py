"""The SQLite schema as a list of steps, and opening a database file at the newest of them.

``PRAGMA user_version`` is the number of steps a database has had. Opening applies the missing ones in
one transaction, so a file is either upgraded completely or left as it was. A step is never edited once
released: a change to the records (a new field in ``bot.models``) gets a new step at the end.
"""

from __future__ import annotations

import os
import sqlite3

from bot.store.sqlite_rows import (
    CHANNEL_DEFAULTS_COLUMNS,
    MESSAGE_COLUMNS,
    QUESTION_COLUMNS,
    SESSION_COLUMNS,
    TURN_COLUMNS,
)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "connect"]

Step = tuple[str, ...]

# 1: the tables as first released (IF NOT EXISTS: files from before versioning may have some of them).
_TABLES: Step = (
    """CREATE TABLE IF NOT EXISTS sessions (
        thread      TEXT PRIMARY KEY,
        team        TEXT NOT NULL,
        channel     TEXT NOT NULL,
        thread_ts   TEXT NOT NULL,
        session_id  TEXT NOT NULL,
        created_at  REAL NOT NULL,
        title       TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX IF NOT EXISTS sessions_by_channel ON sessions (team, channel, created_at)",
    "CREATE INDEX IF NOT EXISTS sessions_by_session ON sessions (session_id)",
    """CREATE TABLE IF NOT EXISTS message_index (
        channel     TEXT NOT NULL,
        ts          TEXT NOT NULL,
        thread      TEXT NOT NULL,
        expires_at  REAL NOT NULL,
        PRIMARY KEY (channel, ts)
    )""",
    "CREATE INDEX IF NOT EXISTS message_index_expiry ON message_index (expires_at)",
    """CREATE TABLE IF NOT EXISTS seen_events (
        key         TEXT PRIMARY KEY,
        expires_at  REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS seen_events_expiry ON seen_events (expires_at)",
    """CREATE TABLE IF NOT EXISTS turns (
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
    )""",
    "CREATE INDEX IF NOT EXISTS turns_active ON turns (active) WHERE active = 1",
    """CREATE TABLE IF NOT EXISTS queue (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id  TEXT NOT NULL,
        thread      TEXT NOT NULL,
        message_ts  TEXT NOT NULL,
        user        TEXT NOT NULL,
        text        TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS queue_by_session ON queue (session_id, id)",
)

# 2: inboxes get their own table, keyed by inbox_thread; they used to be queue rows whose session_id was
# "inbox:" + the thread key.
_INBOX: Step = (
    """CREATE TABLE inbox (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        inbox_thread  TEXT NOT NULL,
        thread        TEXT NOT NULL,
        message_ts    TEXT NOT NULL,
        user          TEXT NOT NULL,
        text          TEXT NOT NULL
    )""",
    "CREATE INDEX inbox_by_thread ON inbox (inbox_thread, id)",
    "INSERT INTO inbox (inbox_thread, thread, message_ts, user, text)"
    " SELECT substr(session_id, 7), thread, message_ts, user, text FROM queue"
    " WHERE substr(session_id, 1, 6) = 'inbox:' ORDER BY id",
    "DELETE FROM queue WHERE substr(session_id, 1, 6) = 'inbox:'",
)

# 3: sessions remember who started them and what they run (listed per person on the Home tab), a message
# that starts a session may choose its agent, environment and outcome, and channels have defaults.
_STARTS: Step = (
    "ALTER TABLE sessions ADD COLUMN started_by TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE sessions ADD COLUMN agent_id TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE sessions ADD COLUMN environment_id TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX sessions_by_starter ON sessions (team, started_by, created_at)",
    *(
        f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT ''"
        for table in ("queue", "inbox")
        for column in ("agent_id", "environment_id", "outcome")
    ),
    """CREATE TABLE channel_defaults (
        team            TEXT NOT NULL,
        channel         TEXT NOT NULL,
        agent_id        TEXT NOT NULL DEFAULT '',
        environment_id  TEXT NOT NULL DEFAULT '',
        updated_by      TEXT NOT NULL DEFAULT '',
        updated_at      REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (team, channel)
    )""",
)


# 4: which process relays each running turn, until when (leases that other processes respect).
_RELAY_LEASES: Step = (
    """CREATE TABLE relay_leases (
        session_id  TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        expires_at  REAL NOT NULL
    )""",
)

# 5: questions an agent's custom tool asked in a thread, waiting for a person's reply (``ask_thread``).
_QUESTIONS: Step = (
    """CREATE TABLE questions (
        thread       TEXT NOT NULL,
        session_id   TEXT NOT NULL,
        tool_use_id  TEXT NOT NULL,
        asked_of     TEXT NOT NULL DEFAULT '',
        asked_at     REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (thread, tool_use_id)
    )""",
)

# 6: a message keeps the files shared with it (JSON), fetched when it is sent.
_FILES: Step = tuple(
    f"ALTER TABLE {table} ADD COLUMN files TEXT NOT NULL DEFAULT '[]'" for table in ("queue", "inbox")
)

# 7: the reply taken as a question's answer, kept until Qoder has it.
_ANSWERS: Step = tuple(
    f"ALTER TABLE questions ADD COLUMN {column} TEXT NOT NULL DEFAULT ''"
    for column in ("answer", "answer_ts")
)

MIGRATIONS: tuple[Step, ...] = (_TABLES, _INBOX, _STARTS, _RELAY_LEASES, _QUESTIONS, _FILES, _ANSWERS)
SCHEMA_VERSION = len(MIGRATIONS)

# Tables that hold a record, and the columns (named after its fields) that it must have.
_RECORD_COLUMNS = {
    "sessions": SESSION_COLUMNS.names,
    "turns": TURN_COLUMNS.names,
    "queue": MESSAGE_COLUMNS.names,
    "inbox": MESSAGE_COLUMNS.names,
    "channel_defaults": CHANNEL_DEFAULTS_COLUMNS.names,
    "questions": QUESTION_COLUMNS.names,
}


def connect(path: str) -> sqlite3.Connection:
    """Open ``path`` (creating it and its directories), in WAL mode, with every step of ``MIGRATIONS`` applied.

    ``RuntimeError`` when the file is of a newer version, or lacks a column that a record field needs.
    """
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if _version(conn, path) < SCHEMA_VERSION:
            _upgrade(conn, path)
        _check_columns(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _version(conn: sqlite3.Connection, path: str) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"{path}: schema version {version} is newer than this qoder-slack supports ({SCHEMA_VERSION})"
        )
    return version


def _upgrade(conn: sqlite3.Connection, path: str) -> None:
    # IMMEDIATE takes the write lock before the version is read again: of several processes opening the
    # same file at once, one applies the steps and the others then find nothing left to do.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn, path)
        for step in MIGRATIONS[version:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _check_columns(conn: sqlite3.Connection, path: str) -> None:
    for table, names in _RECORD_COLUMNS.items():
        present = {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}
        missing = [name for name in names if name not in present]
        if missing:
            raise RuntimeError(
                f"{path}: table {table} has no column {', '.join(missing)}; a schema step is missing"
            )
