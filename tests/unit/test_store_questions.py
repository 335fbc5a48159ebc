"""What custom tools need of the store: questions waiting in a thread for a reply, and the turns that
paused lately (answered after a restart). Run against SqliteStore and RedisStore (see test_store.py for how
Redis is chosen)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.models import PendingQuestion
from bot.store import RedisStore, SqliteStore, Store, sqlite_schema
from tests.unit.test_store import T1, T2, store_of_kind


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of_kind(request.param, tmp_path) as opened:
        yield opened


async def test_questions_are_listed_oldest_first_per_thread_and_deleted_one_by_one(store: Store) -> None:
    late = PendingQuestion(T1, "s-1", "evt_b", asked_of="U1", asked_at=200.0)
    early = PendingQuestion(T1, "s-1", "evt_a", asked_of="U1", asked_at=100.0)
    elsewhere = PendingQuestion(T2, "s-2", "evt_c", asked_at=50.0)
    for question in (late, early, elsewhere):
        await store.save_question(question)

    assert await store.questions_in(T1) == [early, late]
    assert await store.questions_in(T2) == [elsewhere]

    await store.delete_question(T1, "evt_a")
    await store.delete_question(T1, "evt_unknown")  # no-op
    assert await store.questions_in(T1) == [late]
    await store.delete_question(T1, "evt_b")
    assert await store.questions_in(T1) == []
    assert await store.questions_in(T2) == [elsewhere]


async def test_saving_a_question_of_the_same_tool_use_replaces_it(store: Store) -> None:
    await store.save_question(PendingQuestion(T1, "s-1", "evt_a", asked_at=1.0))
    await store.save_question(PendingQuestion(T1, "s-1", "evt_a", asked_of="U2", asked_at=2.0))
    assert await store.questions_in(T1) == [PendingQuestion(T1, "s-1", "evt_a", asked_of="U2", asked_at=2.0)]


async def test_the_reply_taken_as_an_answer_is_kept_with_its_question(store: Store) -> None:
    waiting = PendingQuestion(T1, "s-1", "evt_a", asked_of="U1", asked_at=1.0)
    await store.save_question(waiting)
    answered = PendingQuestion(
        T1, "s-1", "evt_a", asked_of="U1", asked_at=1.0, answer="main, please", answer_ts="1700000000.000200"
    )
    await store.save_question(answered)
    assert await store.questions_in(T1) == [answered]
    await store.save_question(waiting)  # Qoder failed: it waits for a reply again
    assert await store.questions_in(T1) == [waiting]


async def test_a_redis_question_stored_before_answers_were_kept_still_reads(tmp_path: Path) -> None:
    async with store_of_kind("redis", tmp_path) as store:
        assert isinstance(store, RedisStore)
        fields = {
            "asked_at": 5.0,
            "asked_of": "U1",
            "session_id": "s-1",
            "thread": str(T1),
            "tool_use_id": "evt_a",
        }
        await store._redis.hset(store._key("questions", str(T1)), "evt_a", json.dumps(fields))
        assert await store.questions_in(T1) == [
            PendingQuestion(T1, "s-1", "evt_a", asked_of="U1", asked_at=5.0)
        ]


async def test_sqlite_questions_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "q.db")
    first = await SqliteStore.open(path)
    question = PendingQuestion(T1, "s-1", "evt_a", asked_of="U1", asked_at=5.0)
    try:
        await first.save_question(question)
    finally:
        await first.close()
    reopened = await SqliteStore.open(path)
    try:
        assert await reopened.questions_in(T1) == [question]
    finally:
        await reopened.close()


def sqlite_file_of_version(path: Path, version: int, *statements: str) -> None:
    """A store file as version ``version`` left it, holding what ``statements`` insert."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for step in sqlite_schema.MIGRATIONS[:version]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


async def test_sqlite_file_of_the_previous_version_gets_the_questions_table(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    sqlite_file_of_version(path, 4)
    store = await SqliteStore.open(str(path))
    try:
        await store.save_question(PendingQuestion(T1, "s-1", "evt_a"))
        assert [q.tool_use_id for q in await store.questions_in(T1)] == ["evt_a"]
    finally:
        await store.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == sqlite_schema.SCHEMA_VERSION


async def test_sqlite_questions_of_version_6_keep_waiting_and_can_keep_an_answer(tmp_path: Path) -> None:
    path = tmp_path / "v6.db"
    sqlite_file_of_version(
        path,
        6,
        "INSERT INTO questions (thread, session_id, tool_use_id, asked_of, asked_at)"
        f" VALUES ('{T1}', 's-1', 'evt_a', 'U1', 5.0)",
    )
    store = await SqliteStore.open(str(path))
    try:
        waiting = PendingQuestion(T1, "s-1", "evt_a", asked_of="U1", asked_at=5.0)
        assert await store.questions_in(T1) == [waiting]
        answered = PendingQuestion(
            T1, "s-1", "evt_a", asked_of="U1", asked_at=5.0, answer="yes", answer_ts="1.2"
        )
        await store.save_question(answered)
        assert await store.questions_in(T1) == [answered]
    finally:
        await store.close()
