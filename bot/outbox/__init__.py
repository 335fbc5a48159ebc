"""The outbox: the only code that writes to Slack.

The rest of the bot says what should be visible — this reply shows this rendering, this message carries
that reaction, the thread status is "is working…", post this notice — and the outbox decides when and how
to make it so, within each workspace's budget:

* ``Outbox`` holds one ``WorkspaceOutbox`` per Slack workspace (team id) over one ``Transport``.
* ``WorkspaceOutbox`` makes calls (``call``, ``post``, ``permalink``) and keeps intents (``react``,
  ``set_status``, ``notice``, ``ephemeral``, ``delete``) in the background; nothing there raises to callers.
* ``Outbox.respond`` answers a slash command or shortcut through its ``response_url`` (a ``Responder``),
  in the background like the intents.
* ``EditWriter`` and ``NativeStreamWriter`` keep a turn's replies in step with its newest rendering; they
  share ``FramePacer``'s pacing.
* Every call goes through one transport that counts it (``bot.metrics``) and replaces any configured
  secret in its parameters with ``[redacted]``.
* Writes wait for the ``Foreground`` first: a burst of people's messages reaches Qoder before the output
  they cause competes with it (``Outbox.foreground`` is shared with intake and the relay).
* ``Scheduler`` grants calls by ``Priority`` over token buckets per method and scope (``slack_limits``);
  a 429 holds that method and scope for ``Retry-After`` and the call is planned again, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from bot.foreground import Foreground
from bot.outbox._edit import DIVERT_AFTER_SECONDS, EditWriter
from bot.outbox._limits import Limits, Rate, slack_limits
from bot.outbox._native import NativeStreamWriter
from bot.outbox._pacer import FramePacer
from bot.outbox._respond import Responder, ResponseUrlPoster
from bot.outbox._scheduler import Grant, Priority, Scheduler, Want
from bot.outbox._timing import Clock, Sleep
from bot.outbox._transport import (
    CountedTransport,
    RateLimited,
    RedactingTransport,
    SlackError,
    Transport,
    WebClientTransport,
)
from bot.outbox._workspace import WorkspaceOutbox

__all__ = [
    "DIVERT_AFTER_SECONDS",
    "EditWriter",
    "FramePacer",
    "Grant",
    "Limits",
    "NativeStreamWriter",
    "Outbox",
    "Priority",
    "Rate",
    "RateLimited",
    "Responder",
    "ResponseUrlPoster",
    "Scheduler",
    "SlackError",
    "Transport",
    "Want",
    "WebClientTransport",
    "WorkspaceOutbox",
    "slack_limits",
]

log = logging.getLogger(__name__)


class Outbox:
    """One ``WorkspaceOutbox`` per workspace, created on first use, all over one transport."""

    def __init__(
        self,
        transport: Transport,
        limits: Limits | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        secrets: Iterable[str] = (),
        responder: Responder | None = None,
        foreground: Foreground | None = None,
    ) -> None:
        self.foreground = foreground if foreground is not None else Foreground()
        # Every Slack call is counted here, and no configured secret is ever sent to Slack.
        self._transport: Transport = CountedTransport(RedactingTransport(transport, secrets))
        self._responder = responder
        self._limits = limits if limits is not None else slack_limits()
        self._clock = clock
        self._sleep = sleep
        self._workspaces: dict[str, WorkspaceOutbox] = {}
        self._identity: dict[str, Any] | None = None
        self._identity_lock = asyncio.Lock()

    def workspace(self, team: str) -> WorkspaceOutbox:
        """The outbox of workspace ``team``."""
        outbox = self._workspaces.get(team)
        if outbox is None:
            outbox = self._workspaces[team] = WorkspaceOutbox(
                self._transport,
                self._limits,
                clock=self._clock,
                sleep=self._sleep,
                foreground=self.foreground,
            )
        return outbox

    def respond(self, team: str, url: str, payload: Mapping[str, Any]) -> None:
        """Answer through ``url`` (a command's or shortcut's ``response_url``) soon; failures are logged.
        ``payload`` is Slack's response body: ``text`` and/or ``blocks``, ``response_type``, …"""
        responder = self._responder
        if responder is None:
            raise RuntimeError("this Outbox was built without a responder, so it cannot use response URLs")

        async def post() -> None:
            try:
                await responder(url, payload)
            except SlackError as error:
                log.warning("could not answer through a response_url: %s", error)

        self.workspace(team).spawn(post(), name="respond")

    async def identity(self) -> dict[str, Any]:
        """Slack's ``auth.test`` answer for the bot token: asked once per process, however many ask at once.
        Raises ``SlackError`` when Slack refuses the token."""
        async with self._identity_lock:
            if self._identity is None:
                self._identity = await self._transport("auth.test", {})
            return self._identity

    async def verify(self) -> dict[str, Any]:
        """Ask Slack's ``auth.test`` now, bypassing the cached identity (readiness probes).
        Raises ``SlackError`` when Slack refuses the token."""
        return await self._transport("auth.test", {})

    async def drain(self, timeout: float) -> None:
        """Give pending background calls up to ``timeout`` seconds (shutdown)."""
        await asyncio.gather(*(outbox.drain(timeout) for outbox in self._workspaces.values()))

    async def aclose(self) -> None:
        """Cancel whatever is still pending in every workspace."""
        await asyncio.gather(*(outbox.aclose() for outbox in self._workspaces.values()))
