"""The contract between the buttons the bot posts and the listeners that handle their clicks: pure data.

A button carries an ``action_id`` saying what it does and a ``value`` saying what it applies to. The Stop
button's value is the thread key; an approval button's value (Approve, Deny, Deny with reason…) is the
thread key and the tool call's id, and so is the ``private_metadata`` of the modal asking for a reason.
"""

from __future__ import annotations

from bot.models import ThreadKey

STOP_ACTION_ID = "qoder_stop"
APPROVE_ACTION_ID = "qoder_approve"
DENY_ACTION_ID = "qoder_deny"
DENY_REASON_ACTION_ID = "qoder_deny_reason"  # opens the modal asking why

_TOOL_SEPARATOR = "|"


def stop_value(thread: ThreadKey) -> str:
    """The Stop button's value for the turn running in ``thread``."""
    return str(thread)


def parse_stop_value(value: str) -> ThreadKey:
    """The thread a Stop button's ``value`` stops; raises ``ValueError`` for a value the bot did not make."""
    return ThreadKey.parse(value)


def approval_value(thread_value: str, tool_use_id: str) -> str:
    """An Approve / Deny button's value: the thread's Stop value (see :func:`stop_value`) and the tool call."""
    return f"{thread_value}{_TOOL_SEPARATOR}{tool_use_id}"


def parse_approval_value(value: str) -> tuple[ThreadKey, str]:
    """The thread and tool call id an approval button's ``value`` names; raises ``ValueError`` for a value
    the bot did not make."""
    thread_value, _, tool_use_id = value.partition(_TOOL_SEPARATOR)  # a thread key never holds one
    if not tool_use_id:
        raise ValueError(f"not an approval value: {value!r}")
    return ThreadKey.parse(thread_value), tool_use_id
