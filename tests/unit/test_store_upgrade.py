"""Data written by earlier versions opens, keeps its content and works: a schema-version-1 SQLite file
(``data/store-v1.db``, described in ``data/README.md``) and the keys earlier versions left in Redis."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.models import QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.outbox import Outbox
from bot.store import RedisStore, SqliteStore, sqlite_schema
from bot.store.sqlite_rows import TURN_COLUMNS
from bot.threads import ThreadsConfig, UseCases
from tests.unit.fake_time import FakeClock
from tests.unit.outbox_fakes import RecordingTransport
from tests.unit.test_store import REDIS_URL, redis_prefix
from tests.unit.test_store_records import MESSAGE_JSON, OLD_TURN_JSON, SESSION_JSON, TURN_JSON, TURN_RECORD
from tests.unit.threads_fakes import FakeQoderSessions, FakeRelay

V1_DB = Path(__file__).parent / "data" / "store-v1.db"

T1 = ThreadKey("T1", "C1", "1700000000.000100")
T2 = ThreadKey("T1", "C1", "1700000000.000200")
T3 = ThreadKey("T1", "C2", "1700000000.000300")

V1_TURN = TURN_RECORD  # the same turn was written to the file
V1_INBOX_T3 = [
    QueuedMessage(T3, "1700000000.000300", "U1", "first in inbox"),
    QueuedMessage(T3, "1700000300.000301", "U2", "second in inbox"),
]
V1_INBOX_T2 = [QueuedMessage(T2, "1700000200.000201", "U2", "inbox of T2")]


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


async def test_version_1_inbox_rows_become_inboxes_in_order(v1_path: Path) -> None:
    store = SqliteStore(str(v1_path))
    try:
        assert await store.queued_keys() == ["s-1"]
        assert await store.threads_with_inbox() == [T2, T3]
        assert await _drain_inbox(store, T3) == V1_INBOX_T3
        assert await _drain_inbox(store, T2) == V1_INBOX_T2
        assert await store.threads_with_inbox() == []
    finally:
        await store.close()


async def test_a_version_1_file_works_after_the_upgrade_and_reopens(v1_path: Path) -> None:
    store = SqliteStore(str(v1_path))
    try:
        fresh = TurnRecord("s-3", T3, None, updated_at=1.0)
        await store.save_session(SessionRecord(T3, "s-3", 1700000300.0, "new"))
        await store.save_turn(fresh)
        await store.enqueue("s-3", QueuedMessage(T3, "1.000001", "U1", "queued"))
        await store.inbox_add(T1, QueuedMessage(T1, "1.000002", "U1", "received"))
        assert await store.claim_event("event:Ev2", 60) is True
    finally:
        await store.close()

    reopened = SqliteStore(str(v1_path))
    try:
        assert await reopened.get_session(T3) == SessionRecord(T3, "s-3", 1700000300.0, "new")
        assert await reopened.get_turn("s-3") == fresh
        assert await reopened.queued_keys() == ["s-1", "s-3"]
        assert await reopened.threads_with_inbox() == [T1, T2, T3]
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


async def test_recovery_after_the_upgrade_hands_over_version_1_inboxes(v1_path: Path) -> None:
    store = SqliteStore(str(v1_path))
    clock = FakeClock()
    qoder, relay = FakeQoderSessions(), FakeRelay()
    outbox = Outbox(RecordingTransport(clock), clock=clock, sleep=clock.sleep)
    use_cases = UseCases.build(qoder, store, relay, outbox, ThreadsConfig("agent", "env"))
    try:
        await use_cases.intake.recover()
        # one turn per thread: the first message of each inbox is sent, the rest waits for its turn's end
        assert sorted(sent.text for sent in qoder.sent) == ["first in inbox", "inbox of T2"]
        t3 = await store.get_session(T3)
        assert t3 is not None
        assert await store.peek_queue(t3.session_id) == V1_INBOX_T3[1]
        assert await store.threads_with_inbox() == []
        assert await store.thread_for_message("C1", "1700000200.000201") == T2
    finally:
        await use_cases.aclose()
        await outbox.aclose()
        await store.close()


# -- Redis ------------------------------------------------------------------------------------------


async def test_redis_records_and_inboxes_written_by_earlier_versions_load() -> None:
    async with redis_prefix() as prefix:
        raw = aioredis.from_url(REDIS_URL, decode_responses=True)
        store = RedisStore(REDIS_URL, prefix=prefix)
        try:
            old_t1 = '{"message_ts":"1.000001","text":"old","thread":"T1:C1:1700000000.000100","user":"U1"}'
            await raw.set(prefix + f"session:{T1}", SESSION_JSON)
            await raw.set(prefix + "turn:s-1", TURN_JSON)
            await raw.set(prefix + "turn:s-3", OLD_TURN_JSON)
            await raw.sadd(prefix + "active-turns", "s-1")
            await raw.rpush(prefix + "queue:s-1", MESSAGE_JSON)
            await raw.rpush(prefix + f"queue:inbox:{T1}", old_t1)
            await raw.rpush(prefix + f"queue:inbox:{T3}", *(_json(m) for m in V1_INBOX_T3))
            # A message received by this version before the old ones were moved still comes after them.
            await store.inbox_add(T1, QueuedMessage(T1, "1.000002", "U1", "new"))

            assert await store.get_session(T1) == SessionRecord(T1, "s-1", 1700000000.5, "why is CI red? ✓")
            assert await store.active_turns() == [V1_TURN]
            assert (await store.get_turn("s-3")) == TurnRecord(
                "s-3", T1, "evt_7", ["1.000002"], "{}", False, "1.000001", 12.0
            )
            assert await store.queued_keys() == ["s-1"]
            assert await store.threads_with_inbox() == [T1, T3]
            assert [m.text for m in await _drain_inbox(store, T1)] == ["old", "new"]
            assert await _drain_inbox(store, T3) == V1_INBOX_T3
            assert [key async for key in raw.scan_iter(match=prefix + "queue:inbox:*")] == []
        finally:
            await store.close()
            await raw.aclose()


async def test_redis_legacy_inboxes_are_moved_once_by_whichever_replica_comes_first() -> None:
    async with redis_prefix() as prefix:
        raw = aioredis.from_url(REDIS_URL, decode_responses=True)
        replicas = [RedisStore(REDIS_URL, prefix=prefix) for _ in range(3)]
        try:
            await raw.rpush(prefix + f"queue:inbox:{T3}", *(_json(m) for m in V1_INBOX_T3))
            seen = [await r.threads_with_inbox() for r in replicas]
            assert seen == [[T3]] * 3
            assert await raw.lrange(prefix + f"inbox:{T3}", 0, -1) == [_json(m) for m in V1_INBOX_T3]
        finally:
            for r in replicas:
                await r.close()
            await raw.aclose()


# -- helpers ----------------------------------------------------------------------------------------


async def _drain_inbox(store: SqliteStore | RedisStore, thread: ThreadKey) -> list[QueuedMessage]:
    seen = []
    while (head := await store.inbox_peek(thread)) is not None:
        seen.append(head)
        await store.inbox_remove(thread, head.message_ts)
    return seen


def _json(message: QueuedMessage) -> str:
    return (
        f'{{"message_ts":"{message.message_ts}","text":"{message.text}",'
        f'"thread":"{message.thread}","user":"{message.user}"}}'
    )
