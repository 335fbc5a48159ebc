"""What starting sessions from Slack needs of the store: sessions by the person who started them, the
options a starting message carries, and channel defaults. Run against SqliteStore and RedisStore (see
test_store.py for how Redis is chosen)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.models import ChannelDefaults, QueuedMessage, SessionRecord, ThreadKey
from bot.store import SqliteStore, Store
from tests.unit.test_store import OTHER_TEAM, T1, T2, T3, store_of_kind


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_of_kind(request.param, tmp_path) as opened:
        yield opened


async def test_sessions_started_by_a_person_newest_first_across_channels(store: Store) -> None:
    elsewhere = ThreadKey("T1", "C9", "1700000000.000900")
    await store.save_session(SessionRecord(T1, "s-1", 100.0, "first", started_by="U1"))
    await store.save_session(
        SessionRecord(elsewhere, "s-2", 300.0, "in C9", started_by="U1", agent_id="agent_x")
    )
    await store.save_session(SessionRecord(T2, "s-3", 200.0, "someone else's", started_by="U2"))
    await store.save_session(SessionRecord(T3, "s-4", 400.0, "nobody's"))
    await store.save_session(SessionRecord(OTHER_TEAM, "s-5", 500.0, "other team", started_by="U1"))

    mine = await store.sessions_started_by("T1", "U1")
    assert [r.session_id for r in mine] == ["s-2", "s-1"]
    assert mine[0] == SessionRecord(elsewhere, "s-2", 300.0, "in C9", started_by="U1", agent_id="agent_x")
    assert [r.session_id for r in await store.sessions_started_by("T1", "U1", limit=1)] == ["s-2"]
    assert [r.session_id for r in await store.sessions_started_by("T1", "U2")] == ["s-3"]
    assert [r.session_id for r in await store.sessions_started_by("T2", "U1")] == ["s-5"]
    assert await store.sessions_started_by("T1", "U7") == []
    assert await store.sessions_started_by("T1", "U1", limit=0) == []


async def test_a_thread_taken_over_by_someone_else_leaves_the_first_persons_list(store: Store) -> None:
    await store.save_session(SessionRecord(T1, "s-old", 100.0, started_by="U1"))
    await store.save_session(SessionRecord(T1, "s-new", 200.0, started_by="U2"))
    assert await store.sessions_started_by("T1", "U1") == []
    assert [r.session_id for r in await store.sessions_started_by("T1", "U2")] == ["s-new"]


async def test_start_options_of_messages_survive_queue_and_inbox(store: Store) -> None:
    starting = QueuedMessage(
        T1, "1.000001", "U1", "fix it", agent_id="agent_a", environment_id="env_b", outcome="green"
    )
    plain = QueuedMessage(T1, "1.000002", "U1", "and this")
    await store.inbox_add(T1, starting)
    await store.enqueue("s-1", starting)
    await store.enqueue("s-1", plain)

    assert await store.inbox_peek(T1) == starting
    assert await store.peek_queue("s-1") == starting
    await store.pop_queue("s-1", starting.message_ts)
    assert await store.peek_queue("s-1") == plain


async def test_channel_defaults_roundtrip_replace_and_reset(store: Store) -> None:
    assert await store.get_channel_defaults("T1", "C1") is None
    first = ChannelDefaults("T1", "C1", agent_id="agent_a", updated_by="U1", updated_at=10.0)
    await store.save_channel_defaults(first)
    await store.save_channel_defaults(ChannelDefaults("T1", "C2", environment_id="env_z"))
    assert await store.get_channel_defaults("T1", "C1") == first
    assert await store.get_channel_defaults("T2", "C1") is None

    second = ChannelDefaults(
        "T1", "C1", agent_id="agent_a", environment_id="env_b", updated_by="U2", updated_at=20.0
    )
    await store.save_channel_defaults(second)
    assert await store.get_channel_defaults("T1", "C1") == second

    await store.save_channel_defaults(ChannelDefaults("T1", "C1", updated_by="U3"))
    assert await store.get_channel_defaults("T1", "C1") is None
    assert (await store.get_channel_defaults("T1", "C2")) == ChannelDefaults(
        "T1", "C2", environment_id="env_z"
    )


async def test_channel_defaults_and_starters_persist_across_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "reopen.db")
    store = SqliteStore(path)
    await store.save_channel_defaults(ChannelDefaults("T1", "C1", agent_id="agent_a"))
    await store.save_session(SessionRecord(T1, "s-1", 1.0, started_by="U1", environment_id="env_e"))
    await store.close()
    reopened = SqliteStore(path)
    try:
        assert await reopened.get_channel_defaults("T1", "C1") == ChannelDefaults(
            "T1", "C1", agent_id="agent_a"
        )
        assert await reopened.sessions_started_by("T1", "U1") == [
            SessionRecord(T1, "s-1", 1.0, started_by="U1", environment_id="env_e")
        ]
    finally:
        await reopened.close()
