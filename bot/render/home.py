"""The App Home tab: how to start a session, the viewer's recent sessions and the workspace's defaults.
Pure; the view is what ``views.publish`` takes (a ``home`` view, ≤ 100 blocks, sections ≤ 3,000)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.render import escape
from bot.render.panels import SessionRow, session_label, state_line

MAX_SESSIONS = 15

HOW_TO_START = "\n".join(
    [
        "*Start a session*",
        "• Mention *@Qoder* with a task in a channel, or send me a direct message. Replies in the thread continue it.",
        '• `/qoder new &lt;task&gt;` in any channel (`--agent`, `--env` and `--outcome "…"` are optional).',
        "• On any message: *⋯ → Ask Qoder* starts a session in that message's thread, with the message as context.",
        "• React with :octagonal_sign: or press *Stop* to interrupt a run. `/qoder help` lists every command.",
    ]
)


def home_view(rows: Sequence[SessionRow], *, agent_id: str, environment_id: str) -> dict[str, Any]:
    """The Home tab for someone whose sessions are ``rows`` (newest first)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Qoder"}},
        _section("Work with a Qoder Cloud Agent from Slack: one thread is one session."),
        _section(HOW_TO_START),
        {"type": "divider"},
        _section("*Your recent sessions*"),
    ]
    if rows:
        blocks += [
            _section(f"{session_label(row)}\n{_where(row.channel)} · {state_line(row)}")
            for row in rows[:MAX_SESSIONS]
        ]
    else:
        blocks.append(
            _section("_None yet. Start one with a mention, `/qoder new &lt;task&gt;` or *Ask Qoder*._")
        )
    blocks += [
        {"type": "divider"},
        _section(
            f"*Workspace defaults*\nNew sessions run agent `{escape(agent_id)}` in environment"
            f" `{escape(environment_id)}`, unless a channel sets its own with `/qoder config`."
        ),
    ]
    return {"type": "home", "blocks": blocks}


def _where(channel: str) -> str:
    return "a direct message" if channel.startswith("D") else f"<#{channel}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
