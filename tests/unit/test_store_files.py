"""Messages keep the files shared with them in inboxes and queues (SqliteStore and RedisStore), and a SQLite
file from before files were kept (schema version 4) upgrades with its messages intact."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.models import QueuedMessage, SlackFile
from bot.store import SqliteStore, Store, sqlite_schema
from tests.unit.test_store import T1, T2, store_of_kind

SHOT = SlackFile("F1", "shot.png", "image/png", 2048, "https://files.example/F1/download/shot.png", "hosted")
DOC = SlackFile("F2", "plan.gdoc", "application/vnd.google-apps.document", 0, "", "external")


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of_kind(request.param, tmp_path) as opened:
        yield opened


async def test_files_of_messages_survive_queue_and_inbox(store: Store) -> None:
    shared = QueuedMessage(T1, "1.000001", "U1", "", files=(SHOT, DOC))
    plain = QueuedMessage(T1, "1.000002", "U1", "no files")
    await store.inbox_add(T1, shared)
    await store.enqueue("s-1", shared)
    await store.enqueue("s-1", plain)

    assert await store.inbox_peek(T1) == shared
    assert await store.peek_queue("s-1") == shared
    await store.pop_queue("s-1", shared.message_ts)
    assert await store.peek_queue("s-1") == plain


def _version_4_file(path: Path) -> None:
    """A database as the version before files existed left it, with a queued and an inbox message."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for step in sqlite_schema.MIGRATIONS[:4]:
            for statement in step:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 4")
        conn.execute(
            "INSERT INTO queue (session_id, thread, message_ts, user, text) VALUES (?, ?, ?, ?, ?)",
            ("s-1", str(T1), "1.000001", "U1", "queued before"),
        )
        conn.execute(
            "INSERT INTO inbox (inbox_thread, thread, message_ts, user, text) VALUES (?, ?, ?, ?, ?)",
            (str(T2), str(T2), "2.000001", "U2", "received before"),
        )
    finally:
        conn.close()


async def test_a_version_4_file_upgrades_and_keeps_its_messages(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    _version_4_file(path)
    store = await SqliteStore.open(str(path))
    try:
        assert await store.peek_queue("s-1") == QueuedMessage(T1, "1.000001", "U1", "queued before")
        assert await store.inbox_peek(T2) == QueuedMessage(T2, "2.000001", "U2", "received before")
        await store.inbox_add(T2, QueuedMessage(T2, "2.000002", "U2", "with a file", files=(SHOT,)))
        await store.inbox_remove(T2, "2.000001")
        assert await store.inbox_peek(T2) == QueuedMessage(T2, "2.000002", "U2", "with a file", files=(SHOT,))
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert int(conn.execute("PRAGMA user_version").fetchone()[0]) == sqlite_schema.SCHEMA_VERSION
    finally:
        conn.close()
