"""Payloads of the interactions Slack sends besides events and slash commands: a button click
(``block_actions``), a message shortcut (``message_action``), a modal's submission (``view_submission``)
and the Home tab being opened (``app_home_opened``, an event). Shapes follow Slack's reference pages for each payload.

``view_submission`` fills ``state.values`` from the view's input blocks the way Slack's client does, and
refuses (``NotSubmitted``) what a person could not submit: a required input left empty, or a value longer
than its ``max_length``.
"""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.block_kit import input_elements


class NotSubmitted(Exception):
    """Slack's client would not send this submission (it shows the person what is wrong instead)."""


def _user(team_id: str, user: str) -> dict[str, Any]:
    return {
        "id": user,
        "username": f"user-{user.lower()}",
        "name": f"user-{user.lower()}",
        "team_id": team_id,
    }


def message_of(team_id: str, ts: str, text: str, author: str, thread_ts: str | None) -> dict[str, Any]:
    """A person's message as interaction payloads carry it."""
    message: dict[str, Any] = {"type": "message", "user": author, "ts": ts, "text": text, "team": team_id}
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    return message


def block_actions(
    *,
    team_id: str,
    api_app_id: str,
    bot_user_id: str,
    action_id: str,
    value: str,
    channel: str,
    message_ts: str,
    thread_ts: str | None,
    user: str,
    trigger_id: str,
    response_url: str,
) -> dict[str, Any]:
    """A click on button ``action_id`` (carrying ``value``) in the bot's message ``message_ts``."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel,
        "is_ephemeral": False,
    }
    message: dict[str, Any] = {
        "type": "message",
        "ts": message_ts,
        "user": bot_user_id,
        "bot_id": "BBOT",
        "text": "",
    }
    if thread_ts is not None:
        container["thread_ts"] = thread_ts
        message["thread_ts"] = thread_ts
    button = {
        "type": "button",
        "action_id": action_id,
        "block_id": "fake-block",
        "value": value,
        "text": {"type": "plain_text", "text": action_id},
        "action_ts": f"{time.time():.6f}",
    }
    return {
        "type": "block_actions",
        "user": _user(team_id, user),
        "api_app_id": api_app_id,
        "token": "verification-token",
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": "fake-workspace"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": f"channel-{channel.lower()}"},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [button],
    }


def message_action(
    *,
    team_id: str,
    api_app_id: str,
    callback_id: str,
    channel: str,
    message: dict[str, Any],
    user: str,
    trigger_id: str,
    response_url: str,
) -> dict[str, Any]:
    """A person chose the shortcut ``callback_id`` on ``message`` (a message object: ts, text, user, …)."""
    return {
        "type": "message_action",
        "token": "verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "user": _user(team_id, user),
        "channel": {"id": channel, "name": f"channel-{channel.lower()}"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "response_url": response_url,
        "message_ts": message["ts"],
        "message": message,
        "api_app_id": api_app_id,
    }


def view_submission(
    *, team_id: str, api_app_id: str, view: dict[str, Any], values: dict[str, str], user: str, trigger_id: str
) -> dict[str, Any]:
    """A person submitted ``view`` (its ``payload()`` as Slack shows it) with ``values`` by ``block_id``."""
    inputs = input_elements(view)
    unknown = set(values) - set(inputs)
    if unknown:
        raise KeyError(f"the view has no input block {sorted(unknown)}")
    state: dict[str, dict[str, Any]] = {}
    for block_id, (action_id, element, optional) in inputs.items():
        value = values.get(block_id, element.get("initial_value") or "")
        if not value and not optional:
            raise NotSubmitted(f"required input {block_id!r} is empty")
        if len(value) > int(element.get("max_length", 3000)):
            raise NotSubmitted(f"input {block_id!r} is longer than its max_length")
        state[block_id] = {action_id: {"type": element["type"], "value": value or None}}
    submitted = {**view, "state": {"values": state}}
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "user": _user(team_id, user),
        "api_app_id": api_app_id,
        "token": "verification-token",
        "trigger_id": trigger_id,
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def app_home_opened(user: str, *, tab: str = "home", channel: str = "D0HOME") -> dict[str, Any]:
    """The ``app_home_opened`` event: ``user`` opened the app's ``home`` (or ``messages``) tab."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
