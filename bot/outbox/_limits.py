"""Slack's rate limits as the outbox models them (slack-platform.md §4).

Slack counts calls per method, per app, per workspace; ``chat.postMessage`` (and, like it, the thread status)
also per channel. Every limit here is a token bucket: ``calls`` per ``per_seconds`` at a steady pace, of which
``burst`` may go back to back after a quiet spell, and never more than ``calls`` within any window of
``per_seconds``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Scope = Literal["workspace", "channel"]

TIER2_PER_MINUTE = 20.0
TIER3_PER_MINUTE = 50.0
TIER4_PER_MINUTE = 100.0
# Slack: "Sporadic bursts are welcome" (Tier 3), "generous burst behavior" (Tier 4). A fifth of a minute's
# calls back to back stays well inside any one-minute window.
TIER3_BURST = 10.0
# chat.postMessage: about one a second per channel, and a workspace-wide limit Slack does not publish
# ("several hundred a minute"); bursts across channels are what a busy workspace needs for its answers:
# a third of the minute's posts may go back to back, and no minute ever holds more than its budget.
POSTS_PER_MINUTE = 600.0
POSTS_BURST_SHARE = 1 / 3


@dataclass(frozen=True)
class Rate:
    """At most ``calls`` per ``per_seconds`` in ``scope``; up to ``burst`` may go back to back."""

    calls: float
    per_seconds: float
    burst: float = 1.0
    scope: Scope = "workspace"

    @property
    def interval(self) -> float:
        """Steady-state seconds between two calls."""
        return self.per_seconds / self.calls

    @property
    def cap(self) -> int:
        """Never more than this many calls within one window of ``per_seconds`` (at least 1)."""
        return max(1, math.floor(self.calls))


Limits = Mapping[str, tuple[Rate, ...]]


def slack_limits(
    *,
    updates_per_minute: float = TIER3_PER_MINUTE,
    updates_burst: float = TIER3_BURST,
    posts_per_channel_per_second: float = 1.0,
    posts_per_minute: float = POSTS_PER_MINUTE,
) -> dict[str, tuple[Rate, ...]]:
    """The limits of one workspace: Slack's tiers, with the operator's overrides for the busiest methods.

    ``updates_per_minute`` (``SLACK_UPDATES_PER_MINUTE``) and ``updates_burst`` (``SLACK_UPDATES_BURST``) shape
    ``chat.update``; ``posts_per_channel_per_second``
    (``SLACK_POSTS_PER_SECOND``) and ``posts_per_minute`` (``SLACK_POSTS_PER_MINUTE``) cap ``chat.postMessage``.
    Methods not listed are not limited by the outbox (it still honours Slack's ``Retry-After`` for them).
    """

    def tier(per_minute: float, burst: float) -> tuple[Rate, ...]:
        return (Rate(per_minute, 60.0, burst),)

    tier2 = tier(TIER2_PER_MINUTE, 3.0)
    tier3 = tier(TIER3_PER_MINUTE, TIER3_BURST)
    tier4 = tier(TIER4_PER_MINUTE, 20.0)
    return {
        "chat.postMessage": (
            Rate(posts_per_channel_per_second, 1.0, 1.0, "channel"),
            Rate(posts_per_minute, 60.0, max(1.0, posts_per_minute * POSTS_BURST_SHARE)),
        ),
        "chat.update": tier(updates_per_minute, min(updates_burst, updates_per_minute)),
        "chat.delete": tier3,
        "chat.postEphemeral": tier4,
        "chat.getPermalink": tier4,
        "chat.startStream": tier2,
        "chat.stopStream": tier2,
        "chat.appendStream": tier4,
        "conversations.replies": tier3,
        "users.info": tier4,
        "usergroups.users.list": tier2,
        "reactions.add": tier3,
        "reactions.remove": tier2,
        "conversations.join": tier3,
        "views.open": tier4,
        "views.publish": tier4,
        "files.getUploadURLExternal": tier4,  # the two calls of a file upload (files_upload_v2)
        "files.completeUploadExternal": tier4,
        # "special", modelled like chat.postMessage: about one a second per conversation
        "assistant.threads.setStatus": (Rate(60.0, 60.0, 3.0, "channel"),),
    }
