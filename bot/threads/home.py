"""The App Home tab: published for a person whenever they open it (``app_home_opened``), with their
recent sessions and the workspace's defaults. Lookups have deadlines, so a slow Qoder or Slack only makes
the tab say less (state "unknown", no link)."""

from __future__ import annotations

import logging

from bot.outbox import Outbox, SlackError
from bot.render.home import home_view
from bot.threads.defaults import Defaults
from bot.threads.queries import Queries

log = logging.getLogger(__name__)

RECENT_SESSIONS = 10


class Home:
    """Publishes each person's Home tab."""

    def __init__(self, queries: Queries, defaults: Defaults, outbox: Outbox) -> None:
        self._queries = queries
        self._defaults = defaults
        self._outbox = outbox

    async def publish(self, team: str, user: str) -> None:
        """Show ``user`` their Home tab as it is now; a refusal by Slack is logged."""
        summaries = await self._queries.sessions_started_by(team, user, RECENT_SESSIONS)
        workspace = self._defaults.workspace
        view = home_view(
            [summary.row() for summary in summaries],
            agent_id=workspace.agent_id,
            environment_id=workspace.environment_id,
        )
        try:
            await self._outbox.workspace(team).call("views.publish", user, {"user_id": user, "view": view})
        except SlackError as error:
            log.warning("could not publish the Home tab of %s: %s", user, error.code)
