"""``GroupCommit``: writes that queue behind a batch in flight go together in the next one, newest value
per key, and each writer hears how its own batch went."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.models import ThreadKey, TurnRecord
from bot.store.group_commit import GroupCommit
from bot.store.redis import RedisStore
from bot.store.sqlite import SqliteStore
from tests.unit.test_store import store_of_kind


class Batches:
    """A ``write_batch`` that records each batch and holds it until released."""

    def __init__(self) -> None:
        self.written: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    async def __call__(self, batch: list[str]) -> None:
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        self.written.append(batch)


async def test_an_idle_write_goes_at_once() -> None:
    batches = Batches()
    commit: GroupCommit[str, str] = GroupCommit(batches)
    await commit.write("a", "a1")
    assert batches.written == [["a1"]]


async def test_writes_behind_a_batch_in_flight_go_together_newest_first_wins() -> None:
    batches = Batches()
    batches.gate.clear()
    commit: GroupCommit[str, str] = GroupCommit(batches)
    first = asyncio.create_task(commit.write("a", "a1"))
    await asyncio.sleep(0)  # a1 is being written
    later = [
        asyncio.create_task(commit.write(key, value))
        for key, value in [("b", "b1"), ("a", "a2"), ("c", "c1"), ("b", "b2")]
    ]
    await asyncio.sleep(0)
    assert not first.done() and not any(task.done() for task in later)
    batches.gate.set()
    await asyncio.gather(first, *later)
    assert batches.written == [["a1"], ["b2", "a2", "c1"]]


async def test_a_failed_batch_fails_its_writers_and_the_next_batch_still_goes() -> None:
    batches = Batches()
    batches.gate.clear()
    commit: GroupCommit[str, str] = GroupCommit(batches)
    batches.fail_next = True
    doomed = [asyncio.create_task(commit.write(key, key)) for key in ("a", "b")]
    await asyncio.sleep(0)
    survivor = asyncio.create_task(commit.write("c", "c"))  # queued behind the failing batch
    batches.gate.set()
    for task in doomed:
        with pytest.raises(OSError, match="disk full"):
            await task
    await survivor
    assert batches.written == [["c"]]


def turn(session: str, cursor: str) -> TurnRecord:
    return TurnRecord(
        session_id=session,
        thread=ThreadKey("T1", "C1", f"{session}.0"),
        user_ts="1.0",
        user_id="U1",
        active=True,
        cursor=cursor,
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_store_saves_hundreds_of_turns_at_once_in_few_writes(kind: str, tmp_path: Path) -> None:
    async with store_of_kind(kind, tmp_path) as store:
        assert isinstance(store, SqliteStore | RedisStore)
        writes = 0
        save_batch = store._save_turns

        async def counted(turns: list[TurnRecord]) -> None:
            nonlocal writes
            writes += 1
            await save_batch(turns)

        store._turn_saves = GroupCommit(counted)
        await asyncio.gather(*(store.save_turn(turn(f"s{i}", "e1")) for i in range(300)))
        await asyncio.gather(*(store.save_turn(turn(f"s{i}", "e2")) for i in range(300)))
        for i in range(300):
            saved = await store.get_turn(f"s{i}")
            assert saved is not None and saved.cursor == "e2"
        assert {t.session_id for t in await store.active_turns()} == {f"s{i}" for i in range(300)}
    assert writes <= 10, writes


async def test_a_sqlite_batch_that_fails_saves_none_of_its_turns(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "bot.db"))
    try:
        await store._run(
            lambda conn: conn.execute(
                "CREATE TRIGGER refuse_s2 BEFORE INSERT ON turns WHEN NEW.session_id = 's2'"
                " BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
        with pytest.raises(sqlite3.IntegrityError, match="refused"):
            await store._save_turns([turn("s1", "e1"), turn("s2", "e1")])
        assert await store.get_turn("s1") is None, "the turn before the failure was rolled back"
        await store.save_turn(turn("s1", "e2"))
        saved = await store.get_turn("s1")
        assert saved is not None and saved.cursor == "e2", "the connection is usable afterwards"
    finally:
        await store.close()
