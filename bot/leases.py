"""Which process relays a running turn: a lease in the store, renewed while the relay runs.

Every replica may be asked to relay any turn (a message, a restart, an approval), but only the holder of
the turn's lease does. The holder renews it every third of ``ttl`` seconds, however quiet the turn is (a
long silent tool call keeps its owner), and gives it up when the relay ends or the process shuts down. One
task renews all of a process's leases together, in one round trip to the store. A
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
        self._held: dict[str, asyncio.Task[object] | None] = {}  # session → the task relaying it
        self._renewer: asyncio.Task[None] | None = None
        self._renewing: list[str] = []  # the sessions of the renewal in flight, if any
        self._renewal: asyncio.Future[set[str]] | None = None

    @contextlib.asynccontextmanager
    async def own(self, session_id: str) -> AsyncIterator[bool]:
        """Hold the lease on relaying ``session_id`` for the body, which learns whether it got it. Should the
        lease be lost (the store unreachable for longer than the TTL, and another replica took over), the
        task running the body is cancelled."""
        if not await self._store.hold_relay(session_id, self.owner, self.ttl):
            yield False
            return
        self._held[session_id] = asyncio.current_task()
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_forever(), name="lease renewals")
        try:
            yield True
        finally:
            self._held.pop(session_id, None)
            renewal = self._renewal
            if renewal is not None and session_id in self._renewing:
                await asyncio.wait([renewal])  # else it could take the lease again after the release
            if not self._held and self._renewer is not None:
                self._renewer.cancel()
                self._renewer = None
            try:
                await asyncio.shield(self._store.release_relay(session_id, self.owner))
            except Exception as error:  # it expires after its TTL anyway
                log.warning("could not give up the lease on %s: %s", session_id, error)

    async def _renew_forever(self) -> None:
        while True:
            await self._sleep(self.ttl / 3)
            if not self._held:
                return
            self._renewing = list(self._held)
            self._renewal = asyncio.ensure_future(
                self._store.hold_relays(self._renewing, self.owner, self.ttl)
            )
            try:
                held = await asyncio.shield(self._renewal)
            except Exception as error:  # the leases last until their TTL: try again at the next interval
                log.warning("could not renew %d lease(s): %s", len(self._renewing), error)
                continue
            finally:
                self._renewal = None
            for session_id in self._renewing:
                if session_id not in held and session_id in self._held:
                    log.warning("lost the lease on %s to another process; it relays the turn now", session_id)
                    relaying = self._held.pop(session_id)
                    if relaying is not None:
                        relaying.cancel()
