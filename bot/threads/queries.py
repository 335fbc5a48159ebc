"""Queries behind ``/qoder list``, ``/qoder status`` and the Home tab: answered within a deadline, never
blocking."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.models import SessionRecord
from bot.outbox import Outbox, SlackError
from bot.qoder import QoderError
from bot.render.panels import SessionRow
from bot.store import Store
from bot.threads._ports import QoderSessions, TurnRelay


@dataclass(frozen=True)
class SessionSummary:
    """One line of ``/qoder list``."""

    record: SessionRecord
    status: str
    queued: int
    permalink: str

    def row(self) -> SessionRow:
        """The session as lists show it."""
        record = self.record
        return SessionRow(
            title=record.title,
            state=self.status,
            channel=record.thread.channel,
            link=self.permalink,
            queued=self.queued,
            session_id=record.session_id,
        )


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
        return await self.summarise(team, await self._store.sessions_in_channel(team, channel), timeout)

    async def sessions_started_by(
        self, team: str, user: str, limit: int = 10, timeout: float = 1.5
    ) -> list[SessionSummary]:
        """The sessions ``user`` started, newest first, summarised like ``list_sessions``."""
        return await self.summarise(team, await self._store.sessions_started_by(team, user, limit), timeout)

    async def summarise(
        self, team: str, records: list[SessionRecord], timeout: float = 1.5
    ) -> list[SessionSummary]:
        """Live status, queue length and thread link of each session, all asked at once, each within
        ``timeout`` seconds."""
        outbox = self._outbox.workspace(team)

        async def status_of(record: SessionRecord) -> str:
            try:
                return (await asyncio.wait_for(self._qoder.get_session(record.session_id), timeout)).status
            except (QoderError, TimeoutError):
                return "unknown"

        async def link_of(record: SessionRecord) -> str:
            try:
                thread = record.thread
                return await asyncio.wait_for(outbox.permalink(thread.channel, thread.thread_ts), timeout)
            except (SlackError, TimeoutError):
                return ""

        async def one(record: SessionRecord) -> SessionSummary:
            status, link = await asyncio.gather(status_of(record), link_of(record))
            return SessionSummary(record, status, await self._store.queue_length(record.session_id), link)

        return list(await asyncio.gather(*(one(r) for r in records)))

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
