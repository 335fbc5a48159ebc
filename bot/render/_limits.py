"""How much each part of the bot's output may hold, named for what it limits, and the one way text is
shortened to fit: cut, with an ellipsis as its last character."""

from __future__ import annotations

# --- posted and edited messages (chat.postMessage / chat.update) ---------------------------------------
MESSAGE_TEXT_LIMIT = 3_900  # a message's ``text``
SECTION_TEXT_LIMIT = 3_000  # one section block's mrkdwn
# Slack allows 12,000 characters of markdown blocks per message but has refused ~13k of blocks in total.
MESSAGE_MARKDOWN_LIMIT = 11_000
MESSAGE_BLOCK_LIMIT = 50
MESSAGE_FOOTER_LIMIT = 198  # the context line under a finished turn
# Content is cut to leave room for the footer, so a footer appearing never moves earlier cuts.
MESSAGE_CONTENT_LIMIT = MESSAGE_TEXT_LIMIT - MESSAGE_FOOTER_LIMIT - 2
MESSAGE_CONTENT_BLOCKS = MESSAGE_BLOCK_LIMIT - 2  # the stop button and the footer
# Agent text starts a new message rather than a piece shorter than this at the end of a full one.
MESSAGE_MIN_ROOM = 400
NOTICE_MESSAGE_LIMIT = 500  # a message of its own from the bot (render_notice)
STATUS_NOTICE_LIMIT = 300  # the notice on a running turn's status line
TOOL_SUMMARY_LIMIT = 80
STOP_REASON_LIMIT = 60
BLOCK_ID_LIMIT = 255
APPROVAL_INPUT_LIMIT = 1_200  # what a tool call waiting for approval will run, as its prompt shows it
APPROVAL_REASON_LIMIT = 300  # a deny's reason, where the reply shows it
STREAM_APPROVAL_BLOCKS = 40  # blocks a paused native stream's last message may carry for its approvals
OUTCOME_DESCRIPTION_LIMIT = 150  # what an outcome asks for, where the reply names it
OUTCOME_EXPLANATION_LIMIT = 300  # the grader's explanation of a verdict

# --- native streams (chat.startStream / appendStream / stopStream) -------------------------------------
STREAM_MARKDOWN_LIMIT = 12_000  # markdown_text per call, and (cumulatively) markdown per stream message
# Markdown per stream message, leaving room for the line that closes a code block cut at its end.
STREAM_MESSAGE_LIMIT = STREAM_MARKDOWN_LIMIT - 500
STREAM_FOOTER_LIMIT = 1_000
TASK_TITLE_LIMIT = 200
TASK_OUTPUT_LIMIT = 500

# --- cutting -------------------------------------------------------------------------------------------
MIN_CUT_LIMIT = 16  # the smallest piece a splitter can cut text into


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its first ``limit - 1`` and ``…``."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
