"""Thread inboxes, run against SqliteStore and RedisStore (see test_store.py for how Redis is chosen)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.models import QueuedMessage, ThreadKey
from bot.store import RedisStore, SqliteStore, Store
from tests.unit.test_store import REDIS_URL, T1, T2, T3, msg, redis_prefix, store_of_kind


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of_kind(request.param, tmp_path) as opened:
        yield opened


async def _contents(store: Store, thread: ThreadKey) -> list[str]:
    seen = []
    while (head := await store.inbox_peek(thread)) is not None:
        seen.append(head.message_ts)
        await store.inbox_remove(thread, head.message_ts)
    return seen


async def test_inbox_is_fifo_and_remove_is_by_ts(store: Store) -> None:
    assert await store.inbox_peek(T1) is None
    first, second, third = msg("1.000001", "first"), msg("1.000002", "second ✓"), msg("1.000003", "third")
    for message in (first, second, third):
        await store.inbox_add(T1, message)

    assert await store.inbox_peek(T1) == first
    assert await store.inbox_peek(T1) == first  # peeking does not remove
    await store.inbox_remove(T1, "1.000002")  # from the middle
    await store.inbox_remove(T1, "1.999999")  # absent: no-op
    await store.inbox_remove(T2, "1.000001")  # another thread's: no-op
    assert await store.inbox_peek(T1) == first
    await store.inbox_remove(T1, "1.000001")
    assert await store.inbox_peek(T1) == third
    await store.inbox_remove(T1, "1.000003")
    assert await store.inbox_peek(T1) is None


async def test_inboxes_are_per_thread_and_listed_while_not_empty(store: Store) -> None:
    assert await store.threads_with_inbox() == []
    await store.inbox_add(T3, msg("3.000001", thread=T3))
    await store.inbox_add(T1, msg("1.000001"))
    await store.inbox_add(T2, msg("2.000001", thread=T2))
    assert await store.threads_with_inbox() == [T1, T2, T3]

    await store.inbox_remove(T2, "2.000001")
    assert await store.threads_with_inbox() == [T1, T3]
    assert await store.inbox_peek(T3) == msg("3.000001", thread=T3)


async def test_inboxes_and_session_queues_are_apart(store: Store) -> None:
    message = msg("1.000001")
    await store.inbox_add(T1, message)
    await store.enqueue("s-1", message)

    assert await store.queued_keys() == ["s-1"]
    assert await store.queue_length(str(T1)) == 0
    await store.pop_queue("s-1", "1.000001")
    assert await store.inbox_peek(T1) == message
    await store.inbox_remove(T1, "1.000001")
    assert await store.threads_with_inbox() == []
    assert await store.queued_keys() == []


async def test_inbox_keeps_order_and_every_message_under_concurrent_adds(store: Store) -> None:
    for i in range(10):
        await store.inbox_add(T1, msg(f"1.{i:06d}"))
    others = [ThreadKey("T1", "C1", f"1700000001.{i:06d}") for i in range(10)]
    await asyncio.gather(*(store.inbox_add(t, msg("2.000000", thread=t)) for t in others))

    assert await _contents(store, T1) == [f"1.{i:06d}" for i in range(10)]
    assert await store.threads_with_inbox() == sorted(others)


async def test_inbox_keeps_the_message_exactly(store: Store) -> None:
    message = QueuedMessage(T2, "1.000001", "U9", 'multi\nline "quoted" ✓ <@U1>')
    await store.inbox_add(T2, message)
    assert await store.inbox_peek(T2) == message


async def test_sqlite_inbox_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    store = SqliteStore(path)
    await store.inbox_add(T1, msg("1.000001"))
    await store.inbox_add(T1, msg("1.000002"))
    await store.close()

    reopened = SqliteStore(path)
    try:
        assert await reopened.threads_with_inbox() == [T1]
        assert await _contents(reopened, T1) == ["1.000001", "1.000002"]
    finally:
        await reopened.close()


async def test_redis_replicas_share_inboxes() -> None:
    async with redis_prefix() as prefix:
        a, b = RedisStore(REDIS_URL, prefix=prefix), RedisStore(REDIS_URL, prefix=prefix)
        try:
            await a.inbox_add(T1, msg("1.000001"))
            assert await b.threads_with_inbox() == [T1]
            await b.inbox_remove(T1, "1.000001")
            assert await a.inbox_peek(T1) is None
        finally:
            await a.close()
            await b.close()
