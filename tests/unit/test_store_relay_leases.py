"""Relay leases in both stores: one owner at a time, renewed by its owner, free once released or expired."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.leases import TurnLeases
from bot.store import SqliteStore, Store
from tests.unit.test_store import store_of_kind


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of_kind(request.param, tmp_path) as opened:
        yield opened


async def test_one_owner_at_a_time_and_the_owner_renews(store: Store) -> None:
    assert await store.hold_relay("s1", "a", 30)
    assert not await store.hold_relay("s1", "b", 30), "a live lease keeps its owner"
    assert await store.hold_relay("s1", "a", 30), "its owner renews it"
    assert await store.hold_relay("s2", "b", 30), "leases are per session"


async def test_a_released_lease_is_free_at_once_and_only_its_owner_releases_it(store: Store) -> None:
    await store.hold_relay("s1", "a", 30)
    await store.release_relay("s1", "b")
    assert not await store.hold_relay("s1", "b", 30), "someone else's release changes nothing"
    await store.release_relay("s1", "a")
    assert await store.hold_relay("s1", "b", 30)


async def test_an_expired_sqlite_lease_goes_to_whoever_asks(tmp_path: Path) -> None:
    now = [1000.0]
    store = SqliteStore(str(tmp_path / "store.db"), clock=lambda: now[0])
    try:
        assert await store.hold_relay("s1", "a", 15)
        now[0] += 14.9
        assert not await store.hold_relay("s1", "b", 15)
        now[0] += 0.2
        assert await store.hold_relay("s1", "b", 15), "a dead owner's lease runs out"
    finally:
        await store.close()


async def test_an_expired_redis_lease_goes_to_whoever_asks(tmp_path: Path) -> None:
    async with store_of_kind("redis", tmp_path) as store:
        assert await store.hold_relay("s1", "a", 0.2)
        assert not await store.hold_relay("s1", "b", 0.2)
        for _ in range(100):
            if await store.hold_relay("s1", "b", 30):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the lease never ran out")
        assert not await store.hold_relay("s1", "a", 30)


async def test_a_relay_that_lost_its_lease_is_cancelled(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "store.db"))
    leases = TurnLeases(store, ttl=0.3, owner="a")
    try:

        async def relay() -> None:
            async with leases.own("s1") as owned:
                assert owned
                await store.release_relay("s1", "a")
                assert await store.hold_relay("s1", "b", 30)  # another process took over
                await asyncio.sleep(10)

        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(relay(), 5)
        assert not await store.hold_relay("s1", "a", 30), "the lease stays with its new owner"
    finally:
        await store.close()


async def test_many_more_renewals_at_once_than_connections_all_succeed(store: Store) -> None:
    owners = [f"s{i}" for i in range(1000)]  # a replica renewing a thousand turns' leases at the same moment
    held = await asyncio.gather(*(store.hold_relay(sid, "a", 30) for sid in owners))
    assert all(held)
    renewed = await asyncio.gather(*(store.hold_relay(sid, "a", 30) for sid in owners))
    assert all(renewed)


async def test_holding_many_at_once_says_which_are_held(store: Store) -> None:
    assert await store.hold_relay("taken", "b", 30)
    held = await store.hold_relays(["s1", "taken", "s2"], "a", 30)
    assert held == {"s1", "s2"}, "another owner's live lease stays with it"
    assert await store.hold_relays(["s1", "s2"], "a", 30) == {"s1", "s2"}, "its owner renews them"
    assert not await store.hold_relay("s1", "b", 30)
    assert await store.hold_relays([], "a", 30) == set()


class CountingStore:
    """A store that counts the calls that renew leases."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.single = 0
        self.batches: list[int] = []

    async def hold_relay(self, session_id: str, owner: str, ttl_seconds: float) -> bool:
        self.single += 1
        return await self.store.hold_relay(session_id, owner, ttl_seconds)

    async def hold_relays(self, session_ids: list[str], owner: str, ttl_seconds: float) -> set[str]:
        self.batches.append(len(session_ids))
        return await self.store.hold_relays(session_ids, owner, ttl_seconds)

    async def release_relay(self, session_id: str, owner: str) -> None:
        await self.store.release_relay(session_id, owner)


async def test_one_call_renews_all_of_a_process_leases_and_a_lost_one_stops_only_its_relay(
    store: Store,
) -> None:
    counting = CountingStore(store)
    leases = TurnLeases(counting, ttl=0.3, owner="a")  # type: ignore[arg-type]
    started = asyncio.Event()
    count = 0

    async def relay(session_id: str) -> None:
        nonlocal count
        async with leases.own(session_id) as owned:
            assert owned
            count += 1
            if count == 200:
                started.set()
            await asyncio.sleep(30)

    relays = {f"s{i}": asyncio.create_task(relay(f"s{i}")) for i in range(200)}
    try:
        await asyncio.wait_for(started.wait(), 10)
        await store.release_relay("s7", "a")
        assert await store.hold_relay("s7", "b", 30)  # another process took s7 over
        await asyncio.sleep(0.5)  # at least one renewal
        assert counting.batches and counting.single == 200, "one call renews them all"
        assert counting.batches[-1] == 199, counting.batches
        assert relays["s7"].done(), "the relay whose lease was lost is cancelled"
        assert not any(task.done() for sid, task in relays.items() if sid != "s7")
    finally:
        for task in relays.values():
            task.cancel()
        await asyncio.gather(*relays.values(), return_exceptions=True)
    assert await store.hold_relay("s1", "b", 30), "leases are given up when the relays end"
