"""The Store contract, run against SqliteStore (temporary file) and RedisStore (real Redis, unique prefix).

Redis tests use ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) and skip, saying why, only when
no server answers there.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.models import QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.store import RedisStore, SqliteStore, Store, open_store, sqlite_path
from bot.store.sqlite import SCHEMA_VERSION
from tests.unit.fake_time import FakeClock

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

T1 = ThreadKey("T1", "C1", "1700000000.000100")
T2 = ThreadKey("T1", "C1", "1700000000.000200")
T3 = ThreadKey("T1", "C1", "1700000000.000300")
OTHER_CHANNEL = ThreadKey("T1", "C2", "1700000000.000400")
OTHER_TEAM = ThreadKey("T2", "C1", "1700000000.000500")


def msg(ts: str, text: str = "hi", thread: ThreadKey = T1) -> QueuedMessage:
    return QueuedMessage(thread=thread, message_ts=ts, user="U1", text=text)


def turn(
    session_id: str, *, active: bool = True, thread: ThreadKey = T1, updated_at: float = 1.0
) -> TurnRecord:
    return TurnRecord(session_id=session_id, thread=thread, cursor=None, active=active, updated_at=updated_at)


# -- fixtures ---------------------------------------------------------------------------------------


async def _redis_unreachable_reason() -> str | None:
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        await client.ping()
    except Exception as exc:
        return f"Redis not reachable at {REDIS_URL} ({type(exc).__name__}: {exc}); set TEST_REDIS_URL"
    finally:
        await client.aclose()
    return None


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A fresh key prefix on the test Redis; every key under it is deleted afterwards."""
    reason = await _redis_unreachable_reason()
    if reason:
        if os.environ.get("QODER_SLACK_REQUIRE_REDIS"):  # CI has a Redis server: its absence is a failure
            pytest.fail(reason)
        pytest.skip(reason)
    prefix = f"qoder-slack-test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        client = aioredis.from_url(REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@asynccontextmanager
