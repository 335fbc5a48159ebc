"""``RedisStore``: the ``Store`` for several replicas sharing one Redis.

Keys (all under ``prefix``)::

    session:{thread}               JSON SessionRecord
    session-thread:{session_id}    str(ThreadKey)            reverse of the above
    channel-sessions:{team}:{ch}   sorted set of str(ThreadKey), score created_at
    user-sessions:{team}:{user}    sorted set of str(ThreadKey) of sessions started_by user, score created_at
    channel-defaults:{team}:{ch}   JSON ChannelDefaults
    msg:{channel}:{ts}             str(ThreadKey), expires after message_ttl_seconds
    seen:{key}                     "1", SET NX PX ttl        de-duplication claims
    turn:{session_id}              JSON TurnRecord
    active-turns                   set of session ids whose turn is active
    questions:{thread}             hash tool use id → JSON PendingQuestion, waiting for a reply
    resting-turns                  sorted set of session ids whose turn is inactive, score updated_at
    queue:{session_id}             list of JSON QueuedMessage, oldest first
    inbox:{thread}                 list of JSON QueuedMessage, oldest first
    lock:{thread}                  lease token of the replica holding the thread's lock (see ``Leases``)
    relay:{session_id}             the replica relaying the session's running turn, with its lease TTL

Data that earlier versions left under other keys is moved on first use (see ``bot.store.redis_upgrade``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from bot.models import ChannelDefaults, PendingQuestion, QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.store.group_commit import GroupCommit
from bot.store.lease import DEFAULT_LEASE_TTL, Leases
from bot.store.locks import LocalLocks
from bot.store.redis_lists import MessageLists, text, texts
from bot.store.redis_upgrade import move_legacy_inboxes
from bot.store.serialize import CHANNEL_DEFAULTS, QUESTION, SESSION, TURN

__all__ = ["RedisStore"]

DEFAULT_MESSAGE_TTL = 30 * 24 * 3600.0


# Take a free relay lease, or renew our own; another owner's live lease stays.
_HOLD_RELAY = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if holder then
    return 0
end
return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) and 1 or 0
"""

_RELEASE_RELAY = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def _ms(seconds: float) -> int:
    """A TTL in whole milliseconds, at least 1 (Redis rejects 0)."""
    return max(1, math.ceil(seconds * 1000))


REDIS_CONNECTIONS = 64
REDIS_POOL_WAIT_SECONDS = 20.0


