"""``/qoder`` — start and manage sessions from any channel. Every answer is given within Slack's 3 s."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.outbox import SlackError
from bot.render import escape
from bot.threads import Queries, UseCases

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[None]]

HELP = """*Qoder in Slack*
• Mention me (`@Qoder fix the flaky test`) or DM me to start a session; reply in the thread to continue it.
• `/qoder new <task>` — start a new session thread in this channel.
• `/qoder list` — this channel's sessions.
• `/qoder status` — is the bot healthy, can it reach Qoder, how many runs are active.
• To stop a run, react with :octagonal_sign: to the thread's first message or any of my replies, or press *Stop*.
Messages sent while a run is going are queued and sent when it ends."""

STATUS_ICONS = {
    "running": ":hourglass_flowing_sand:",
    "idle": ":white_circle:",
    "terminated": ":black_circle:",
}


async def handle_command(ack: Ack, command: dict[str, Any], use_cases: UseCases) -> None:
    """Dispatch ``/qoder <verb> …``; unknown verbs get the help text."""
    verb, _, rest = str(command.get("text") or "").strip().partition(" ")
    verb = verb.lower()
    team, channel, user = (
        str(command.get("team_id")),
        str(command.get("channel_id")),
        str(command.get("user_id")),
    )
    if verb == "new":
        prompt = rest.strip()
        if not prompt:
            await ack(text="Tell me what to do: `/qoder new <task>`.")
            return
        await ack(text="Starting a Qoder session…")
        try:
            await use_cases.intake.start_from_command(team, channel, user, prompt)
        except SlackError as error:
            log.warning("/qoder new could not post in %s: %s", channel, error.code)
        except Exception:
            log.exception("/qoder new failed in %s", channel)
        return
    if verb == "list":
        await ack(text=await _list_text(use_cases.queries, team, channel))
        return
    if verb == "status":
        await ack(text=await _status_text(use_cases.queries))
        return
    await ack(text=HELP)


async def _list_text(queries: Queries, team: str, channel: str) -> str:
    sessions = await queries.list_sessions(team, channel)
    if not sessions:
        return "No Qoder sessions in this channel yet. Mention me or use `/qoder new <task>`."
    lines = ["*Qoder sessions in this channel*"]
    for summary in sessions:
        record = summary.record
        icon = STATUS_ICONS.get(summary.status, ":grey_question:")
        queued = f", {summary.queued} queued" if summary.queued else ""
        title = escape(record.title or record.session_id).replace("|", "¦")
        label = f"<{summary.permalink}|{title}>" if summary.permalink else title
        lines.append(f"{icon} {label} — {summary.status}{queued} (`{record.session_id}`)")
    return "\n".join(lines)


async def _status_text(queries: Queries) -> str:
    reachable, store_ok = await asyncio.gather(queries.qoder_reachable(), queries.store_healthy())
    return "\n".join(
        [
            "*qoder-slack status*",
            f"{':white_check_mark:' if store_ok else ':x:'} store {'ok' if store_ok else 'not answering'}",
            f"{':white_check_mark:' if reachable else ':x:'} Qoder {'reachable' if reachable else 'not reachable'}",
            f":runner: {queries.active_runs} active run(s)",
        ]
    )
