"""What the use cases show in a thread besides the agent's reply: notices, answers only the asker sees, and
status reactions.

Each is an intent handed to the outbox; none is awaited, so no person's work waits on it.
"""

from __future__ import annotations

import contextlib

from bot.models import ThreadKey
from bot.outbox import Outbox, SlackError
from bot.render import render_mrkdwn, render_notice, render_turn_end_notice
from bot.store import Store
from bot.turn import TurnState


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

    def tell(self, thread: ThreadKey, user: str, mrkdwn: str) -> None:
        """Show ``user`` alone, in ``thread``, a message of the bot's own mrkdwn (an ephemeral) soon."""
        self._outbox.workspace(thread.team).ephemeral(
            thread.channel, user, render_mrkdwn(mrkdwn).payload(), thread_ts=thread.thread_ts
        )

    def react(self, thread: ThreadKey, ts: str, name: str, *, on: bool = True) -> None:
        """Message ``ts`` of ``thread`` should (or should not) carry reaction ``name``."""
        self._outbox.workspace(thread.team).react(thread.channel, ts, name, on=on)

    def turn_ended(self, thread: ThreadKey, user: str, state: TurnState, reply_ts: str) -> None:
        """Tell ``user`` in ``thread`` that their turn ended (a mention notifies; an edit does not), with a
        link to the reply ``reply_ts`` when Slack gives one."""
        outbox = self._outbox.workspace(thread.team)

        async def tell() -> None:
            link = ""
            if reply_ts:
                with contextlib.suppress(SlackError):  # without a link the notice still says it ended
                    link = await outbox.permalink(thread.channel, reply_ts)
            outbox.notice(
                thread.channel, thread.thread_ts, render_turn_end_notice(user, state, link).payload()
            )

        outbox.spawn(tell(), name=f"turn end {thread}")