async def store_of_kind(kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh ``SqliteStore`` (``kind="sqlite"``, a file in ``tmp_path``) or ``RedisStore`` (``"redis"``)."""
    if kind == "sqlite":
        sqlite = SqliteStore(str(tmp_path / "store.db"))
        try:
            yield sqlite
        finally:
            await sqlite.close()
    else:
        async with redis_prefix() as prefix:
            redis = RedisStore(REDIS_URL, prefix=prefix)
            try:
                yield redis
            finally:
                await redis.close()


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of_kind(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async with redis_prefix() as value:
        yield value


# -- contract: sessions -----------------------------------------------------------------------------


async def test_session_roundtrip_and_reverse_lookup(store: Store) -> None:
    record = SessionRecord(thread=T1, session_id="s-1", created_at=100.5, title="why is CI red?")
    await store.save_session(record)

    assert await store.get_session(T1) == record
    assert await store.thread_for_session("s-1") == T1
    assert await store.get_session(T2) is None
    assert await store.thread_for_session("s-2") is None


async def test_save_session_replaces_mapping(store: Store) -> None:
    await store.save_session(SessionRecord(T1, "s-old", 100.0))
    await store.save_session(SessionRecord(T1, "s-new", 200.0, "retry"))

    assert await store.get_session(T1) == SessionRecord(T1, "s-new", 200.0, "retry")
    assert await store.thread_for_session("s-new") == T1
    assert await store.thread_for_session("s-old") is None
    assert [r.session_id for r in await store.sessions_in_channel("T1", "C1")] == ["s-new"]


async def test_sessions_in_channel_newest_first_limited_and_scoped(store: Store) -> None:
    await store.save_session(SessionRecord(T2, "s-2", 200.0))
    await store.save_session(SessionRecord(T1, "s-1", 100.0))
    await store.save_session(SessionRecord(T3, "s-3", 300.0))
    await store.save_session(SessionRecord(OTHER_CHANNEL, "s-other-channel", 400.0))
    await store.save_session(SessionRecord(OTHER_TEAM, "s-other-team", 500.0))

    listed = await store.sessions_in_channel("T1", "C1")
    assert [r.session_id for r in listed] == ["s-3", "s-2", "s-1"]
    assert listed[0] == SessionRecord(T3, "s-3", 300.0)
    assert [r.session_id for r in await store.sessions_in_channel("T1", "C1", limit=2)] == ["s-3", "s-2"]
    assert [r.session_id for r in await store.sessions_in_channel("T2", "C1")] == ["s-other-team"]
    assert await store.sessions_in_channel("T1", "C9") == []


# -- contract: message index ------------------------------------------------------------------------


async def test_message_index_lookups(store: Store) -> None:
    await store.index_message("C1", T1.thread_ts, T1)
    await store.index_message("C1", "1700000001.000001", T1)
    await store.index_message("C1", "1700000002.000002", T2)
    await store.index_message("C2", "1700000001.000001", OTHER_CHANNEL)

    assert await store.thread_for_message("C1", T1.thread_ts) == T1
    assert await store.thread_for_message("C1", "1700000001.000001") == T1
    assert await store.thread_for_message("C1", "1700000002.000002") == T2
    assert await store.thread_for_message("C2", "1700000001.000001") == OTHER_CHANNEL
    assert await store.thread_for_message("C1", "1700000009.000009") is None

    await store.index_message("C1", "1700000001.000001", T3)
    assert await store.thread_for_message("C1", "1700000001.000001") == T3


# -- contract: de-duplication -----------------------------------------------------------------------


async def test_claim_event_once_then_release(store: Store) -> None:
    assert await store.claim_event("Ev1", 60) is True
    assert await store.claim_event("Ev1", 60) is False
    assert await store.claim_event("C1:1700000000.000100", 60) is True

    await store.release_event("Ev1")
    assert await store.claim_event("Ev1", 60) is True
    await store.release_event("never-claimed")


async def test_concurrent_claims_of_one_key_yield_exactly_one_winner(store: Store) -> None:
    results = await asyncio.gather(*(store.claim_event("Ev-race", 60) for _ in range(20)))
    assert results.count(True) == 1

    distinct = await asyncio.gather(*(store.claim_event(f"Ev-{i}", 60) for i in range(20)))
    assert all(distinct)


# -- contract: turns --------------------------------------------------------------------------------


async def test_turn_roundtrip_keeps_every_field(store: Store) -> None:
    record = TurnRecord(
        session_id="s-1",
        thread=T1,
        cursor="evt_42",
        reply_ts=["1700000001.000001", "1700000002.000002"],
        state_json='{"text": "héllo ✓", "nested": {"a": [1, 2]}}',
        active=True,
        user_ts="1700000000.000900",
        updated_at=1234.5,
        user_id="U123",
        start_event_id="evt_41",
    )
    await store.save_turn(record)
    assert await store.get_turn("s-1") == record
    assert await store.get_turn("s-2") is None

    fresh = TurnRecord(session_id="s-1", thread=T1, cursor=None)
    await store.save_turn(fresh)
    assert await store.get_turn("s-1") == fresh


async def test_active_turns_follow_the_active_flag(store: Store) -> None:
    assert await store.active_turns() == []
    await store.save_turn(turn("s-1", updated_at=1.0))
    await store.save_turn(turn("s-2", thread=T2, updated_at=2.0))
    await store.save_turn(turn("s-3", thread=T3, active=False))

    assert sorted(t.session_id for t in await store.active_turns()) == ["s-1", "s-2"]

    await store.save_turn(turn("s-1", active=False, updated_at=3.0))
    active = await store.active_turns()
    assert [t.session_id for t in active] == ["s-2"]
    assert active[0] == turn("s-2", thread=T2, updated_at=2.0)
    ended = await store.get_turn("s-1")
    assert ended is not None and ended.active is False

    await store.save_turn(turn("s-3", thread=T3, active=True, updated_at=4.0))
    assert sorted(t.session_id for t in await store.active_turns()) == ["s-2", "s-3"]


async def test_resting_turns_are_the_inactive_ones_saved_since(store: Store) -> None:
    await store.save_turn(turn("s-1", active=False, updated_at=5.0))
    await store.save_turn(turn("s-2", thread=T2, active=False, updated_at=1.0))
    await store.save_turn(turn("s-3", thread=T3, active=True, updated_at=9.0))
    assert [t.session_id for t in await store.resting_turns(0.0)] == ["s-2", "s-1"]
    assert [t.session_id for t in await store.resting_turns(2.0)] == ["s-1"]
    await store.save_turn(turn("s-1", active=True, updated_at=6.0))  # paused, then going on again
    assert await store.resting_turns(2.0) == []
    await store.save_turn(turn("s-3", thread=T3, active=False, updated_at=10.0))
    assert await store.resting_turns(2.0) == [turn("s-3", thread=T3, active=False, updated_at=10.0)]


# -- contract: queue --------------------------------------------------------------------------------


async def test_queue_is_fifo_and_pop_removes_by_ts(store: Store) -> None:
    assert await store.peek_queue("s-1") is None
    assert await store.queue_length("s-1") == 0

    first, second, third = msg("1.000001", "first"), msg("1.000002", "second ✓"), msg("1.000003", "third")
    for m in (first, second, third):
        await store.enqueue("s-1", m)
    await store.enqueue("s-2", msg("9.000009", "elsewhere", thread=T2))

    assert await store.queue_length("s-1") == 3
    assert await store.peek_queue("s-1") == first
    assert await store.peek_queue("s-1") == first  # peeking does not remove

    await store.pop_queue("s-1", "1.000002")  # from the middle
    await store.pop_queue("s-1", "1.999999")  # absent: no-op
    assert await store.queue_length("s-1") == 2
    await store.pop_queue("s-1", "1.000001")
    assert await store.peek_queue("s-1") == third
    await store.pop_queue("s-1", "1.000003")
    assert await store.peek_queue("s-1") is None
    assert await store.queue_length("s-1") == 0

    assert await store.queue_length("s-2") == 1
    assert await store.peek_queue("s-2") == msg("9.000009", "elsewhere", thread=T2)


async def test_queued_keys_lists_exactly_the_non_empty_queues(store: Store) -> None:
    assert await store.queued_keys() == []
    await store.enqueue("s-1", msg("1.000001"))
    await store.enqueue("s-0", msg("1.000002"))
    await store.enqueue("s-2", msg("1.000003"))
    await store.pop_queue("s-2", "1.000003")
    assert await store.queued_keys() == ["s-0", "s-1"]


async def test_queue_keeps_order_under_concurrent_enqueues(store: Store) -> None:
    for i in range(10):
        await store.enqueue("s-1", msg(f"2.{i:06d}"))
    await asyncio.gather(*(store.enqueue(f"s-{i}", msg(f"3.{i:06d}")) for i in range(2, 12)))

    seen = []
    while (head := await store.peek_queue("s-1")) is not None:
        seen.append(head.message_ts)
        await store.pop_queue("s-1", head.message_ts)
    assert seen == [f"2.{i:06d}" for i in range(10)]
    assert [await store.queue_length(f"s-{i}") for i in range(2, 12)] == [1] * 10


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


# -- SqliteStore ------------------------------------------------------------------------------------


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_sqlite_schema_created_on_first_run(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "qoder.db"
    store = await SqliteStore.open(str(path))
    try:
        assert path.exists()
        assert {"sessions", "message_index", "seen_events", "turns", "queue"} <= _tables(path)
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()
    finally:
        await store.close()


async def test_sqlite_data_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "qoder.db")
    store = SqliteStore(path)
    await store.save_session(SessionRecord(T1, "s-1", 100.0, "title"))
    await store.index_message("C1", "1.000001", T1)
    await store.save_turn(TurnRecord("s-1", T1, "evt_9", ["1.000002"], "{}", True, "1.000001"))
    await store.enqueue("s-1", msg("1.000003"))
    assert await store.claim_event("Ev1", 3600) is True
    await store.close()

    reopened = SqliteStore(path)
    try:
        assert await reopened.get_session(T1) == SessionRecord(T1, "s-1", 100.0, "title")
        assert await reopened.thread_for_message("C1", "1.000001") == T1
        assert await reopened.active_turns() == [
            TurnRecord("s-1", T1, "evt_9", ["1.000002"], "{}", True, "1.000001")
        ]
        assert await reopened.peek_queue("s-1") == msg("1.000003")
        assert await reopened.claim_event("Ev1", 3600) is False
    finally:
        await reopened.close()


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        SqliteStore(str(path))


async def test_sqlite_claim_event_expires_after_ttl(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(str(tmp_path / "qoder.db"), clock=clock)
    try:
        assert await store.claim_event("Ev-ttl", 10) is True
        clock.now += 9.9
        assert await store.claim_event("Ev-ttl", 10) is False
        clock.now += 0.1
        assert await store.claim_event("Ev-ttl", 60) is True
        assert await store.claim_event("Ev-ttl", 60) is False
    finally:
        await store.close()


def _seen_keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        keys = {row[0] for row in conn.execute("SELECT key FROM seen_events")}
    conn.close()
    return keys


async def test_sqlite_prunes_expired_claims_and_index_entries_at_most_once_a_minute(tmp_path: Path) -> None:
    path = tmp_path / "qoder.db"
    clock = FakeClock()
    store = SqliteStore(str(path), clock=clock, message_ttl_seconds=30)
    try:
        await asyncio.gather(*(store.claim_event(f"old-{i}", 10) for i in range(5)))
        await store.claim_event("kept", 3600)
        await store.index_message("C1", "1.000001", T1)
        clock.now += 59
        await store.claim_event("too-soon", 3600)  # the first claim pruned; the next prune is due at 60 s
        assert _seen_keys(path) == {*(f"old-{i}" for i in range(5)), "kept", "too-soon"}
        clock.now += 1
        await store.claim_event("new", 3600)
        assert _seen_keys(path) == {"kept", "too-soon", "new"}
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM message_index").fetchone()[0] == 0
    conn.close()


async def test_sqlite_message_index_entries_expire(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(str(tmp_path / "qoder.db"), message_ttl_seconds=30, clock=clock)
    try:
        await store.index_message("C1", "1.000001", T1)
        clock.now += 29.9
        assert await store.thread_for_message("C1", "1.000001") == T1
        clock.now += 0.1
        assert await store.thread_for_message("C1", "1.000001") is None
    finally:
        await store.close()


async def test_sqlite_closed_store_raises_and_close_is_idempotent(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "qoder.db"))
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.get_session(T1)
    assert await store.ping() is False


# -- RedisStore -------------------------------------------------------------------------------------


async def test_redis_keys_live_under_prefix_and_message_index_has_long_ttl(prefix: str) -> None:
    store = RedisStore(REDIS_URL, prefix=prefix)
    raw = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        await store.save_session(SessionRecord(T1, "s-1", 100.0))
        await store.index_message("C1", "1.000001", T1)
        await store.save_turn(turn("s-1"))
        await store.enqueue("s-1", msg("1.000002"))
        await store.claim_event("Ev1", 60)

        keys = [key async for key in raw.scan_iter(match=prefix + "*")]
        assert len(keys) == 8
        msg_keys = [key for key in keys if ":msg:" in key]
        assert len(msg_keys) == 1
        assert 29 * 86400 * 1000 < await raw.pttl(msg_keys[0]) <= 30 * 86400 * 1000
    finally:
        await raw.aclose()
        await store.close()


async def test_redis_active_set_drops_ended_turns(prefix: str) -> None:
    store = RedisStore(REDIS_URL, prefix=prefix)
    raw = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        await store.save_turn(turn("s-1"))
        assert await raw.smembers(prefix + "active-turns") == {"s-1"}
        await store.save_turn(turn("s-1", active=False))
        assert await raw.smembers(prefix + "active-turns") == set()
    finally:
        await raw.aclose()
        await store.close()


async def test_redis_gives_claims_and_index_entries_their_ttl(prefix: str) -> None:
    # Redis keeps these TTLs on its own clock: check the TTL each key gets, and what a lapsed one allows.
    store = RedisStore(REDIS_URL, prefix=prefix, message_ttl_seconds=90)
    raw = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        await store.index_message("C1", "1.000001", T1)
        assert await store.thread_for_message("C1", "1.000001") == T1
        assert 89_000 < await raw.pttl(f"{prefix}msg:C1:1.000001") <= 90_000

        assert await store.claim_event("Ev-ttl", 60) is True
        assert await store.claim_event("Ev-ttl", 60) is False
        assert 59_000 < await raw.pttl(f"{prefix}seen:Ev-ttl") <= 60_000
        await raw.pexpire(f"{prefix}seen:Ev-ttl", 1)  # let it lapse now
        await asyncio.sleep(0.005)
        assert await store.claim_event("Ev-ttl", 60) is True
    finally:
        await raw.aclose()
        await store.close()


async def test_redis_replicas_share_state(prefix: str) -> None:
    replicas = [RedisStore(REDIS_URL, prefix=prefix) for _ in range(3)]
    try:
        claims = await asyncio.gather(*(r.claim_event("Ev-shared", 60) for r in replicas for _ in range(5)))
        assert claims.count(True) == 1

        await replicas[0].save_session(SessionRecord(T1, "s-1", 100.0))
        await replicas[1].enqueue("s-1", msg("1.000001"))
        assert await replicas[2].get_session(T1) == SessionRecord(T1, "s-1", 100.0)
        assert await replicas[2].peek_queue("s-1") == msg("1.000001")
    finally:
        for r in replicas:
            await r.close()


async def test_redis_stores_with_different_prefixes_are_isolated(prefix: str) -> None:
    a = RedisStore(REDIS_URL, prefix=prefix + "a:")
    b = RedisStore(REDIS_URL, prefix=prefix + "b:")
    try:
        await a.save_session(SessionRecord(T1, "s-1", 100.0))
        assert await a.claim_event("Ev1", 60) is True
        assert await b.get_session(T1) is None
        assert await b.claim_event("Ev1", 60) is True
    finally:
        await a.close()
        await b.close()


async def test_redis_ping_is_false_when_unreachable() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", connect_timeout=0.5)
    try:
        assert await store.ping() is False
    finally:
        await store.close()


# -- open_store -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///./qoder-slack.db", "./qoder-slack.db"),
        ("sqlite:///data/qoder.db", "data/qoder.db"),
        ("sqlite:////var/lib/qoder/qoder.db", "/var/lib/qoder/qoder.db"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("SQLite:///x.db", "x.db"),
    ],
)
def test_sqlite_path_parsing(url: str, path: str) -> None:
    assert sqlite_path(url) == path


async def test_open_store_sqlite_relative_and_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///data/qoder.db")
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    memory = open_store("sqlite://:memory:")
    try:
        assert isinstance(relative, SqliteStore) and isinstance(absolute, SqliteStore)
        assert isinstance(memory, SqliteStore)
        assert (tmp_path / "data" / "qoder.db").exists()
        assert (tmp_path / "abs.db").exists()
        assert await memory.claim_event("Ev1", 60) is True
        assert await memory.claim_event("Ev1", 60) is False
    finally:
        for s in (relative, absolute, memory):
            await s.close()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache.example:6380/2"])
async def test_open_store_redis(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, RedisStore)
    await store.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://admin:hunter2@db.example/qoder",
        "qoder.db",
        "",
        "sqlite://",
        "sqlite:///",
        "sqlite://relative.db",
        "memory://",
    ],
)
def test_open_store_rejects_unsupported_urls(url: str) -> None:
    with pytest.raises(ValueError, match="STORE_URL") as info:
        open_store(url)
    assert "hunter2" not in str(info.value)
