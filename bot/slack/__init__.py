"""The Slack side: Bolt listeners and the slash command, translating Slack payloads into Bridge calls."""

from bot.slack.listeners import register

__all__ = ["register"]
