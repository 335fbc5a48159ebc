"""What ``/qoder`` answers with: the channel's sessions, health, channel defaults and short replies.

Pure. Every answer is a ``SlackMessage``: ``text`` (mrkdwn, also the notification) and the same content as
section blocks, within Slack's limits (≤ 50 blocks, sections ≤ 3,000 characters). Literal text (titles,
ids, tasks) is escaped, so nothing in it can mention anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.render import SlackMessage, escape

STATE_ICONS = {
    "running": ":hourglass_flowing_sand:",
    "canceling": ":hourglass_flowing_sand:",
    "idle": ":white_circle:",
    "terminated": ":black_circle:",
}
TITLE_LIMIT = 80
SECTION_LIMIT = 3000
MAX_ROWS = 40


@dataclass(frozen=True)
class SessionRow:
    """One session as a person sees it in a list: where it is, what it is about, how it is doing."""

    title: str
    state: str  # Qoder's status, "unknown" when it did not answer in time
    channel: str
    link: str = ""  # the thread's permalink ("" when Slack did not give one in time)
    queued: int = 0
    session_id: str = ""


@dataclass(frozen=True)
class Health:
    """What ``/qoder status`` reports."""

    store_ok: bool
    qoder_ok: bool
    active_runs: int


@dataclass(frozen=True)
class DefaultsView:
    """A channel's defaults as ``/qoder config`` shows them."""

    agent_id: str
    environment_id: str
    agent_from_channel: bool
    environment_from_channel: bool
    set_by: str = ""
    admins: tuple[str, ...] = ()


def session_label(row: SessionRow) -> str:
    """The session's title, linked to its thread when there is a link (mrkdwn)."""
    title = escape(_shorten(row.title or row.session_id or "Qoder session", TITLE_LIMIT)).replace("|", "¦")
    return f"<{row.link}|{title}>" if row.link else title


def state_line(row: SessionRow) -> str:
    icon = STATE_ICONS.get(row.state, ":grey_question:")
    queued = f", {row.queued} queued" if row.queued else ""
    return f"{icon} {row.state}{queued}"


def render_session_list(rows: Sequence[SessionRow]) -> SlackMessage:
    """``/qoder list``: numbered newest first, as ``/qoder stop <n>`` counts them."""
    if not rows:
        return _message(
            ["No Qoder sessions in this channel yet. Mention me or use `/qoder new &lt;task&gt;`."]
        )
    lines = ["*Qoder sessions in this channel*, newest first:"]
    lines += [f"*{n}.* {session_label(row)} — {state_line(row)}" for n, row in enumerate(rows[:MAX_ROWS], 1)]
    lines.append("_Stop a running one with `/qoder stop &lt;n&gt;`._")
    return _message(lines)


def render_health(health: Health, defaults: DefaultsView) -> SlackMessage:
    """``/qoder status``: is the bot healthy, and what this channel's new sessions run."""

    def mark(ok: bool) -> str:
        return ":white_check_mark:" if ok else ":x:"

    return _message(
        [
            "*qoder-slack status*",
            f"{mark(health.store_ok)} store {'ok' if health.store_ok else 'not answering'}",
            f"{mark(health.qoder_ok)} Qoder {'reachable' if health.qoder_ok else 'not reachable'}",
            f":runner: {health.active_runs} active run(s)",
            f":gear: new sessions here run agent `{escape(defaults.agent_id)}`"
            f" in environment `{escape(defaults.environment_id)}`",
        ]
    )


def render_defaults(defaults: DefaultsView, *, may_change: bool, saved: bool = False) -> SlackMessage:
    """``/qoder config``: this channel's defaults, where each comes from, and how to change them."""

    def source(own: bool) -> str:
        if not own:
            return "the workspace's default"
        return f"set for this channel by <@{defaults.set_by}>" if defaults.set_by else "set for this channel"

    lines = [
        "*Saved.* New sessions in this channel now run:" if saved else "*New sessions in this channel run:*",
        f"• agent `{escape(defaults.agent_id)}` — {source(defaults.agent_from_channel)}",
        f"• environment `{escape(defaults.environment_id)}` — {source(defaults.environment_from_channel)}",
    ]
    if may_change:
        lines.append(
            "_Change with `/qoder config agent &lt;id&gt;` or `/qoder config env &lt;id&gt;`; "
            "`/qoder config reset` returns to the workspace's defaults._"
        )
    else:
        lines.append(f"_Only {_people(defaults.admins)} can change them._")
    return _message(lines)


def render_not_admin(admins: Sequence[str]) -> SlackMessage:
    return _message([f"Only {_people(admins)} can change this channel's defaults. Ask one of them."])


def render_started(link: str) -> SlackMessage:
    """``/qoder new`` (or the shortcut) worked: where the session's thread is."""
    where = f"<{link}|in this thread>" if link else "in a new thread here"
    return _message([f":rocket: Started a Qoder session {where}. Follow along and reply there."])


def render_reply(text: str) -> SlackMessage:
    """A short answer in the bot's own words (mrkdwn the bot wrote, not user text)."""
    return _message([text])


def response(message: SlackMessage) -> dict[str, Any]:
    """A ``response_url`` body showing ``message`` only to the person who asked."""
    return {"response_type": "ephemeral", **message.payload()}


def _people(users: Sequence[str]) -> str:
    mentions = [f"<@{user}>" for user in users]
    if len(mentions) <= 1:
        return mentions[0] if mentions else "admins"
    return ", ".join(mentions[:-1]) + " or " + mentions[-1]


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _message(lines: Sequence[str]) -> SlackMessage:
    shown = [line for line in lines if line.strip()]  # Slack refuses an empty section
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": line[:SECTION_LIMIT]}} for line in shown[:48]
    ]
    return SlackMessage(text="\n".join(shown)[:3900] or "…", blocks=tuple(blocks))
