"""ReplyPublisher against a recording Slack client: coalescing, newest frame after the grant, 429s, gone replies."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.publisher import ReplyPublisher
from bot.ratelimit import RateBudget
from bot.render import SlackMessage


def slack_error(error: str, status: int = 200, headers: dict[str, str] | None = None) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.test/api/",
        req_args={},
        data={"ok": False, "error": error},
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError(error, response)


class RecordingClient:
    """Answers ``api_call`` like Slack; ``fail`` queues errors for the next calls to a method."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, list[SlackApiError]] = {}
        self._seq = 0

    async def api_call(self, method: str, *, json: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        queued = self.fail.get(method)
        if queued:
            raise queued.pop(0)
        self.calls.append((method, json))
        self._seq += 1
        return {"ok": True, "ts": json.get("ts") or f"1.{self._seq:06d}"}

    def texts(self) -> list[tuple[str, str]]:
        return [(method, args["text"]) for method, args in self.calls if "text" in args]


class GatedBudget(RateBudget):
    """Grants a call only when the test opens the gate; records pauses instead of waiting."""

    def __init__(self) -> None:
        super().__init__(workspace={})
        self.gate = asyncio.Event()
        self.waiting = 0
        self.pauses: list[tuple[str, float]] = []

    async def acquire(self, method: str, channel: str) -> None:
        self.waiting += 1
        await self.gate.wait()
        self.waiting -= 1

    def pause(self, method: str, seconds: float) -> None:
        self.pauses.append((method, seconds))


def one_message(frame: str) -> list[SlackMessage]:
    return [SlackMessage(text=frame)]


def make(
    client: RecordingClient,
    written: list[tuple[str, list[str]]],
    *,
    render: Any = one_message,
    budget: RateBudget | None = None,
    interval: float = 0.0,
    reply_ts: tuple[str, ...] = (),
) -> ReplyPublisher[str]:
    async def on_written(frame: str, ts: list[str]) -> None:
        written.append((frame, ts))

    return ReplyPublisher(
        client,  # type: ignore[arg-type]
        channel="C1",
        thread_ts="1.000000",
        render=render,
        on_written=on_written,
        reply_ts=reply_ts,
        interval=interval,
        budget=budget,
    )


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_many_frames_become_few_writes_and_the_last_one_is_always_written() -> None:
    client, written = RecordingClient(), []
    publisher = make(client, written, interval=60)
    publisher.show("frame 0")
    await settle()
    for i in range(1, 100):
        publisher.show(f"frame {i}")
        await asyncio.sleep(0)
    await publisher.flush()
    assert client.texts() == [("chat.postMessage", "frame 0"), ("chat.update", "frame 99")]
    assert written[-1] == ("frame 99", ["1.000001"])
    await publisher.aclose()


async def test_the_frame_is_taken_after_the_grant() -> None:
    client, written, budget = RecordingClient(), [], GatedBudget()
    publisher = make(client, written, budget=budget)
    publisher.show("old")
    await settle()
    assert budget.waiting == 1, "the writer waits for its grant"
    publisher.show("newer")
    publisher.show("newest")
    budget.gate.set()
    await publisher.flush()
    assert client.texts() == [("chat.postMessage", "newest")], "never a stale frame, never one per show"
    assert [frame for frame, _ in written] == ["newest"]


async def test_a_429_pauses_the_method_for_everyone_and_the_newest_frame_still_lands() -> None:
    client, written, budget = RecordingClient(), [], GatedBudget()
    budget.gate.set()
    publisher = make(client, written, budget=budget)
    publisher.show("first")
    await publisher.flush()
    client.fail["chat.update"] = [slack_error("ratelimited", 429, {"Retry-After": "7"})]
    publisher.show("second")
    await publisher.flush()
    assert budget.pauses == [("chat.update", 7.0)]
    assert client.texts() == [("chat.postMessage", "first"), ("chat.update", "second")]
    assert written[-1][0] == "second"


async def test_a_reply_that_is_gone_is_posted_again() -> None:
    client, written = RecordingClient(), []
    publisher = make(client, written, reply_ts=("9.000001",))
    client.fail["chat.update"] = [slack_error("message_not_found")]
    publisher.show("hello")
    await publisher.flush()
    assert client.texts() == [("chat.postMessage", "hello")]
    assert publisher.reply_ts == ["1.000001"]
    assert written == [("hello", ["1.000001"])]


async def test_long_renderings_post_continuations_and_edit_only_what_changed() -> None:
    client, written = RecordingClient(), []

    def split(frame: str) -> list[SlackMessage]:
        return [SlackMessage(text=part) for part in frame.split("|")]

    publisher = make(client, written, render=split)
    publisher.show("a")
    await publisher.flush()
    publisher.show("a|b|c")
    await publisher.flush()
    publisher.show("a|b|c2")
    await publisher.flush()
    assert client.texts() == [
        ("chat.postMessage", "a"),
        ("chat.postMessage", "b"),
        ("chat.postMessage", "c"),
        ("chat.update", "c2"),
    ]
    assert written[-1] == ("a|b|c2", ["1.000001", "1.000002", "1.000003"])


async def test_a_shorter_rendering_deletes_the_replies_it_no_longer_needs() -> None:
    client, written = RecordingClient(), []

    def split(frame: str) -> list[SlackMessage]:
        return [SlackMessage(text=part) for part in frame.split("|")]

    publisher = make(client, written, render=split)
    publisher.show("a|b|c")
    await publisher.flush()
    publisher.show("summary")
    await publisher.flush()
    assert client.texts()[3:] == [("chat.update", "summary")]
    deleted = [args["ts"] for method, args in client.calls if method == "chat.delete"]
    assert deleted == ["1.000003", "1.000002"], "last first"
    assert [method for method, _ in client.calls][-3:] == ["chat.update", "chat.delete", "chat.delete"]
    assert publisher.reply_ts == ["1.000001"]
    assert written[-1] == ("summary", ["1.000001"])


async def test_a_frame_that_renders_the_same_is_recorded_without_a_slack_call() -> None:
    client, written = RecordingClient(), []
    publisher = make(client, written, render=lambda frame: one_message(frame.split("@")[0]))
    publisher.show("text@cursor1")
    await publisher.flush()
    publisher.show("text@cursor2")
    await publisher.flush()
    assert client.texts() == [("chat.postMessage", "text")]
    assert [frame for frame, _ in written] == ["text@cursor1", "text@cursor2"]
