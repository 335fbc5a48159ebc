"""Helpers for end-to-end tests of ``/qoder``, the shortcut and the Home tab: send a command the way Slack
does (Slack gives up on an acknowledgement after 3 s: ``AckTimeout``), then read what the person sees."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tests.e2e.harness import CHANNEL, eventually
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_events import SlackEvents


@dataclass(frozen=True)
class Answer:
    """What the person saw: the acknowledgement's text ("" for an empty one) and the later answers."""

    ack: str
    later: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join([self.ack, *self.later]).strip()


def ack_text(body: str) -> str:
    """The text of an acknowledgement body: Bolt answers plain text for ``ack(text=…)``, JSON when there is
    more than text, and nothing for ``ack()``."""
    if not body.strip():
        return ""
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return body
    return str(parsed.get("text", "")) if isinstance(parsed, dict) else body


def bot_roots(slack: FakeSlack, channel: str = CHANNEL) -> list[str]:
    """The ts of the top-level messages the bot posted in ``channel``."""
    return [
        m.ts for m in slack.messages.values() if m.channel == channel and m.bot_id and m.thread_ts is None
    ]


async def slash(
    slack: FakeSlack,
    events: SlackEvents,
    text: str,
    *,
    channel: str = CHANNEL,
    user: str = "U1",
    answers: int = 1,
    timeout: float = 10.0,
) -> Answer:
    """``/qoder text``; waits for ``answers`` answers through the command's response_url (0: none)."""
    status, body = await events.command(text, channel=channel, user=user)
    assert status == 200, body
    url = events.response_urls[-1]
    if answers:
        await eventually(
            lambda: len(slack.responses_to(url)) >= answers,
            timeout=timeout,
            message=f"/qoder {text}: fewer than {answers} answer(s) through the response_url",
        )
    return Answer(ack_text(body), tuple(post.text for post in slack.responses_to(url)))


def answers_to(slack: FakeSlack, url: str) -> str:
    """Everything answered through ``url`` so far."""
    return "\n".join(post.text for post in slack.responses_to(url))
