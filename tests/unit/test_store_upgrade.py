"""Data written by earlier versions opens, keeps its content and works: a schema-version-1 SQLite file
(``data/store-v1.db``, described in ``data/README.md``) and the records earlier versions left in Redis."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.models import QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.store import RedisStore, SqliteStore, sqlite_schema
from bot.store.sqlite_rows import TURN_COLUMNS
from tests.unit.test_store import REDIS_URL, redis_prefix
from tests.unit.test_store_records import MESSAGE_JSON, OLD_TURN_JSON, SESSION_JSON, TURN_JSON, TURN_RECORD

V1_DB = Path(__file__).parent / "data" / "store-v1.db"

T1 = ThreadKey("T1", "C1", "1700000000.000100")
T2 = ThreadKey("T1", "C1", "1700000000.000200")
T3 = ThreadKey("T1", "C2", "1700000000.000300")

V1_TURN = TURN_RECORD  # the same turn was written to the file


@pytest.fixture
def v1_path(tmp_path: Path) -> Path:
    """A copy of the version-1 file (opening it writes, and WAL mode adds files beside it)."""
    path = tmp_path / "store.db"
    shutil.copyfile(V1_DB, path)
    return path


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_the_fixture_is_at_version_1() -> None:
    assert _user_version(V1_DB) == 1


async def test_a_version_1_file_keeps_its_data(v1_path: Path) -> None:
    store = await SqliteStore.open(str(v1_path))
    try:
        assert _user_version(v1_path) == sqlite_schema.SCHEMA_VERSION
        assert await store.get_session(T1) == SessionRecord(T1, "s-1", 1700000000.5, "why is CI red? ✓")
        assert await store.sessions_in_channel("T1", "C1") == [
            SessionRecord(T2, "s-2", 1700000100.0),
            SessionRecord(T1, "s-1", 1700000000.5, "why is CI red? ✓"),
        ]
        assert await store.thread_for_session("s-2") == T2
        assert await store.thread_for_message("C1", "1700000001.000001") == T1
        assert await store.thread_for_message("C2", "1700000000.000300") == T3
        assert await store.claim_event("event:Ev1", 60) is False
        assert await store.get_turn("s-1") == V1_TURN
        assert await store.get_turn("s-2") == TurnRecord(
            "s-2", T2, None, [], "", False, "1700000100.000001", 1700000101.0, "U2", ""
        )
        assert await store.active_turns() == [V1_TURN]
        assert await store.queue_length("s-1") == 2
        assert await store.peek_queue("s-1") == QueuedMessage(T1, "1700000005.000005", "U1", "next, please")
    finally:
        await store.close()


async def test_a_version_1_file_works_after_the_upgrade_and_reopens(v1_path: Path) -> None:
    store = SqliteStore(str(v1_path))
    try:
        fresh = TurnRecord("s-3", T3, None, updated_at=1.0)
        await store.save_session(SessionRecord(T3, "s-3", 1700000300.0, "new"))
        await store.save_turn(fresh)
        await store.enqueue("s-3", QueuedMessage(T3, "1.000001", "U1", "queued"))
        assert await store.claim_event("event:Ev2", 60) is True
    finally:
        await store.close()

    reopened = SqliteStore(str(v1_path))
    try:
        assert await reopened.get_session(T3) == SessionRecord(T3, "s-3", 1700000300.0, "new")
        assert await reopened.get_turn("s-3") == fresh
        assert await reopened.peek_queue("s-3") == QueuedMessage(T3, "1.000001", "U1", "queued")
        assert await reopened.claim_event("event:Ev2", 60) is False
    finally:
        await reopened.close()


async def test_a_failing_step_leaves_the_file_as_it_was(
    v1_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = (*sqlite_schema.MIGRATIONS, ("CREATE TABLE extra (x TEXT)", "NOT SQL"))
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", broken)
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", len(broken))
    with pytest.raises(sqlite3.OperationalError):
        SqliteStore(str(v1_path))
    monkeypatch.undo()

    assert _user_version(v1_path) == 1
    conn = sqlite3.connect(v1_path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        inbox_rows = conn.execute("SELECT COUNT(*) FROM queue WHERE session_id LIKE 'inbox:%'").fetchone()[0]
    finally:
        conn.close()
    assert "inbox" not in tables and "extra" not in tables
    assert inbox_rows == 3


async def test_a_record_field_without_its_column_is_refused_on_open(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await (await SqliteStore.open(str(path))).close()
    conn = sqlite3.connect(path)
    try:
        conn.execute("ALTER TABLE turns DROP COLUMN start_event_id")
    finally:
        conn.close()
    with pytest.raises(RuntimeError, match="turns has no column start_event_id"):
        SqliteStore(str(path))


async def test_a_fresh_file_has_a_column_for_every_record_field(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await (await SqliteStore.open(str(path))).close()
    conn = sqlite3.connect(path)
    try:
        turn_columns = [row[1] for row in conn.execute("PRAGMA table_info(turns)")]
    finally:
        conn.close()
    assert turn_columns == list(TURN_COLUMNS.names)


# -- Redis ------------------------------------------------------------------------------------------


async def test_redis_records_written_by_earlier_versions_load() -> None:
    async with redis_prefix() as prefix:
        raw = aioredis.from_url(REDIS_URL, decode_responses=True)
        store = RedisStore(REDIS_URL, prefix=prefix)
        try:
            await raw.set(prefix + f"session:{T1}", SESSION_JSON)
            await raw.set(prefix + "turn:s-1", TURN_JSON)
            await raw.set(prefix + "turn:s-3", OLD_TURN_JSON)
            await raw.sadd(prefix + "active-turns", "s-1")
            await raw.rpush(prefix + "queue:s-1", MESSAGE_JSON)

            assert await store.get_session(T1) == SessionRecord(T1, "s-1", 1700000000.5, "why is CI red? ✓")
            assert await store.active_turns() == [V1_TURN]
            assert (await store.get_turn("s-3")) == TurnRecord(
                "s-3", T1, "evt_7", ["1.000002"], "{}", False, "1.000001", 12.0
            )
            assert await store.peek_queue("s-1") == QueuedMessage(T1, "1700000005.000005", "U1", 'say "hi" ✓')
        finally:
            await store.close()
            await raw.aclose()
