"""The use cases, one module each: ``intake`` (a message arrives), ``sessions`` (a thread's session and
queue), ``controls`` (stop, approvals), ``thread_commands`` (the ``!`` commands, read by ``command_text``),
``queries`` (sessions and health, within deadlines), ``starts`` (``/qoder new`` and the Ask Qoder shortcut),
``commands`` (the other ``/qoder`` answers), ``defaults`` (channel defaults), ``home`` (the App Home tab) and
``custom_tools`` (answering the agent's custom tool calls).
``UseCases`` bundles what the Slack listeners call; ``build`` wires them over the lower layers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.models import TurnRecord
from bot.outbox import Outbox
from bot.store import Store
from bot.threads._ports import QoderSessions, TurnRelay
from bot.threads._shared import Background, IncomingMessage, Reactions, ThreadsConfig
from bot.threads.approvals import Approvers
from bot.threads.attachments import Attachments
from bot.threads.commands import Commands, ReplyTo
from bot.threads.controls import Controls
from bot.threads.custom_tools import CustomTools
from bot.threads.defaults import Defaults
from bot.threads.feedback import Feedback
from bot.threads.home import Home
from bot.threads.intake import Intake
from bot.threads.queries import Queries, SessionSummary
from bot.threads.sessions import Sessions
from bot.threads.starts import StartRequest, Starts
from bot.threads.thread_commands import ThreadCommands
from bot.turn import TurnState

__all__ = [
    "Attachments",
    "Commands",
    "Controls",
    "CustomTools",
    "Defaults",
    "Home",
    "IncomingMessage",
    "Intake",
    "Queries",
    "Reactions",
    "ReplyTo",
    "SessionSummary",
    "Sessions",
    "StartRequest",
    "Starts",
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
    starts: Starts
    commands: Commands
    home: Home
    custom_tools: CustomTools

    async def turn_ended(self, turn: TurnRecord, state: TurnState) -> None:
        """The relay's report that a turn ended (or paused): send what waits behind it. A paused turn's
        custom tools are answered, and its approvals get their reminder."""
        if state.phase == "needs_action":
            self.controls.paused(turn, state)
            await self.custom_tools.on_pause(turn, state)
        else:
            await self.custom_tools.turn_over(turn)
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
        custom_tools: Mapping[str, str] | None = None,
        attachments: Attachments | None = None,
    ) -> UseCases:
        """Wire the use cases. ``custom_tools``: ``CUSTOM_TOOLS``, the built-in handler of each custom tool
        name; ``attachments`` fetches the files shared with messages (without it they are only named)."""
        background = background if background is not None else Background()
        feedback = Feedback(outbox, store)
        defaults = Defaults(store, config)
        sessions = Sessions(qoder, store, relay, feedback, config, background, defaults, attachments)
        tools = CustomTools(
            qoder, store, relay, outbox, feedback, background, custom_tools, reactions=config.reactions
        )
        controls = Controls(
            qoder,
            store,
            relay,
            feedback,
            outbox,
            approvers=Approvers(outbox, config.approvers),
            background=background,
            remind_after=config.approval_remind_after,
            reactions=(config.reactions.received, config.reactions.stopped),
            custom_tools=tools,
        )
        sessions.on_superseded = controls.superseded
        thread_commands = ThreadCommands(qoder, store, sessions, controls, feedback, config)
        intake = Intake(store, sessions, feedback, outbox, config, background, thread_commands, tools)
        queries = Queries(qoder, store, relay, outbox)
        return cls(
            intake=intake,
            sessions=sessions,
            controls=controls,
            queries=queries,
            background=background,
            starts=Starts(intake, outbox, config),
            commands=Commands(queries, controls, defaults, store, outbox),
            home=Home(queries, defaults, outbox),
            custom_tools=tools,
        )
