"""Which bot-token scope each Web API method and event subscription needs, and the scopes a manifest asks for.

The tables cover what the bot calls and subscribes to, as Slack's method and event reference pages list
them. ``FakeSlack(scopes=…)`` answers ``missing_scope`` for a method whose scope is not granted, the way Slack
does; the manifest test checks that the manifest asks for exactly the scopes something needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"

# Methods that need one scope whatever the conversation; a method not listed here or below needs none
# (auth.test, chat.getPermalink, views.open, views.publish, views.update, …).
METHOD_SCOPES: dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.startStream": "chat:write",
    "chat.appendStream": "chat:write",
    "chat.stopStream": "chat:write",
    "assistant.threads.setStatus": "chat:write",
    "reactions.add": "reactions:write",
    "reactions.remove": "reactions:write",
    "conversations.join": "channels:join",
    "users.info": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "usergroups.users.list": "usergroups:read",
}

# Methods whose scope depends on the kind of conversation (public, private, im, mpim).
KIND_SCOPES: dict[str, dict[str, str]] = {
    "conversations.info": {
        "public": "channels:read",
        "private": "groups:read",
        "im": "im:read",
        "mpim": "mpim:read",
    },
    "conversations.replies": {
        "public": "channels:history",
        "private": "groups:history",
        "im": "im:history",
        "mpim": "mpim:history",
    },
}

# Event subscriptions (manifest ``bot_events``) and the scope each needs; None: no scope.
EVENT_SCOPES: dict[str, str | None] = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "app_home_opened": None,
    "member_joined_channel": "channels:read",
}

# Slash commands and shortcuts both need ``commands``.
COMMANDS_SCOPE = "commands"

# Downloading a shared file (``url_private_download``) needs ``files:read``.
FILES_SCOPE = "files:read"


def needed_scope(method: str, kind: str) -> str | None:
    """The scope ``method`` needs on a conversation of ``kind`` (None: none)."""
    if method in METHOD_SCOPES:
        return METHOD_SCOPES[method]
    return KIND_SCOPES.get(method, {}).get(kind)


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    """The app manifest as a dictionary (needs PyYAML, a development dependency)."""
    import yaml  # type: ignore[import-untyped,unused-ignore]  # only the manifest tests read YAML

    with path.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a YAML mapping")
    return loaded


def manifest_scopes(path: Path = MANIFEST) -> frozenset[str]:
    """The bot-token scopes the manifest asks for."""
    scopes = load_manifest(path).get("oauth_config", {}).get("scopes", {}).get("bot") or []
    return frozenset(str(scope) for scope in scopes)
