"""Which process relays a running turn: a lease in the store, renewed while the relay runs.

Every replica may be asked to relay any turn (a message, a restart, an approval), but only the holder of
the turn's lease does. The holder renews it every third of ``ttl`` seconds, however quiet the turn is (a
long silent tool call keeps its owner), and gives it up when the relay ends or the process shuts down. A
process that dies stops renewing: after ``ttl`` seconds another replica's watch adopts the turn and
resumes it from the stored cursor into the same Slack messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from bot.store import Store

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 15.0

Sleep = Callable[[float], Awaitable[None]]


def process_name() -> str:
    """A name for this process that no other replica shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TurnLeases:
    """This process's leases on the turns it relays."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: float = DEFAULT_LEASE_SECONDS,
        owner: str | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.owner = owner or process_name()
        self.ttl = ttl
        self._store = store
        self._sleep = sleep

    @contextlib.asynccontextmanager
    async def own(self, session_id: str) -> AsyncIterator[bool]:
        """Hold the lease on relaying ``session_id`` for the body, which learns whether it got it. Should the
        lease be lost (the store unreachable for longer than the TTL, and another replica took over), the
        task running the body is cancelled."""
        if not await self._store.hold_relay(session_id, self.owner, self.ttl):
            yield False
            return
        relaying = asyncio.current_task()
        keeper = asyncio.create_task(self._keep(session_id, relaying), name=f"lease {session_id}")
        try:
            yield True
        finally:
            keeper.cancel()
            try:
                await asyncio.shield(self._store.release_relay(session_id, self.owner))
            except Exception as error:  # it expires after its TTL anyway
                log.warning("could not give up the lease on %s: %s", session_id, error)

    async def _keep(self, session_id: str, relaying: asyncio.Task[object] | None) -> None:
        while True:
            await self._sleep(self.ttl / 3)
            try:
                held = await self._store.hold_relay(session_id, self.owner, self.ttl)
            except Exception as error:  # the lease lasts until its TTL: try again at the next interval
                log.warning("could not renew the lease on %s: %s", session_id, error)
                continue
            if not held:
                log.warning("lost the lease on %s to another process; it relays the turn now", session_id)
                if relaying is not None:
                    relaying.cancel()
                return
