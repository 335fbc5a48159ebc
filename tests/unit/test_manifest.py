"""The app manifest asks for what the bot uses and nothing else, and declares what the code listens for."""

from __future__ import annotations

from typing import Any

from bot.outbox import slack_limits
from bot.render.modal import ASK_SHORTCUT_ID
from tests.fakes.slack_scopes import (
    COMMANDS_SCOPE,
    EVENT_SCOPES,
    FILES_SCOPE,
    METHOD_SCOPES,
    load_manifest,
    manifest_scopes,
)

MANIFEST: dict[str, Any] = load_manifest()
FEATURES: dict[str, Any] = MANIFEST["features"]
EVENTS: list[str] = MANIFEST["settings"]["event_subscriptions"]["bot_events"]


def needed_scopes() -> set[str]:
    """Scopes of every method the outbox may call (each has a rate tier), every subscribed event, and
    ``commands`` for the slash command and shortcuts, and ``files:read`` for the files people share."""
    needed = {METHOD_SCOPES[method] for method in slack_limits() if method in METHOD_SCOPES}
    needed |= {scope for event in EVENTS if (scope := EVENT_SCOPES[event]) is not None}
    if FEATURES.get("slash_commands") or FEATURES.get("shortcuts"):
        needed.add(COMMANDS_SCOPE)
    needed.add(FILES_SCOPE)
    return needed


def test_scopes_are_exactly_what_something_needs() -> None:
    declared = manifest_scopes()
    assert declared - needed_scopes() == set(), "scopes nothing uses"
    assert needed_scopes() - declared == set(), "scopes the bot needs but does not ask for"


def test_every_subscribed_event_is_known() -> None:
    assert set(EVENTS) <= set(EVENT_SCOPES)


def test_the_shortcut_and_home_tab_are_declared() -> None:
    shortcuts = FEATURES["shortcuts"]
    assert [(s["type"], s["callback_id"]) for s in shortcuts] == [("message", ASK_SHORTCUT_ID)]
    assert all(len(s["name"]) <= 24 and 0 < len(s["description"]) <= 150 for s in shortcuts)
    assert FEATURES["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in EVENTS
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True


def test_the_slash_command_names_every_verb() -> None:
    (command,) = FEATURES["slash_commands"]
    assert command["command"] == "/qoder"
    for verb in ("new", "list", "stop", "status", "config", "help"):
        assert verb in command["usage_hint"] and verb in command["description"]
    assert len(command["usage_hint"]) <= 1000
