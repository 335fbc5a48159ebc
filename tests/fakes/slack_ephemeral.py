"""``chat.postEphemeral`` in the fake Slack: messages only one person sees, kept apart from the channel.

Slack facts modelled (slack-platform.md, api.slack.com/methods/chat.postEphemeral): ``channel`` and ``user``
are required (``channel_not_found`` / ``user_not_found``); the content is checked as for chat.postMessage
(``no_text``, ``invalid_blocks``); the bot must be able to post in the channel (``not_in_channel``, …, as
for chat.postMessage); ``thread_ts`` puts the message in a thread; the answer carries
``message_ts``. Ephemeral messages are not part of the conversation: history, replies, chat.update and
reactions never see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ephemeral:
    """One ephemeral message: who sees it, where, and its content."""

    channel: str
    user: str
    ts: str
    thread_ts: str | None
    text: str
    blocks: list[dict[str, Any]] | None = None


class Ephemerals:
    """The ephemeral messages the bot has shown, in order. ``post`` is the chat.postEphemeral handler;
    ``validate`` checks and normalises content, ``fail`` makes the Slack error, ``next_ts`` makes a ts and
    ``check_channel`` raises what Slack answers when the bot may not post in a channel."""

    def __init__(
        self,
        validate: Callable[[dict[str, Any]], dict[str, Any]],
        fail: Callable[[str], Exception],
        next_ts: Callable[[], str],
        check_channel: Callable[[str], None] = lambda channel: None,
    ) -> None:
        self.shown: list[Ephemeral] = []
        self._validate = validate
        self._fail = fail
        self._next_ts = next_ts
        self._check_channel = check_channel

    def __iter__(self) -> Iterator[Ephemeral]:
        return iter(list(self.shown))

    def __len__(self) -> int:
        return len(self.shown)

    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel") or "")
        user = str(args.get("user") or "")
        if not channel:
            raise self._fail("channel_not_found")
        if not user:
            raise self._fail("user_not_found")
        self._check_channel(channel)
        content = self._validate(args)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        ts = self._next_ts()
        self.shown.append(Ephemeral(channel, user, ts, thread_ts, content["text"], content["blocks"]))
        return {"ok": True, "message_ts": ts}

    def seen_by(self, user: str, channel: str | None = None, thread_ts: str | None = None) -> list[Ephemeral]:
        """What ``user`` was shown (in ``channel`` / ``thread_ts`` when given), oldest first."""
        return [
            e
            for e in self.shown
            if e.user == user and channel in (None, e.channel) and thread_ts in (None, e.thread_ts)
        ]
