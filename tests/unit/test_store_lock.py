"""The per-thread lock: bounded in-process locks, and the ``thread_lock`` contract of both stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.models import ThreadKey
from bot.store import Store
from bot.store.locks import LocalLocks
from tests.unit.test_store import T1, T2, store_of_kind


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of_kind(request.param, tmp_path) as opened:
        yield opened


async def _enter(store: Store, thread: ThreadKey, log: list[str], name: str, hold: float = 0.0) -> None:
    async with store.thread_lock(thread):
        log.append(f"{name} in")
        await asyncio.sleep(hold)
        log.append(f"{name} out")


# -- LocalLocks -------------------------------------------------------------------------------------


async def test_local_locks_exclude_per_key_first_come_first_served() -> None:
    locks: LocalLocks[str] = LocalLocks()
    log: list[str] = []

    async def enter(key: str, name: str) -> None:
        async with locks.hold(key):
            log.append(f"{name} in")
            await asyncio.sleep(0.01)
            log.append(f"{name} out")

    await asyncio.gather(enter("a", "1"), enter("a", "2"), enter("b", "x"), enter("a", "3"))
    assert [e for e in log if not e.startswith("x")] == ["1 in", "1 out", "2 in", "2 out", "3 in", "3 out"]
    assert log.index("x in") < log.index("1 out")  # another key does not wait


async def test_local_locks_keep_only_keys_held_or_waited_for() -> None:
    locks: LocalLocks[int] = LocalLocks()
    for key in range(1000):
        async with locks.hold(key):
            assert len(locks) == 1
    assert len(locks) == 0

    release = asyncio.Event()

    async def hold(key: int) -> None:
        async with locks.hold(key):
            await release.wait()

    tasks = [asyncio.create_task(hold(key % 3)) for key in range(30)]
    await asyncio.sleep(0.01)
    assert len(locks) == 3
    release.set()
    await asyncio.gather(*tasks)
    assert len(locks) == 0


async def test_local_locks_drop_a_cancelled_waiter_and_a_failed_holder() -> None:
    locks: LocalLocks[str] = LocalLocks()
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("a"):
            held.set()
            await release.wait()

    first = asyncio.create_task(holder())
    await held.wait()
    waiter = asyncio.create_task(holder())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await first
    assert len(locks) == 0

    with pytest.raises(RuntimeError):
        async with locks.hold("a"):
            raise RuntimeError("boom")
    assert len(locks) == 0
    async with locks.hold("a"):  # not left locked
        pass


# -- contract ---------------------------------------------------------------------------------------


async def test_thread_lock_excludes_per_thread_in_arrival_order(store: Store) -> None:
    log: list[str] = []
    await asyncio.gather(
        _enter(store, T1, log, "1", 0.05),
        _enter(store, T1, log, "2", 0.01),
        _enter(store, T2, log, "x", 0.01),
        _enter(store, T1, log, "3", 0.01),
    )
    assert [e for e in log if not e.startswith("x")] == ["1 in", "1 out", "2 in", "2 out", "3 in", "3 out"]
    assert log.index("x out") < log.index("1 out")


async def test_thread_lock_is_released_when_the_body_fails(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.thread_lock(T1):
            raise RuntimeError("boom")
    async with asyncio.timeout(2):
        async with store.thread_lock(T1):
            pass
