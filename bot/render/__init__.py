"""Turn state and agent Markdown into Slack messages: pure functions, no I/O.

``render_turn`` is what the publisher posts for a turn; ``build_messages`` lays out content parts within
Slack's limits; ``markdown_to_mrkdwn``/``safe_markdown`` and the splitters are the building blocks.
"""

from bot.render._cut import Piece, cut_markdown, split_markdown, split_mrkdwn, split_pieces
from bot.render._safety import escape, neutralise, neutralise_markdown, safe_markdown, safe_text
from bot.render.message import Part, SlackMessage, build_messages, render_notice, stop_button
from bot.render.mrkdwn import markdown_to_mrkdwn
from bot.render.timeline import format_duration, render_turn, tool_line, tool_summary

__all__ = [
    "Part",
    "Piece",
    "SlackMessage",
    "build_messages",
    "cut_markdown",
    "escape",
    "format_duration",
    "markdown_to_mrkdwn",
    "neutralise",
    "neutralise_markdown",
    "render_notice",
    "render_turn",
    "safe_markdown",
    "safe_text",
    "split_markdown",
    "split_mrkdwn",
    "split_pieces",
    "stop_button",
    "tool_line",
    "tool_summary",
]
