"""Many answers streaming at once within Slack's rate limits: calls, 429s, lost text, staleness, bot cost.

Runs the real bot as a subprocess (``python app.py``, HTTP mode, SQLite) against the fake Qoder and a fake
Slack that enforces Slack's limits (chat.update 50 per minute per workspace, chat.postMessage 1 per second
per channel, answering 429 + Retry-After). K mentions arrive at once, spread over a few channels; every
answer streams ``--words`` unique tokens, one per delta. Prints:
  * Slack calls by method and the 429s the bot received,
  * text lost or repeated: every thread's final text against its scripted answer,
  * staleness p50/p99/max: from the fake Qoder emitting a token to the first Slack call showing it,
  * what the budget allows: with N replies sharing the chat.update budget each is refreshed every N×(60/U) s,
  * the bot's CPU seconds and peak RSS, and the wall time.

    python -m bench.concurrent_turns [--turns 20] [--words 40] [--delay 0.25] [--channels 10]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import statistics
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

from bot.ratelimit import WINDOW_MARGIN
from tests.e2e.harness import SubprocessBot, bot_environment, eventually, free_port, thread_text
from tests.fakes.qoder_api import FakeQoder, Text
from tests.fakes.slack_api import FakeSlack, RateLimit
from tests.fakes.slack_events import SlackEvents

TOKEN = re.compile(r"\bt\d{3}w\d{3}\b")
UPDATES_PER_MINUTE = 50
WRITES = ("chat.postMessage", "chat.update")


@dataclass(frozen=True)
class Options:
    turns: int
    words: int
    delay: float
    channels: int
    interval: float
    timeout: float


@dataclass(frozen=True)
class ProcessCost:
    cpu_seconds: float
    peak_rss_mb: float


def answer(turn: int, words: int) -> str:
    return " ".join(f"t{turn:03d}w{i:03d}" for i in range(words))


def process_cost(pid: int) -> ProcessCost:
    """utime+stime and VmHWM of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    peak_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    return ProcessCost(ticks / os.sysconf("SC_CLK_TCK"), peak_kb / 1024)


def drain(bot: SubprocessBot) -> deque[str]:
    """Read the bot's output in the background (a full pipe would block it); keeps the last lines."""
    tail: deque[str] = deque(maxlen=50)
    stream = bot.process.stdout if bot.process is not None else None

    def pump() -> None:
        for line in iter(stream.readline, b"") if stream is not None else ():
            tail.append(line.decode(errors="replace").rstrip())

    threading.Thread(target=pump, daemon=True).start()
    return tail


def emission_times(qoder: FakeQoder) -> dict[str, float]:
    """When the fake Qoder first emitted each token (the delta that completed it)."""
    emitted: dict[str, float] = {}
    for session in qoder.sessions.values():
        texts: dict[str, str] = {}
        for frame, at in zip(session.log, session.published_at, strict=True):
            if frame.type != "event_delta":
                continue
            texts[frame.sse_id] = texts.get(frame.sse_id, "") + frame.data["delta"]["content"]["text"]
            for token in TOKEN.findall(texts[frame.sse_id]):
                emitted.setdefault(token, at)
    return emitted


def first_shown(slack: FakeSlack) -> dict[str, float]:
    """When each token first reached Slack in a successful post or edit."""
    shown: dict[str, float] = {}
    for call in slack.calls:
        if call.ok and call.method in WRITES:
            for token in TOKEN.findall(str(call.args.get("text", ""))):
                shown.setdefault(token, call.at)
    return shown


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def finished(slack: FakeSlack, channel: str, ts: str) -> bool:
    text = thread_text(slack, channel, ts)
    return bool(text) and "Working…" not in text and "Thinking…" not in text


async def run(options: Options) -> None:
    slack = FakeSlack(
        rate_limits={
            "chat.update": RateLimit(UPDATES_PER_MINUTE, 60.0, "workspace"),
            "chat.postMessage": RateLimit(1, 1.0, "channel"),
        }
    )
    qoder = FakeQoder(heartbeat_interval=1.0, step_delay=0.01)
    await slack.start()
    await qoder.start()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = bot_environment(
            slack,
            qoder,
            f"sqlite:///{Path(tmp) / 'bench.db'}",
            port,
            UPDATE_INTERVAL=str(options.interval),
            SLACK_UPDATES_PER_MINUTE=str(UPDATES_PER_MINUTE),
            SLACK_POSTS_PER_SECOND="1",
            LOG_LEVEL="WARNING",
        )
        bot = SubprocessBot(env)
        await bot.start()
        assert bot.process is not None
        output = drain(bot)
        events = SlackEvents(f"{bot.url}/slack/events", env["SLACK_SIGNING_SECRET"])
        qoder.script(
            *[
                [Text(answer(turn, options.words), chunks=options.words, delay=options.delay)]
                for turn in range(options.turns)
            ]
        )
        try:
            started = time.monotonic()
            roots = await asyncio.gather(
                *(mention(slack, events, turn, options) for turn in range(options.turns))
            )
            try:
                await eventually(
                    lambda: all(finished(slack, channel, ts) for channel, ts in roots),
                    timeout=options.timeout,
                    interval=0.25,
                )
            except AssertionError:
                print(f"not every turn finished within {options.timeout:.0f}s; the bot said:")
                print("\n".join(output))
            wall = time.monotonic() - started
            cost = process_cost(bot.process.pid)
        finally:
            await events.aclose()
            await bot.terminate()
    await slack.stop()
    await qoder.stop()
    report(options, slack, qoder, roots, wall, cost)


