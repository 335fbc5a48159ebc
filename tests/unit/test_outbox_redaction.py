"""RedactingTransport: no configured secret reaches Slack, wherever in a call it sits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.outbox._transport import RedactingTransport

TOKEN = "xoxb-1234-abcd"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Mapping[str, Any]] = []

    async def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(params)
        return {"ok": True}


async def test_a_secret_anywhere_in_a_call_is_replaced() -> None:
    sent = Recorder()
    transport = RedactingTransport(sent, [TOKEN, "pt-secret"])
    params = {
        "channel": "C1",
        "text": f"the token is {TOKEN}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "pt-secret and pt-secret"}}],
    }
    await transport("chat.postMessage", params)
    assert sent.calls == [
        {
            "channel": "C1",
            "text": "the token is [redacted]",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "[redacted] and [redacted]"}}],
        }
    ]


async def test_a_call_without_secrets_goes_out_as_it_is() -> None:
    sent = Recorder()
    params = {"channel": "C1", "text": "nothing to hide", "blocks": [{"type": "divider"}]}
    await RedactingTransport(sent, [TOKEN])("chat.update", params)
    assert sent.calls[0] is params


async def test_a_secret_json_would_escape_is_still_found() -> None:
    sent = Recorder()
    secret = 'pa"ss\\word'
    await RedactingTransport(sent, [secret])("chat.postMessage", {"text": f"x {secret} y"})
    assert sent.calls == [{"text": "x [redacted] y"}]
