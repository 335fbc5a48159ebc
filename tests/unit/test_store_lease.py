"""Redis leases: the thread lock of ``RedisStore`` holds across replicas, and a dead holder loses it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.models import ThreadKey
from bot.store import RedisStore
from bot.store.lease import Leases
from tests.unit.test_store import REDIS_URL, T1, T2, redis_prefix

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async with redis_prefix() as value:
        yield value


async def _enter(store: RedisStore, thread: ThreadKey, log: list[str], name: str) -> None:
    async with store.thread_lock(thread):
        log.append(f"{name} in")
        log.append(f"{name} out")


async def _eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_redis_lock_holds_across_replicas_beyond_its_ttl_while_renewed(prefix: str) -> None:
    a = RedisStore(REDIS_URL, prefix=prefix, lock_ttl_seconds=0.2)
    b = RedisStore(REDIS_URL, prefix=prefix, lock_ttl_seconds=0.2)
    release = asyncio.Event()
    log: list[str] = []

    async def hold_a() -> None:
        async with a.thread_lock(T1):
            log.append("a in")
            await release.wait()
            log.append("a out")

    try:
        holder = asyncio.create_task(hold_a())
        await _eventually(lambda: log == ["a in"])
        waiter = asyncio.create_task(_enter(b, T1, log, "b"))
        await asyncio.sleep(0.7)  # more than three TTLs: a renews its lease
        assert log == ["a in"]
        async with b.thread_lock(T2):  # other threads are free
            pass
        release.set()
        await asyncio.wait_for(asyncio.gather(holder, waiter), 2)
        assert log == ["a in", "a out", "b in", "b out"]
    finally:
        await a.close()
        await b.close()


async def test_redis_lock_of_a_killed_holder_passes_on_after_its_ttl(prefix: str) -> None:
    holder = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from bot.models import ThreadKey
        from bot.store import RedisStore

        async def main():
            store = RedisStore({REDIS_URL!r}, prefix={prefix!r}, lock_ttl_seconds=0.5)
            async with store.thread_lock(ThreadKey({T1.team!r}, {T1.channel!r}, {T1.thread_ts!r})):
                print("held", flush=True)
                await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    process = subprocess.Popen([sys.executable, "-c", holder], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
        assert line.strip() == "held"
        await asyncio.sleep(0.6)  # longer than the TTL: only renewal keeps the lease
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3), store.thread_lock(T1):
                pass
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        started = time.monotonic()
        async with asyncio.timeout(3), store.thread_lock(T1):
            waited = time.monotonic() - started
        assert waited < 1.5  # the rest of the last renewed TTL, at most 0.5 s, plus polling
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
        await store.close()


async def test_redis_lease_not_renewed_is_free_after_its_ttl(prefix: str) -> None:
    raw = aioredis.from_url(REDIS_URL, decode_responses=True)
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        await raw.set(f"{prefix}lock:{T1}", "a-dead-holder", px=300)
        started = time.monotonic()
        async with asyncio.timeout(3), store.thread_lock(T1):
            waited = time.monotonic() - started
            assert await raw.get(f"{prefix}lock:{T1}") not in (None, "a-dead-holder")
        assert 0.2 < waited < 1.5
        assert await raw.get(f"{prefix}lock:{T1}") is None  # released on exit
    finally:
        await raw.aclose()
        await store.close()


async def test_redis_a_holder_whose_lease_expired_does_not_release_the_next_one(prefix: str) -> None:
    raw = aioredis.from_url(REDIS_URL, decode_responses=True)
    leases = Leases(raw, ttl_seconds=30)
    key = prefix + "lease"
    try:
        async with leases.hold(key):
            await raw.set(key, "next-holder", px=30_000)  # as if ours had expired and been taken
        assert await raw.get(key) == "next-holder"
    finally:
        await raw.aclose()


async def test_redis_a_cancelled_waiter_leaves_the_lease_alone(prefix: str) -> None:
    raw = aioredis.from_url(REDIS_URL, decode_responses=True)
    a = RedisStore(REDIS_URL, prefix=prefix)
    b = RedisStore(REDIS_URL, prefix=prefix)
    try:
        async with a.thread_lock(T1):
            token = await raw.get(f"{prefix}lock:{T1}")
            waiter = asyncio.create_task(_enter(b, T1, [], "b"))
            await asyncio.sleep(0.1)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert token is not None and await raw.get(f"{prefix}lock:{T1}") == token
        assert await raw.get(f"{prefix}lock:{T1}") is None
        async with asyncio.timeout(2), b.thread_lock(T1):
            pass
    finally:
        await raw.aclose()
        await a.close()
        await b.close()


async def test_leases_refuse_nonsense_settings() -> None:
    raw = aioredis.from_url(REDIS_URL)
    try:
        with pytest.raises(ValueError):
            Leases(raw, ttl_seconds=0)
        with pytest.raises(ValueError):
            Leases(raw, poll_min=0.5, poll_max=0.1)
    finally:
        await raw.aclose()
