"""Turn state and agent Markdown into Slack output: pure functions, no I/O.

``render_turn`` gives the messages the edit writer posts and edits for a turn; ``render_stream`` the
content of a native stream (``StreamView``, with a ``TaskChunk`` per tool call); ``render_notice`` a short
message from the bot, ``render_mrkdwn`` a longer one the caller wrote in mrkdwn, and
``render_turn_end_notice`` tells someone their long turn ended, ``render_approval_reminder`` that their turn
still waits for an approval. ``plan_appends`` lays a stream's growing
Markdown out over stream messages for the native-stream writer. ``outcome_line`` sums an outcome up on one
line. ``escape`` makes literal text safe inside the bot's own mrkdwn; ``safe_text`` also neutralises
broadcasts, for the agent's words. ``artifact_name``, ``upload_title``, ``upload_filename`` and
``format_size`` describe a file the agent delivered.
"""

from bot.render._artifact import artifact_name, format_size, upload_filename, upload_title
from bot.render._message import SlackMessage, render_mrkdwn, render_notice
from bot.render._outcome import status_line as outcome_line
from bot.render._safety import escape, safe_text
from bot.render._stream import StreamView, TaskChunk, render_stream
from bot.render._stream_plan import Append, Streamed, closing_chunks, footer_blocks, plan_appends
from bot.render._timeline import (
    format_duration,
    render_approval_reminder,
    render_turn,
    render_turn_end_notice,
)

__all__ = [
    "Append",
    "SlackMessage",
    "StreamView",
    "Streamed",
    "TaskChunk",
    "artifact_name",
    "closing_chunks",
    "escape",
    "footer_blocks",
    "format_duration",
    "format_size",
    "outcome_line",
    "plan_appends",
    "render_approval_reminder",
    "render_mrkdwn",
    "render_notice",
    "render_stream",
    "render_turn",
    "render_turn_end_notice",
    "safe_text",
    "upload_filename",
    "upload_title",
]
