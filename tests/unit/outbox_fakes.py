"""A transport that answers like Slack from memory, for driving the outbox on a fake clock."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.outbox import SlackError
from tests.unit.fake_time import FakeClock


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float


@dataclass
class RecordingTransport:
    """Answers every call ``ok``; ``refuse(method, code, times=n, retry_after=s)`` makes the next calls fail."""

    clock: FakeClock
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts → latest params of the message
    _refusals: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _open: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._open.set()

    def hold(self) -> None:
        """Slack stops answering: every call waits until ``release``."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def refuse(
        self, method: str, code: str = "ratelimited", *, times: int = 1, retry_after: float = 0.0
    ) -> None:
        self._refusals.setdefault(method, []).extend([(code, retry_after)] * times)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        await self._open.wait()
        self.calls.append(Call(method, dict(params), self.clock.now))
        refusals = self._refusals.get(method)
        if refusals:
            code, retry_after = refusals.pop(0)
            status = 429 if code == "ratelimited" else 200
            raise SlackError(method, code, status, retry_after)
        if method == "chat.postMessage":
            ts = f"{next(self._ts)}.000"
            self.messages[ts] = dict(params)
            return {"ok": True, "ts": ts, "channel": params["channel"]}
        if method == "chat.update":
            ts = str(params["ts"])
            if ts not in self.messages:
                raise SlackError(method, "message_not_found")
            self.messages[ts] = {**self.messages[ts], **params}
        if method == "chat.delete":
            self.messages.pop(str(params["ts"]), None)
        if method == "chat.getPermalink":
            return {"ok": True, "permalink": f"https://slack.test/{params['channel']}/{params['message_ts']}"}
        return {"ok": True}

    def thread(self, thread_ts: str) -> list[str]:
        """The texts of the bot's live replies in ``thread_ts``, oldest first."""
        replies = [(float(ts), m) for ts, m in self.messages.items() if m.get("thread_ts") == thread_ts]
        return [str(m["text"]) for _, m in sorted(replies, key=lambda pair: pair[0])]
