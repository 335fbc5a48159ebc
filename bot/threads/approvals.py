"""What deciding a tool call needs besides Qoder: who may decide, and showing a paused turn's replies anew.

``Approvers`` answers whether a person may approve or deny a turn's tool calls: the person who started the
turn, anyone listed in ``APPROVERS``, and members of the user groups listed there (read with
``usergroups.users.list``, kept for ``GROUP_TTL_SECONDS``). ``Replies`` edits the replies of a turn no relay
follows (a paused one) to show a new state: a decision, or that the run ended without one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from bot.interactive import stop_value
from bot.models import TurnRecord
from bot.outbox import EditWriter, Outbox, SlackError
from bot.render import render_turn
from bot.store import Store
from bot.turn import TurnState

log = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 60.0
REPAINT_INTERVAL_SECONDS = 0.2


class Approvers:
    """Who may decide a turn's tool calls. ``ids`` are Slack user ids (``U…``/``W…``) and user group ids
    (``S…``); a group whose members cannot be read counts as empty until it can."""

    def __init__(
        self,
        outbox: Outbox,
        ids: tuple[str, ...] = (),
        *,
        ttl: float = GROUP_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._users = frozenset(i for i in ids if not i.startswith("S"))
        self._groups = tuple(i for i in ids if i.startswith("S"))
        self._ttl = ttl
        self._clock = clock
        self._members: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}

    @property
    def named(self) -> bool:
        """Whether ``APPROVERS`` names anyone (else only a turn's starter decides its calls)."""
        return bool(self._users or self._groups)

    async def allows(self, team: str, user: str, starter: str) -> bool:
        """``user`` may decide the tool calls of a turn ``starter`` started, in workspace ``team``."""
        if not user:
            return False
        if user == starter or user in self._users:
            return True
        for group in self._groups:
            if user in await self._group(team, group):
                return True
        return False

    async def _group(self, team: str, group: str) -> frozenset[str]:
        now = self._clock()
        cached = self._members.get((team, group))
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            answer = await self._outbox.workspace(team).call(
                "usergroups.users.list", "", {"usergroup": group}
            )
        except SlackError as error:
            log.warning("could not read the members of user group %s: %s", group, error.code)
            return cached[1] if cached is not None else frozenset()
        members = frozenset(str(user) for user in answer.get("users") or [])
        self._members[(team, group)] = (now, members)
        return members


class Replies:
    """Edits the replies of a turn that no relay follows to show another state of it."""

    def __init__(self, outbox: Outbox, store: Store, *, interval: float = REPAINT_INTERVAL_SECONDS) -> None:
        self._outbox = outbox
        self._store = store
        self._interval = interval

    async def show(self, turn: TurnRecord, state: TurnState, *, save: bool) -> TurnRecord:
        """Make ``turn``'s replies show ``state``; returns the record with it. With ``save`` the record is
        stored at once (the decision is durable before Slack shows it) and again if the replies changed;
        without, the store is left alone (the session has moved on to another turn). Returns once Slack
        shows it, or the writer gave up (it logs why)."""
        thread = turn.thread
        record = replace(turn, state_json=state.model_dump_json(), updated_at=time.time())
        if save:
            await self._store.save_turn(record)

        async def written(_: TurnState, reply_ts: list[str]) -> None:
            nonlocal record
            if save and reply_ts != record.reply_ts:
                record = replace(record, reply_ts=reply_ts, updated_at=time.time())
                await self._store.save_turn(record)

        async def posted(ts: str) -> None:
            await self._store.index_message(thread.channel, ts, thread)

        button_value = stop_value(thread)
        writer: EditWriter[TurnState] = EditWriter(
            self._outbox.workspace(thread.team),
            channel=thread.channel,
            thread_ts=thread.thread_ts,
            render=lambda shown: render_turn(shown, stop_value=button_value),
            finished=lambda _: True,
            on_written=written,
            on_posted=posted,
            reply_ts=turn.reply_ts,
            interval=self._interval,
        )
        writer.show(state)
        try:
            await writer.flush()
        finally:
            await writer.aclose()
        return record
