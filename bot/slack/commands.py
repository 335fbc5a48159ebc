"""``/qoder`` — start and manage sessions from any channel.

Every command is acknowledged at once, before anything waits on Qoder or Slack: help and bad input are
answered in the acknowledgement itself, ``new`` with "Starting…"; the rest is answered through the
command's ``response_url`` once the use case has its answer (and "Starting…" is always followed by where
the session is, or why there is none).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.slack.command_line import (
    Command,
    Help,
    ListSessions,
    New,
    SetConfig,
    ShowConfig,
    Status,
    Stop,
    UsageError,
    parse,
)
from bot.slack.text import to_agent_text
from bot.threads import ReplyTo, StartRequest, UseCases

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[None]]

HELP = """*Qoder in Slack*
• Mention me (`@Qoder fix the flaky test`) or DM me to start a session; reply in the thread to continue it.
• *⋯ → Ask Qoder* on any message starts a session in its thread, with the message as context.
• `/qoder new &lt;task&gt; [--agent ID] [--env ID] [--outcome "TEXT"]` — start a session thread in this channel.
• `/qoder list` — this channel's sessions, newest first, numbered.
• `/qoder stop &lt;n&gt;` — stop the run of session n of the list.
• `/qoder status` — is the bot healthy, can it reach Qoder, how many runs are active.
• `/qoder config` — what new sessions here run; `/qoder config agent &lt;id&gt;`, `config env &lt;id&gt;` or `config reset` \
to change it.
• To stop a run, react with :octagonal_sign: to the thread's first message or any of my replies, or press *Stop*.
Messages sent while a run is going are queued and sent when it ends."""

STARTING = "Starting a Qoder session…"
NOT_ALLOWED = "Sorry, I'm not enabled for you in this channel. Ask an admin to add you."
FAILED = "Something went wrong while answering; the bot's log says what."


async def handle_command(
    ack: Ack, command: dict[str, Any], use_cases: UseCases, bot_user_id: str | None
) -> None:
    """Acknowledge ``/qoder <verb> …`` within Slack's 3 s, then answer through its response_url."""
    try:
        parsed = parse(str(command.get("text") or ""))
    except UsageError as error:
        await ack(text=str(error))
        return
    if isinstance(parsed, Help):
        await ack(text=HELP)
        return
    reply = ReplyTo(
        team=str(command.get("team_id") or ""),
        channel=str(command.get("channel_id") or ""),
        user=str(command.get("user_id") or ""),
        response_url=str(command.get("response_url") or ""),
    )
    if isinstance(parsed, New):
        if not use_cases.starts.allowed(reply.user, reply.channel):
            await ack(text=NOT_ALLOWED)
            return
        await ack(text=STARTING)
        await use_cases.starts.from_command(
            StartRequest(
                team=reply.team,
                channel=reply.channel,
                user=reply.user,
                task=to_agent_text(parsed.task, bot_user_id),
                response_url=reply.response_url,
                agent_id=parsed.agent_id,
                environment_id=parsed.environment_id,
                outcome=to_agent_text(parsed.outcome, bot_user_id),
            )
        )
        return
    await ack()
    try:
        await _answer(parsed, reply, use_cases, dedupe_key=f"command:{command.get('trigger_id')}")
    except Exception:
        use_cases.commands.tell(reply, FAILED)
        raise


async def _answer(parsed: Command, reply: ReplyTo, use_cases: UseCases, *, dedupe_key: str) -> None:
    commands = use_cases.commands
    if isinstance(parsed, ListSessions):
        await commands.list_sessions(reply)
    elif isinstance(parsed, Stop):
        await commands.stop(reply, parsed.number, dedupe_key=dedupe_key)
    elif isinstance(parsed, Status):
        await commands.status(reply)
    elif isinstance(parsed, ShowConfig):
        await commands.show_config(reply)
    elif isinstance(parsed, SetConfig):
        await commands.set_config(reply, agent_id=parsed.agent_id, environment_id=parsed.environment_id)