async def mention(slack: FakeSlack, events: SlackEvents, turn: int, options: Options) -> tuple[str, str]:
    channel = f"C{turn % options.channels:03d}"
    text = f"<@UBOT> question {turn}"
    ts = slack.add_user_message(channel, text, user="U1")
    status = await events.send(events.app_mention(channel, "U1", text, ts))
    if status != 200:
        raise RuntimeError(f"the bot answered {status} to a mention")
    return channel, ts


def report(
    options: Options,
    slack: FakeSlack,
    qoder: FakeQoder,
    roots: list[tuple[str, str]],
    wall: float,
    cost: ProcessCost,
) -> None:
    lost = repeated = unfinished = 0
    for channel, ts in roots:
        shown = TOKEN.findall(thread_text(slack, channel, ts))
        if not finished(slack, channel, ts):
            unfinished += 1
        turn = int(shown[0][1:4]) if shown else -1
        expected = answer(turn, options.words).split() if turn >= 0 else []
        counts = Counter(shown)
        lost += options.words - sum(1 for token in expected if counts[token] >= 1)
        repeated += sum(count - 1 for count in counts.values() if count > 1)
        if shown and shown != expected and sorted(set(shown)) == expected:
            repeated += 1  # all there, but out of order
    emitted, shown_at = emission_times(qoder), first_shown(slack)
    staleness = [shown_at[token] - at for token, at in emitted.items() if token in shown_at]
    calls = Counter(c.method for c in slack.calls)
    refused = Counter(c.method for c in slack.calls if c.status == 429)
    per_update = (60 + WINDOW_MARGIN) / UPDATES_PER_MINUTE
    stream_seconds = options.words * options.delay

    print(
        f"{options.turns} concurrent turns in {min(options.turns, options.channels)} channels, "
        f"{options.words} tokens each streamed over ~{stream_seconds:.0f}s, UPDATE_INTERVAL={options.interval}s"
    )
    print(
        f"fake Slack limits: chat.update {UPDATES_PER_MINUTE}/min per workspace, chat.postMessage 1/s per channel"
    )
    print(f"Slack calls: {sum(calls.values())} total")
    for method, count in sorted(calls.items()):
        print(f"  {method:32s} {count}")
    by_method = ", ".join(f"{method} {count}" for method, count in sorted(refused.items()))
    print(f"429s received: {refused.total()}{f' ({by_method})' if by_method else ''}")
    print(f"text lost: {lost} tokens; repeated or out of order: {repeated}; unfinished threads: {unfinished}")
    if staleness:
        print(
            f"staleness (Qoder emits a token → first Slack call showing it), {len(staleness)} tokens: "
            f"p50 {statistics.median(staleness):.1f}s  p99 {percentile(staleness, 0.99):.1f}s  "
            f"max {max(staleness):.1f}s"
        )
    print(
        f"budget allows: one chat.update per {per_update:.2f}s for the workspace; with N replies streaming "
        f"each is refreshed every max({options.interval:.1f}, N×{per_update:.2f}) s → "
        f"{options.turns} at once: every {max(options.interval, options.turns * per_update):.1f}s"
    )
    print(f"bot CPU: {cost.cpu_seconds:.2f}s user+system; peak RSS {cost.peak_rss_mb:.0f} MB")
    print(f"wall time: mentions → every answer complete in Slack: {wall:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--words", type=int, default=40, help="tokens per answer, one per streamed delta")
    parser.add_argument("--delay", type=float, default=0.75, help="seconds between deltas")
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0, help="UPDATE_INTERVAL of the bot")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up waiting after this long")
    args = parser.parse_args()
    asyncio.run(
        run(Options(args.turns, args.words, args.delay, max(1, args.channels), args.interval, args.timeout))
    )


if __name__ == "__main__":
    main()
