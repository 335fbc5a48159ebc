"""What the use cases show in a thread besides the agent's reply: notices and status reactions.

Each is an intent handed to the outbox; none is awaited, so no person's work waits on it.
"""

from __future__ import annotations

from bot.models import ThreadKey
from bot.outbox import Outbox
from bot.render import render_notice
from bot.store import Store


class Feedback:
    """Notices (indexed, so a stop reaction on them works) and reactions on users' messages."""

    def __init__(self, outbox: Outbox, store: Store) -> None:
        self._outbox = outbox
        self._store = store

    def notice(self, thread: ThreadKey, text: str) -> None:
        """Post one short, escaped sentence in ``thread`` soon."""

        async def index(ts: str) -> None:
            await self._store.index_message(thread.channel, ts, thread)

        self._outbox.workspace(thread.team).notice(
            thread.channel, thread.thread_ts, render_notice(text).payload(), on_posted=index
        )

    def react(self, thread: ThreadKey, ts: str, name: str, *, on: bool = True) -> None:
        """Message ``ts`` of ``thread`` should (or should not) carry reaction ``name``."""
        self._outbox.workspace(thread.team).react(thread.channel, ts, name, on=on)
