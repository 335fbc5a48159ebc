"""Queries behind ``/qoder list`` and ``/qoder status``: answered within a deadline, never blocking."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.models import SessionRecord
from bot.outbox import Outbox, SlackError
from bot.qoder import QoderError
from bot.store import Store
from bot.threads._ports import QoderSessions, TurnRelay


@dataclass(frozen=True)
class SessionSummary:
    """One line of ``/qoder list``."""

    record: SessionRecord
    status: str
    queued: int
    permalink: str


class Queries:
    """Read-only views of sessions and health."""

    def __init__(self, qoder: QoderSessions, store: Store, relay: TurnRelay, outbox: Outbox) -> None:
        self._qoder = qoder
        self._store = store
        self._relay = relay
        self._outbox = outbox

    async def list_sessions(self, team: str, channel: str, timeout: float = 1.5) -> list[SessionSummary]:
        """This channel's sessions, newest first, with live status (``unknown`` when Qoder is slow) and a
        link to each thread (none when Slack is slow)."""
        records = await self._store.sessions_in_channel(team, channel)
        outbox = self._outbox.workspace(team)

        async def summarise(record: SessionRecord) -> SessionSummary:
            status: str
            try:
                status = (await asyncio.wait_for(self._qoder.get_session(record.session_id), timeout)).status
            except (QoderError, TimeoutError):
                status = "unknown"
            queued = await self._store.queue_length(record.session_id)
            try:
                link = await asyncio.wait_for(
                    outbox.permalink(record.thread.channel, record.thread.thread_ts), timeout
                )
            except (SlackError, TimeoutError):
                link = ""
            return SessionSummary(record, status, queued, link)

        return list(await asyncio.gather(*(summarise(r) for r in records)))

    async def qoder_reachable(self, timeout: float = 1.5) -> bool:
        """True when Qoder answers an authenticated request in time."""
        try:
            await asyncio.wait_for(self._qoder.ping(), timeout)
        except (QoderError, TimeoutError):
            return False
        return True

    async def store_healthy(self) -> bool:
        """True when the store answers."""
        return await self._store.ping()

    @property
    def active_runs(self) -> int:
        return len(self._relay.active_sessions)
