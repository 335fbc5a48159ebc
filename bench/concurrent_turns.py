"""N people mention the bot at the same moment: how soon the agent hears them and how soon answers show.

Runs the real bot as a subprocess (``python app.py``, HTTP mode, SQLite) against the fake Qoder and a fake
Slack that enforces Slack's documented limits, answering 429 + Retry-After: chat.update and reactions.add 50
a minute per workspace, reactions.remove 20 a minute, chat.postMessage one a second per channel. N mentions
arrive at once, in N channels or spread over fewer; every answer streams ``--words`` unique tokens over about
``--words × --delay`` seconds. For each run it prints:

* mention → ``user.message``: from the mention's event to the fake Qoder accepting the turn's message;
* final answer → visible: from the fake Qoder emitting the final ``agent.message`` to the first Slack call
  that shows the whole answer in the thread;
* final answer → tidy: until the thread reads cleanly (placeholders replaced by a new post are deleted);
* intermediate staleness: from the fake Qoder emitting a token to the first Slack call showing it;
* 429s, Slack calls by method, text lost or repeated, the bot's CPU seconds and peak RSS.

``--slack-latency S`` makes the fake Slack take S seconds to answer each write, as a real one does.

    python -m bench.concurrent_turns                       # N ∈ {5, 20, 50, 100}, in N and in 10 channels
    python -m bench.concurrent_turns --turns 20 --channels 10
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import SubprocessBot, bot_environment, free_port, thread_text
from tests.fakes.qoder_api import FakeQoder, Text
from tests.fakes.slack_api import FakeSlack, RateLimit
from tests.fakes.slack_events import SlackEvents

# What a real Slack takes a while to answer (a few hundred milliseconds), with ``--slack-latency``.
SLACK_WRITES = ("chat.postMessage", "chat.update", "chat.delete", "reactions.add", "reactions.remove")
TOKEN = re.compile(r"\bt\d{3}w\d{3}\b")
QUESTION = re.compile(r"question (\d+)")
WRITES = ("chat.postMessage", "chat.update")
SLACK_LIMITS = {
    "chat.update": RateLimit(50, 60.0, "workspace"),
    "reactions.add": RateLimit(50, 60.0, "workspace"),
    "reactions.remove": RateLimit(20, 60.0, "workspace"),
    "chat.postMessage": RateLimit(1, 1.0, "channel"),
}
MATRIX = [(5, 5), (20, 20), (20, 10), (50, 50), (50, 10), (100, 100), (100, 10)]


@dataclass(frozen=True)
class Options:
    turns: int
    channels: int
    words: int
    delay: float
    interval: float
    timeout: float
    slack_latency: float = 0.0


@dataclass(frozen=True)
class ProcessCost:
    cpu_seconds: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Figures:
    """What one run measured; seconds unless named otherwise."""

    options: Options
    to_agent: list[float]
    to_visible: list[float]
    to_clean: list[float]
    staleness: list[float]
    rate_limited: Counter[str]
    calls: Counter[str]
    lost: int
    repeated: int
    unfinished: int
    cost: ProcessCost
    wall: float


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


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def finished(slack: FakeSlack, channel: str, ts: str) -> bool:
    text = thread_text(slack, channel, ts)
    return bool(text) and "Working…" not in text and "Thinking…" not in text


async def run(options: Options) -> Figures:
    slack = FakeSlack(rate_limits=dict(SLACK_LIMITS))
    qoder = FakeQoder(heartbeat_interval=1.0, step_delay=0.01)
    for method in SLACK_WRITES:
        slack.delay(method, options.slack_latency)
    await slack.start()
    await qoder.start()
    port = free_port()
    mentioned: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = bot_environment(
            slack,
            qoder,
            f"sqlite:///{Path(tmp) / 'bench.db'}",
            port,
            UPDATE_INTERVAL=str(options.interval),
            LOG_LEVEL="WARNING",
        )
        bot = SubprocessBot(env)
        await bot.start()
        assert bot.process is not None
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
                *(mention(slack, events, turn, options, mentioned) for turn in range(options.turns))
            )
            clean = await wait_until_clean(slack, roots, options.timeout)
            if len(clean) < len(roots):
                print(f"not every thread read cleanly within {options.timeout:.0f}s; the bot said:")
                print("\n".join(bot.output().splitlines()[-50:]))
            wall = time.monotonic() - started
            cost = process_cost(bot.process.pid)
        finally:
            await events.aclose()
            await bot.terminate()
    await slack.stop()
    await qoder.stop()
    return measure(options, slack, qoder, roots, mentioned, clean, wall, cost)


async def wait_until_clean(
    slack: FakeSlack, roots: list[tuple[str, str]], timeout: float
) -> dict[str, float]:
    """Poll until every thread shows a finished answer and no placeholder; when each got there, by root ts."""
    clean: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(clean) < len(roots) and time.monotonic() < deadline:
        for channel, ts in roots:
            if ts not in clean and finished(slack, channel, ts):
                clean[ts] = time.monotonic()
        await asyncio.sleep(0.1)
    return clean


async def mention(
    slack: FakeSlack, events: SlackEvents, turn: int, options: Options, mentioned: dict[int, float]
) -> tuple[str, str]:
    channel = f"C{turn % options.channels:03d}"
    text = f"<@UBOT> question {turn}"
    ts = slack.add_user_message(channel, text, user="U1")
    mentioned[turn] = time.monotonic()
    status = await events.send(events.app_mention(channel, "U1", text, ts))
    if status != 200:
        raise RuntimeError(f"the bot answered {status} to a mention")
    return channel, ts


def answer_of(text: str) -> int:
    """Which scripted answer ``text`` shows (the fake Qoder hands scripts to sessions in arrival order)."""
    token = TOKEN.search(text)
    return int(token.group(0)[1:4]) if token else -1


def agent_times(qoder: FakeQoder) -> tuple[dict[int, float], dict[int, float], dict[str, float]]:
    """When the fake Qoder accepted each question's ``user.message``, when it emitted each answer's final
    ``agent.message``, and when it first emitted each token (the delta that completed it)."""
    received: dict[int, float] = {}
    final: dict[int, float] = {}
    emitted: dict[str, float] = {}
    for session in qoder.sessions.values():
        texts: dict[str, str] = {}
        for frame, at in zip(session.log, session.published_at, strict=True):
            if frame.type == "user.message":
                found = QUESTION.search(str(frame.data.get("content")))
                if found:
                    received.setdefault(int(found.group(1)), at)
            elif frame.type == "agent.message":
                final.setdefault(answer_of(str(frame.data.get("content"))), at)
            elif frame.type == "event_delta":
                texts[frame.sse_id] = texts.get(frame.sse_id, "") + frame.data["delta"]["content"]["text"]
                for token in TOKEN.findall(texts[frame.sse_id]):
                    emitted.setdefault(token, at)
    return received, final, emitted


def shown_times(slack: FakeSlack, words: int) -> tuple[dict[int, float], dict[str, float]]:
    """The first successful write showing each answer whole (and no placeholder), and each token."""
    whole: dict[int, float] = {}
    first: dict[str, float] = {}
    for call in slack.calls:
        if not call.ok or call.method not in WRITES:
            continue
        text = str(call.args.get("text", ""))
        tokens = TOKEN.findall(text)
        for token in tokens:
            first.setdefault(token, call.at)
        if len(set(tokens)) == words and "Working…" not in text and "Thinking…" not in text:
            whole.setdefault(answer_of(text), call.at)
    return whole, first


def measure(
    options: Options,
    slack: FakeSlack,
    qoder: FakeQoder,
    roots: list[tuple[str, str]],
    mentioned: dict[int, float],
    clean: dict[str, float],
    wall: float,
    cost: ProcessCost,
) -> Figures:
    received, final, emitted = agent_times(qoder)
    whole, first = shown_times(slack, options.words)
    to_clean: list[float] = []
    lost = repeated = unfinished = 0
    for channel, ts in roots:
        text = thread_text(slack, channel, ts)
        shown = TOKEN.findall(text)
        if not finished(slack, channel, ts):
            unfinished += 1
        index = answer_of(text)
        if ts in clean and index in final:
            to_clean.append(clean[ts] - final[index])
        expected = answer(index, options.words).split() if index >= 0 else []
        counts = Counter(shown)
        lost += options.words - sum(1 for token in expected if counts[token] >= 1)
        repeated += sum(count - 1 for count in counts.values() if count > 1)
        if shown and shown != expected and sorted(set(shown)) == expected:
            repeated += 1  # all there, but out of order
    return Figures(
        options=options,
        to_agent=[received[turn] - at for turn, at in mentioned.items() if turn in received],
        to_visible=[whole[index] - at for index, at in final.items() if index in whole],
        to_clean=to_clean,
        staleness=[first[token] - at for token, at in emitted.items() if token in first],
        rate_limited=Counter(c.method for c in slack.calls if c.status == 429),
        calls=Counter(c.method for c in slack.calls),
        lost=lost,
        repeated=repeated,
        unfinished=unfinished,
        cost=cost,
        wall=wall,
    )


def p50_p99(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):.2f} / {percentile(values, 0.99):.2f}"


def print_run(figures: Figures) -> None:
    o = figures.options
    print(f"\n== {o.turns} mentions at once in {min(o.turns, o.channels)} channels ==")
    print(
        f"mention → user.message p50/p99:     {p50_p99(figures.to_agent)} s ({len(figures.to_agent)} turns)"
    )
    print(
        f"final answer → visible p50/p99:     {p50_p99(figures.to_visible)} s ({len(figures.to_visible)} turns)"
    )
    print(
        f"final answer → thread tidy p50/p99: {p50_p99(figures.to_clean)} s "
        "(stale placeholders deleted; polled every 0.1 s)"
    )
    print(
        f"intermediate staleness p50/p99:     {p50_p99(figures.staleness)} s ({len(figures.staleness)} tokens)"
    )
    refused = ", ".join(f"{m} {n}" for m, n in sorted(figures.rate_limited.items()))
    print(f"429s: {figures.rate_limited.total()}{f' ({refused})' if refused else ''}")
    print("Slack calls: " + ", ".join(f"{m} {n}" for m, n in sorted(figures.calls.items())))
    print(
        f"text lost: {figures.lost} tokens; repeated or out of order: {figures.repeated}; "
        f"unfinished threads: {figures.unfinished}"
    )
    print(
        f"bot CPU {figures.cost.cpu_seconds:.1f} s, peak RSS {figures.cost.peak_rss_mb:.0f} MB; wall {figures.wall:.1f} s"
    )


def print_table(runs: list[Figures]) -> None:
    print(
        "\n| N | channels | mention → user.message p50 / p99 | final → visible p50 / p99 | final → tidy p50 / p99 "
        "| staleness p50 / p99 "
        "| 429s | lost / repeated | CPU s | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for f in runs:
        o = f.options
        print(
            f"| {o.turns} | {min(o.turns, o.channels)} | {p50_p99(f.to_agent)} s | {p50_p99(f.to_visible)} s "
            f"| {p50_p99(f.to_clean)} s "
            f"| {p50_p99(f.staleness)} s | {f.rate_limited.total()} | {f.lost} / {f.repeated} "
            f"| {f.cost.cpu_seconds:.1f} | {f.cost.peak_rss_mb:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, help="N mentions at once (default: the whole matrix)")
    parser.add_argument("--channels", type=int, help="spread over this many channels (default: N)")
    parser.add_argument("--words", type=int, default=20, help="tokens per answer, one per streamed delta")
    parser.add_argument("--delay", type=float, default=0.25, help="seconds between deltas")
    parser.add_argument("--interval", type=float, default=1.0, help="UPDATE_INTERVAL of the bot")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up waiting after this long")
    parser.add_argument(
        "--slack-latency", type=float, default=0.0, help="seconds the fake Slack takes to answer each write"
    )
    args = parser.parse_args()
    matrix = [(args.turns, args.channels or args.turns)] if args.turns else MATRIX
    runs: list[Figures] = []
    for turns, channels in matrix:
        options = Options(
            turns, max(1, channels), args.words, args.delay, args.interval, args.timeout, args.slack_latency
        )
        figures = asyncio.run(run(options))
        print_run(figures)
        runs.append(figures)
    print_table(runs)


if __name__ == "__main__":
    main()
