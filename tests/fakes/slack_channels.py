"""The conversations of the fake workspace and the bot's membership in them.

Slack facts modelled here (chat.postMessage, chat.postEphemeral, conversations.join, conversations.info):

* a bot posts only where it is a member; in a public channel it is not in, posting answers
  ``not_in_channel``; a private channel (or a DM between other people) it is not in is invisible to it, so
  posting answers ``channel_not_found``;
* ``conversations.join`` (scope ``channels:join``) adds the bot to a public channel (``already_in_channel``
  as a warning when it was in), answers ``method_not_supported_for_channel_type`` for a private channel or
  DM the bot is in, ``channel_not_found`` for one it is not in (it cannot see those), and ``is_archived``
  for an archived public channel;
* posting in an archived channel answers ``is_archived``.

A conversation the test never declared behaves as one the bot is in (public when its id starts with C,
private with G, a DM with D), so tests that do not care about membership need not declare anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["public", "private", "im", "mpim"]


class ConversationError(Exception):
    """Slack refuses the call with ``error``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class Conversation:
    """One conversation; ``member`` tells whether the bot is in it."""

    id: str
    kind: Kind
    member: bool = True
    archived: bool = False
    name: str = ""

    def info(self) -> dict[str, Any]:
        """The ``channel`` object of ``conversations.info`` / ``conversations.join``."""
        info: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": self.kind == "public",
            "is_group": self.kind == "private",
            "is_im": self.kind == "im",
            "is_mpim": self.kind == "mpim",
            "is_private": self.kind != "public",
            "is_archived": self.archived,
            "is_member": self.member,
        }
        if self.kind == "im":
            info["user"] = "U1"
        return info


def kind_of(channel_id: str) -> Kind:
    """The kind an undeclared conversation has, read from its id's first letter."""
    if channel_id.startswith("D"):
        return "im"
    if channel_id.startswith("G"):
        return "private"
    return "public"


class Conversations:
    """The workspace's conversations, declared by tests with ``add``."""

    def __init__(self) -> None:
        self.declared: dict[str, Conversation] = {}

    def add(
        self, channel: str, kind: Kind = "public", *, member: bool = True, archived: bool = False
    ) -> Conversation:
        """Declare a conversation (replacing an earlier declaration)."""
        name = "" if kind == "im" else f"channel-{channel.lower()}"
        conversation = Conversation(channel, kind, member=member, archived=archived, name=name)
        self.declared[channel] = conversation
        return conversation

    def get(self, channel: str) -> Conversation:
        """The declared conversation, or the one an undeclared id stands for (the bot is in it)."""
        known = self.declared.get(channel)
        if known is not None:
            return known
        kind = kind_of(channel)
        return Conversation(channel, kind, name="" if kind == "im" else f"channel-{channel.lower()}")

    def check_post(self, channel: str) -> None:
        """Raise what Slack answers when the bot posts in ``channel`` and may not."""
        conversation = self.get(channel)
        if not conversation.member:
            raise ConversationError(
                "not_in_channel" if conversation.kind == "public" else "channel_not_found"
            )
        if conversation.archived:
            raise ConversationError("is_archived")

    def join(self, channel: str) -> dict[str, Any]:
        """``conversations.join``: the answer body, or ``ConversationError``."""
        conversation = self.get(channel)
        if conversation.kind != "public":
            # A conversation the bot is not in is invisible to it, whatever it is.
            visible = conversation.member
            raise ConversationError(
                "method_not_supported_for_channel_type" if visible else "channel_not_found"
            )
        if conversation.archived:
            raise ConversationError("is_archived")
        body: dict[str, Any] = {"ok": True}
        if conversation.member:
            body["warning"] = "already_in_channel"
            body["response_metadata"] = {"warnings": ["already_in_channel"]}
        else:
            self.declared[channel] = conversation
            conversation.member = True
        body["channel"] = conversation.info()
        return body

    def info(self, channel: str) -> dict[str, Any]:
        """``conversations.info``: a private conversation the bot is not in is not found."""
        conversation = self.get(channel)
        if not conversation.member and conversation.kind != "public":
            raise ConversationError("channel_not_found")
        return {"ok": True, "channel": conversation.info()}