class RedisStore:
    """``Store`` over ``redis.asyncio``; every replica pointing at the same URL and prefix shares state.

    Connections are made lazily from a pool; ``close()`` releases the pool. TTLs (de-duplication claims,
    the message index, thread locks) are kept by the Redis server's clock.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "qoder-slack:",
        message_ttl_seconds: float = DEFAULT_MESSAGE_TTL,
        lock_ttl_seconds: float = DEFAULT_LEASE_TTL,
        connect_timeout: float = 5.0,
    ) -> None:
        self._prefix = prefix
        self._message_ttl_ms = _ms(message_ttl_seconds)
        # A call beyond the pool's connections waits for one to come free instead of failing: hundreds of
        # turns renewing their leases at once ran a plain pool dry ("Too many connections").
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_CONNECTIONS,
            timeout=REDIS_POOL_WAIT_SECONDS,
            decode_responses=True,
            socket_connect_timeout=connect_timeout,
        )
        self._redis: aioredis.Redis = aioredis.Redis.from_pool(pool)
        self._queues = MessageLists(self._redis, self._key("queue", ""))
        self._inboxes = MessageLists(self._redis, self._key("inbox", ""))
        self._local_locks: LocalLocks[ThreadKey] = LocalLocks()
        self._leases = Leases(self._redis, ttl_seconds=lock_ttl_seconds)
        self._upgrade_lock = asyncio.Lock()
        self._hold_relay = self._redis.register_script(_HOLD_RELAY)
        self._release_relay = self._redis.register_script(_RELEASE_RELAY)
        self._upgraded = False
        self._turn_saves: GroupCommit[str, TurnRecord] = GroupCommit(self._save_turns)

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    # -- sessions -------------------------------------------------------------------------------

    async def get_session(self, thread: ThreadKey) -> SessionRecord | None:
        raw = await self._redis.get(self._key("session", str(thread)))
        return SESSION.from_json(raw) if raw is not None else None

    async def save_session(self, record: SessionRecord) -> None:
        thread = str(record.thread)
        session_key = self._key("session", thread)
        previous = await self._redis.get(session_key)
        async with self._redis.pipeline(transaction=True) as pipe:
            if previous is not None:
                old_id = SESSION.from_json(previous).session_id
                if old_id != record.session_id:
                    pipe.delete(self._key("session-thread", old_id))
            pipe.set(session_key, SESSION.to_json(record))
            pipe.set(self._key("session-thread", record.session_id), thread)
            pipe.zadd(
                self._key("channel-sessions", record.thread.team, record.thread.channel),
                {thread: record.created_at},
            )
            if record.started_by:
                pipe.zadd(
                    self._key("user-sessions", record.thread.team, record.started_by),
                    {thread: record.created_at},
                )
            await pipe.execute()

    async def thread_for_session(self, session_id: str) -> ThreadKey | None:
        raw = await self._redis.get(self._key("session-thread", session_id))
        return ThreadKey.parse(text(raw)) if raw is not None else None

    async def sessions_in_channel(self, team: str, channel: str, limit: int = 20) -> list[SessionRecord]:
        if limit <= 0:
            return []
        threads = texts(
            await self._redis.zrevrange(self._key("channel-sessions", team, channel), 0, limit - 1)
        )
        if not threads:
            return []
        raws = await self._redis.mget([self._key("session", t) for t in threads])
        return [SESSION.from_json(raw) for raw in raws if raw is not None]

    async def sessions_started_by(self, team: str, user: str, limit: int = 20) -> list[SessionRecord]:
        if limit <= 0:
            return []
        key = self._key("user-sessions", team, user)
        # A thread whose session was replaced by one someone else started stays in the set: read a little
        # further and keep only the sessions this person started.
        threads = texts(await self._redis.zrevrange(key, 0, 2 * limit - 1))
        if not threads:
            return []
        raws = await self._redis.mget([self._key("session", t) for t in threads])
        records = [SESSION.from_json(raw) for raw in raws if raw is not None]
        return [r for r in records if r.started_by == user][:limit]

    # -- channel defaults -----------------------------------------------------------------------

    async def get_channel_defaults(self, team: str, channel: str) -> ChannelDefaults | None:
        raw = await self._redis.get(self._key("channel-defaults", team, channel))
        return CHANNEL_DEFAULTS.from_json(raw) if raw is not None else None

    async def save_channel_defaults(self, defaults: ChannelDefaults) -> None:
        key = self._key("channel-defaults", defaults.team, defaults.channel)
        if defaults.empty:
            await self._redis.delete(key)
        else:
            await self._redis.set(key, CHANNEL_DEFAULTS.to_json(defaults))

    # -- message index --------------------------------------------------------------------------

    async def index_message(self, channel: str, ts: str, thread: ThreadKey) -> None:
        await self._redis.set(self._key("msg", channel, ts), str(thread), px=self._message_ttl_ms)

    async def thread_for_message(self, channel: str, ts: str) -> ThreadKey | None:
        raw = await self._redis.get(self._key("msg", channel, ts))
        return ThreadKey.parse(text(raw)) if raw is not None else None

    # -- de-duplication -------------------------------------------------------------------------

    async def claim_event(self, key: str, ttl_seconds: float) -> bool:
        return bool(await self._redis.set(self._key("seen", key), "1", nx=True, px=_ms(ttl_seconds)))

    async def release_event(self, key: str) -> None:
        await self._redis.delete(self._key("seen", key))

    # -- relay leases ---------------------------------------------------------------------------

    async def hold_relay(self, session_id: str, owner: str, ttl_seconds: float) -> bool:
        key = self._key("relay", session_id)
        return bool(await self._hold_relay(keys=[key], args=[owner, _ms(ttl_seconds)]))

    async def hold_relays(self, session_ids: Sequence[str], owner: str, ttl_seconds: float) -> set[str]:
        sessions = list(session_ids)
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in sessions:
                await self._hold_relay(
                    keys=[self._key("relay", session_id)], args=[owner, _ms(ttl_seconds)], client=pipe
                )
            results = await pipe.execute()
        return {session_id for session_id, held in zip(sessions, results, strict=True) if held}

    async def release_relay(self, session_id: str, owner: str) -> None:
        await self._release_relay(keys=[self._key("relay", session_id)], args=[owner])

    # -- turns ----------------------------------------------------------------------------------

    async def get_turn(self, session_id: str) -> TurnRecord | None:
        raw = await self._redis.get(self._key("turn", session_id))
        return TURN.from_json(raw) if raw is not None else None

    async def save_turn(self, turn: TurnRecord) -> None:
        """Saves of turns that arrive while others are being written go to Redis together, in one
        MULTI/EXEC (see ``GroupCommit``): each still returns only once its turn is saved."""
        await self._turn_saves.write(turn.session_id, turn)

    async def _save_turns(self, turns: list[TurnRecord]) -> None:
        active_key, resting_key = self._key("active-turns"), self._key("resting-turns")
        async with self._redis.pipeline(transaction=True) as pipe:
            for turn in turns:
                pipe.set(self._key("turn", turn.session_id), TURN.to_json(turn))
                if turn.active:
                    pipe.sadd(active_key, turn.session_id)
                    pipe.zrem(resting_key, turn.session_id)
                else:
                    pipe.srem(active_key, turn.session_id)
                    pipe.zadd(resting_key, {turn.session_id: turn.updated_at})
            await pipe.execute()

    async def active_turns(self) -> list[TurnRecord]:
        session_ids = sorted(texts(await self._redis.smembers(self._key("active-turns"))))
        if not session_ids:
            return []
        raws = await self._redis.mget([self._key("turn", s) for s in session_ids])
        # A turn saved inactive between the two reads is filtered out here rather than returned stale.
        turns = [TURN.from_json(raw) for raw in raws if raw is not None]
        return sorted((t for t in turns if t.active), key=lambda t: (t.updated_at, t.session_id))

    async def resting_turns(self, since: float) -> list[TurnRecord]:
        key = self._key("resting-turns")
        session_ids = texts(await self._redis.zrangebyscore(key, since, "+inf"))
        if not session_ids:
            return []
        raws = await self._redis.mget([self._key("turn", s) for s in session_ids])
        turns = [TURN.from_json(raw) for raw in raws if raw is not None]
        return sorted(
            (t for t in turns if not t.active and t.updated_at >= since),
            key=lambda t: (t.updated_at, t.session_id),
        )

    # -- questions --------------------------------------------------------------------------------

    async def save_question(self, question: PendingQuestion) -> None:
        key = self._key("questions", str(question.thread))
        await self._redis.hset(key, question.tool_use_id, QUESTION.to_json(question))

    async def questions_in(self, thread: ThreadKey) -> list[PendingQuestion]:
        raws = await self._redis.hvals(self._key("questions", str(thread)))
        questions = [QUESTION.from_json(raw) for raw in raws]
        return sorted(questions, key=lambda q: (q.asked_at, q.tool_use_id))

    async def delete_question(self, thread: ThreadKey, tool_use_id: str) -> None:
        await self._redis.hdel(self._key("questions", str(thread)), tool_use_id)

    # -- queue ----------------------------------------------------------------------------------

    async def enqueue(self, session_id: str, message: QueuedMessage) -> None:
        await self._queues.push(session_id, message)

    async def peek_queue(self, session_id: str) -> QueuedMessage | None:
        return await self._queues.peek(session_id)

    async def pop_queue(self, session_id: str, message_ts: str) -> None:
        await self._queues.remove(session_id, message_ts)

    async def queue_length(self, session_id: str) -> int:
        return await self._queues.length(session_id)

    async def queued_keys(self) -> list[str]:
        await self._upgrade()  # legacy inboxes were queues: they must not be listed as such
        return await self._queues.names()

    # -- inboxes ----------------------------------------------------------------------------------

    async def inbox_add(self, thread: ThreadKey, message: QueuedMessage) -> None:
        await self._inboxes.push(str(thread), message)

    async def inbox_peek(self, thread: ThreadKey) -> QueuedMessage | None:
        await self._upgrade()
        return await self._inboxes.peek(str(thread))

    async def inbox_remove(self, thread: ThreadKey, message_ts: str) -> None:
        await self._upgrade()
        await self._inboxes.remove(str(thread), message_ts)

    async def threads_with_inbox(self) -> list[ThreadKey]:
        await self._upgrade()
        return sorted(ThreadKey.parse(name) for name in await self._inboxes.names())

    async def _upgrade(self) -> None:
        """Once per store, before the first read of inboxes or queue names: move legacy data."""
        if self._upgraded:
            return
        async with self._upgrade_lock:
            if not self._upgraded:
                await move_legacy_inboxes(self._redis, self._prefix)
                self._upgraded = True

    # -- thread locks -----------------------------------------------------------------------------

    @asynccontextmanager
    async def thread_lock(self, thread: ThreadKey) -> AsyncIterator[None]:
        # Waiters of this process queue locally, in order, and only the first of them polls Redis.
        async with self._local_locks.hold(thread), self._leases.hold(self._key("lock", str(thread))):
            yield

    # -- lifecycle ------------------------------------------------------------------------------

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._redis.aclose()
