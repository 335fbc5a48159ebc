"""Turn state and agent Markdown into Slack messages: pure functions, no I/O.

``render_turn`` is what the publisher posts for a turn; ``markdown_to_mrkdwn`` and ``split_mrkdwn`` are
the building blocks, usable on their own.
"""

from bot.render.message import SlackMessage, build_messages, render_notice, stop_button
from bot.render.mrkdwn import escape, markdown_to_mrkdwn, neutralise, safe_text
from bot.render.split import Piece, split_mrkdwn, split_pieces
from bot.render.timeline import format_duration, render_turn, tool_line, tool_summary

__all__ = [
    "Piece",
    "SlackMessage",
    "build_messages",
    "escape",
    "format_duration",
    "markdown_to_mrkdwn",
    "neutralise",
    "render_notice",
    "render_turn",
    "safe_text",
    "split_mrkdwn",
    "split_pieces",
    "stop_button",
    "tool_line",
    "tool_summary",
]
