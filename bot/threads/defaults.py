"""Channel defaults: what new sessions in a channel run, shown and changed with ``/qoder config``.

A channel may set an agent, an environment, or both; what it does not set comes from the deployment
(``QODER_AGENT_ID``, ``QODER_ENVIRONMENT_ID``). When ``ADMIN_USERS`` is set only those people may change a
channel's defaults; anyone may look at them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.models import ChannelDefaults, QueuedMessage, SessionRecord, ThreadKey
from bot.store import Store
from bot.threads._shared import ThreadsConfig


class NotAnAdmin(Exception):
    """The person may not change channel defaults; ``admins`` are who may."""

    def __init__(self, admins: tuple[str, ...]) -> None:
        super().__init__("only ADMIN_USERS may change channel defaults")
        self.admins = admins


@dataclass(frozen=True)
class Effective:
    """What a new session in a channel runs, and whether each value is the channel's own."""

    agent_id: str
    environment_id: str
    agent_from_channel: bool = False
    environment_from_channel: bool = False
    set_by: str = ""  # who last changed the channel's own values ("" when it has none)


class Defaults:
    """Reads and changes channel defaults over the store."""

    def __init__(
        self, store: Store, config: ThreadsConfig, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock

    @property
    def workspace(self) -> Effective:
        """The deployment's defaults, which every channel starts with."""
        return Effective(self._config.agent_id, self._config.environment_id)

    @property
    def admins(self) -> tuple[str, ...]:
        """Who may change channel defaults; empty: everyone."""
        return self._config.admin_users

    def may_change(self, user: str) -> bool:
        return not self._config.admin_users or user in self._config.admin_users

    async def for_channel(self, team: str, channel: str) -> Effective:
        """What a new session in the channel runs."""
        own = await self._store.get_channel_defaults(team, channel)
        return self._effective(own)

    async def choose(
        self, thread: ThreadKey, message: QueuedMessage | None, replacing: SessionRecord | None = None
    ) -> tuple[str, str]:
        """The (agent, environment) of a new session for ``thread``, each: what ``message`` (the one it is
        created for, if any) chose, else what the session it replaces ran, else the channel's default."""
        channel = await self.for_channel(thread.team, thread.channel)
        before = replacing or SessionRecord(thread, "", 0.0)
        chose = message or QueuedMessage(thread, "", "", "")
        agent = chose.agent_id or before.agent_id or channel.agent_id
        return agent, chose.environment_id or before.environment_id or channel.environment_id

    async def change(
        self, team: str, channel: str, user: str, *, agent_id: str | None, environment_id: str | None
    ) -> Effective:
        """Set (a value), keep (None) or return to the workspace's default ("") each of the channel's
        values; raises ``NotAnAdmin`` when ``user`` may not."""
        if not self.may_change(user):
            raise NotAnAdmin(self._config.admin_users)
        own = await self._store.get_channel_defaults(team, channel)
        updated = ChannelDefaults(
            team,
            channel,
            agent_id=(own.agent_id if own else "") if agent_id is None else agent_id,
            environment_id=(own.environment_id if own else "") if environment_id is None else environment_id,
            updated_by=user,
            updated_at=self._clock(),
        )
        await self._store.save_channel_defaults(updated)
        return self._effective(None if updated.empty else updated)

    def _effective(self, own: ChannelDefaults | None) -> Effective:
        agent = own.agent_id if own and own.agent_id else ""
        environment = own.environment_id if own and own.environment_id else ""
        return Effective(
            agent or self._config.agent_id,
            environment or self._config.environment_id,
            agent_from_channel=bool(agent),
            environment_from_channel=bool(environment),
            set_by=own.updated_by if own else "",
        )
