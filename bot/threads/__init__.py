"""The use cases, one module each: ``intake`` (a message arrives), ``sessions`` (a thread's session and
queue), ``controls`` (stop, approvals), ``thread_commands`` (the ``!`` commands, read by ``command_text``)
and ``queries`` (``/qoder list``/``status``). ``UseCases`` bundles what the Slack listeners call; ``build``
wires them over the lower layers."""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import TurnRecord
from bot.outbox import Outbox
from bot.store import Store
from bot.threads._ports import QoderSessions, TurnRelay
from bot.threads._shared import Background, IncomingMessage, Reactions, ThreadsConfig
from bot.threads.controls import Controls
from bot.threads.feedback import Feedback
from bot.threads.intake import Intake
from bot.threads.queries import Queries, SessionSummary
from bot.threads.sessions import Sessions
from bot.threads.thread_commands import ThreadCommands
from bot.turn import TurnState

__all__ = [
    "Controls",
    "IncomingMessage",
    "Intake",
    "Queries",
    "Reactions",
    "SessionSummary",
    "Sessions",
    "ThreadCommands",
    "ThreadsConfig",
    "UseCases",
]


@dataclass
class UseCases:
    """Everything the Slack layer may call."""

    intake: Intake
    sessions: Sessions
    controls: Controls
    queries: Queries
    background: Background

    async def turn_ended(self, turn: TurnRecord, state: TurnState) -> None:
        """The relay's report that a turn ended: send what waits behind it."""
        await self.sessions.turn_ended(turn, state)

    async def aclose(self) -> None:
        """Stop background work (retries, waits for busy sessions); what it held stays in the store."""
        await self.background.aclose()

    @classmethod
    def build(
        cls,
        qoder: QoderSessions,
        store: Store,
        relay: TurnRelay,
        outbox: Outbox,
        config: ThreadsConfig,
        *,
        background: Background | None = None,
    ) -> UseCases:
        background = background if background is not None else Background()
        feedback = Feedback(outbox, store)
        sessions = Sessions(qoder, store, relay, feedback, config, background)
        controls = Controls(qoder, store, relay, feedback)
        commands = ThreadCommands(qoder, store, sessions, controls, feedback, config)
        return cls(
            intake=Intake(store, sessions, feedback, outbox, config, background, commands),
            sessions=sessions,
            controls=controls,
            queries=Queries(qoder, store, relay, outbox),
            background=background,
        )
