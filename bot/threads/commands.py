"""The answers of ``/qoder list``, ``stop``, ``status`` and ``config``, given through the command's
``response_url`` after it was acknowledged. Every Qoder and Slack lookup has a deadline, so a slow Qoder
or Slack makes an answer say less ("unknown", no link), never arrive late.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.outbox import Outbox
from bot.render import SlackMessage
from bot.render.panels import (
    DefaultsView,
    Health,
    render_defaults,
    render_health,
    render_not_admin,
    render_reply,
    render_session_list,
    response,
    session_label,
)
from bot.store import Store
from bot.threads.controls import Controls, is_paused
from bot.threads.defaults import Defaults, Effective, NotAnAdmin
from bot.threads.queries import Queries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyTo:
    """Who asked, where, and the ``response_url`` that answers them."""

    team: str
    channel: str
    user: str
    response_url: str


class Commands:
    """Channel-level answers; each returns once its answer is handed to the outbox."""

    def __init__(
        self, queries: Queries, controls: Controls, defaults: Defaults, store: Store, outbox: Outbox
    ) -> None:
        self._queries = queries
        self._controls = controls
        self._defaults = defaults
        self._store = store
        self._outbox = outbox

    async def list_sessions(self, reply: ReplyTo) -> None:
        """This channel's sessions, newest first and numbered, with state and a link to each thread."""
        summaries = await self._queries.list_sessions(reply.team, reply.channel)
        self._answer(reply, render_session_list([summary.row() for summary in summaries]))

    async def stop(self, reply: ReplyTo, number: int, *, dedupe_key: str) -> None:
        """Stop the running turn of session ``number`` of ``/qoder list``."""
        summaries = await self._queries.list_sessions(reply.team, reply.channel)
        if not summaries:
            self._answer(reply, render_reply("There are no Qoder sessions in this channel yet."))
            return
        if number > len(summaries):
            self._answer(
                reply,
                render_reply(f"There's no session {number} here: `/qoder list` shows {len(summaries)}."),
            )
            return
        summary = summaries[number - 1]
        label = f"*{number}.* {session_label(summary.row())}"
        turn = await self._store.get_turn(summary.record.session_id)
        if turn is None or not (turn.active or is_paused(turn)):
            self._answer(reply, render_reply(f"{label} isn't running, so there is nothing to stop."))
            return
        # Said before Qoder has the interrupt: a slow Qoder must not leave the person wondering.
        stopping = f":octagonal_sign: Stopping {label}; its thread says when it stopped."
        self._answer(reply, render_reply(stopping))
        if not await self._controls.stop_thread(summary.record.thread, dedupe_key=dedupe_key):
            self._answer(reply, render_reply(f"I couldn't stop {label}; its thread says why."))

    async def status(self, reply: ReplyTo) -> None:
        """Health, and what new sessions in this channel run."""
        qoder_ok, store_ok, effective = await asyncio.gather(
            self._queries.qoder_reachable(),
            self._queries.store_healthy(),
            self._defaults.for_channel(reply.team, reply.channel),
        )
        health = Health(store_ok=store_ok, qoder_ok=qoder_ok, active_runs=self._queries.active_runs)
        self._answer(reply, render_health(health, self._view(effective)))

    async def show_config(self, reply: ReplyTo) -> None:
        """This channel's defaults and how to change them."""
        effective = await self._defaults.for_channel(reply.team, reply.channel)
        self._answer(
            reply, render_defaults(self._view(effective), may_change=self._defaults.may_change(reply.user))
        )

    async def set_config(self, reply: ReplyTo, *, agent_id: str | None, environment_id: str | None) -> None:
        """Change this channel's defaults (only ``ADMIN_USERS`` when that is set)."""
        try:
            effective = await self._defaults.change(
                reply.team, reply.channel, reply.user, agent_id=agent_id, environment_id=environment_id
            )
        except NotAnAdmin as refusal:
            self._answer(reply, render_not_admin(refusal.admins))
            return
        log.info(
            "defaults of %s changed by %s: agent %s, environment %s",
            reply.channel,
            reply.user,
            effective.agent_id,
            effective.environment_id,
        )
        self._answer(reply, render_defaults(self._view(effective), may_change=True, saved=True))

    def tell(self, reply: ReplyTo, text: str) -> None:
        """Answer with a short sentence in the bot's own words (mrkdwn)."""
        self._answer(reply, render_reply(text))

    def _view(self, effective: Effective) -> DefaultsView:
        return DefaultsView(
            agent_id=effective.agent_id,
            environment_id=effective.environment_id,
            agent_from_channel=effective.agent_from_channel,
            environment_from_channel=effective.environment_from_channel,
            set_by=effective.set_by,
            admins=self._defaults.admins,
        )

    def _answer(self, reply: ReplyTo, message: SlackMessage) -> None:
        self._outbox.respond(reply.team, reply.response_url, response(message))
