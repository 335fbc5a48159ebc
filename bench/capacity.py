"""How many concurrent turns one bot process carries: CPU, memory and delay with Slack's budget lifted.

Runs the real bot (``python app.py``, HTTP mode) against the fake Qoder, which streams every active turn
``--rate`` deltas a second (a Markdown answer of its own; the turns' deltas spread over each second), and a
fake Slack without rate limits, so Slack is not the bottleneck: every delta becomes an edit. For each
N in ``--turns`` it starts N turns at once, waits until every turn streams, then measures a steady window
of ``--seconds`` and prints:

* events/s: Qoder events the bot took in (the fake counts them as it streams them);
* CPU: the bot's user+system seconds over the window, as a share of one core and per 1,000 events;
* peak RSS of the bot;
* delay p50/p99: a probe of ``/healthz`` every 50 ms during the window. A request waits on the same event
  loop as every Qoder event, so its delay bounds how long an arriving event waits before the bot folds,
  renders and hands it to the outbox (itself a fraction of a millisecond: the CPU per event). The probe
  runs in this process, beside the fakes, so it also counts their own delays when they are busy;
* loop lag p50/p99 as the bot itself measures it (``qoder_slack_event_loop_lag_seconds`` from
  ``/metrics`` over the window; the upper bound of the histogram bucket, so "≤ 25 ms");
* the fakes' CPU (this process): near 100 % the fakes, not the bot, set the pace and bunch the events.

``--replicas 2`` runs two bot processes sharing Redis and splits the mentions between them.

    python -m bench.capacity --turns 100,250,500,1000 [--replicas 2]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from bot.main import event_loop_factory
from tests.e2e.harness import SubprocessBot, bot_environment, eventually, free_port
from tests.fakes.qoder_api import FakeQoder, Sleep, Text
from tests.fakes.qoder_api.script import Step
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_events import SlackEvents

REDIS_URL = "redis://127.0.0.1:6379/10"
UNLIMITED = {
    "SLACK_UPDATES_PER_MINUTE": "1000000",
    "SLACK_UPDATES_BURST": "10000",
    "SLACK_POSTS_PER_SECOND": "10000",
    "SLACK_POSTS_PER_MINUTE": "1000000",
}


@dataclass(frozen=True)
class Figures:
    turns: int
    replicas: int
    events_per_second: float
    cpu_share: float  # of one core, summed over the replicas
    fakes_cpu_share: float  # of one core: this process, where the fake Slack and Qoder run
    cpu_per_1000_events: float
    peak_rss_mb: float  # the largest replica
    delay_p50: float
    delay_p99: float
    lag_p50: float  # bucket upper bounds, the worst replica
    lag_p99: float


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def streamed_events(qoder: FakeQoder) -> int:
    return sum(len(session.log) for session in qoder.sessions.values())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else math.nan


def answer(turn: int, words: int) -> str:
    """An answer shaped like an agent's: paragraphs of about 40 words with inline code and bold, now and then
    a short list. Every answer has its own words, as in life: nothing one turn renders is reused by another."""
    parts: list[str] = []
    for i in range(words):
        word = f"t{turn}w{i}"
        if i % 13 == 5:
            word = f"`{word}()`"
        elif i % 17 == 9:
            word = f"**{word}**"
        parts.append(word)
        if i % 40 == 39:
            parts.append("\n\n- one point\n- another point\n\n" if i % 120 == 79 else "\n\n")
        elif i % 10 == 9:
            parts.append(". ")
        else:
            parts.append(" ")
    return "".join(parts).strip()


LAG = "qoder_slack_event_loop_lag_seconds_bucket"


async def lag_buckets(url: str) -> dict[float, float]:
    """The bot's loop-lag histogram: cumulative count by bucket upper bound (seconds)."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(LAG + "{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[math.inf if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def bucket_percentile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The smallest bucket bound under which a share ``q`` of the observations between the scrapes fell."""
    total = after.get(math.inf, 0.0) - before.get(math.inf, 0.0)
    for bound in sorted(after):
        if total and after[bound] - before.get(bound, 0.0) >= q * total:
            return bound
    return math.nan


async def probe(urls: list[str], until: float) -> list[float]:
    """Round trips of ``/healthz`` every 50 ms, to each replica in turn, until ``until``."""
    delays: list[float] = []
    async with httpx.AsyncClient(timeout=10) as client:
        i = 0
        while time.monotonic() < until:
            started = time.monotonic()
            await client.get(f"{urls[i % len(urls)]}/healthz")
            delays.append(time.monotonic() - started)
            i += 1
            await asyncio.sleep(max(0.0, 0.05 - (time.monotonic() - started)))
    return delays


async def run(turns: int, replicas: int, rate: float, seconds: float) -> Figures:
    slack = FakeSlack()
    qoder = FakeQoder(heartbeat_interval=5.0, step_delay=0.0)
    await slack.start()
    await qoder.start()
    bots: list[SubprocessBot] = []
    senders: list[SlackEvents] = []
    with tempfile.TemporaryDirectory() as tmp:
        if replicas > 1:
            redis.Redis.from_url(REDIS_URL).flushdb()
        store = REDIS_URL if replicas > 1 else f"sqlite:///{Path(tmp) / 'capacity.db'}"
        try:
            for _ in range(replicas):
                port = free_port()
                env = bot_environment(
                    slack, qoder, store, port, UPDATE_INTERVAL="1.0", LOG_LEVEL="WARNING", **UNLIMITED
                )
                bot = SubprocessBot(env)
                await bot.start()
                bots.append(bot)
                senders.append(SlackEvents(f"{bot.url}/slack/events", env["SLACK_SIGNING_SECRET"]))
            lasting = seconds + 120  # every turn streams through warm-up and the window
            chunks = max(2, int(lasting * rate))
            # Turns start when people ask, not together: each turn's deltas are offset by its share of
            # one period, so the events of N turns arrive spread over every second, not in bursts of N.
            scripts: list[list[Step]] = [
                [Sleep(turn / turns / rate), Text(answer(turn, chunks), chunks=chunks, delay=1 / rate)]
                for turn in range(turns)
            ]
            qoder.script(*scripts)
            for turn in range(turns):
                channel = f"C{turn:04d}"
                text = f"<@UBOT> question {turn}"
                ts = slack.add_user_message(channel, text, user="U1")
                sender = senders[turn % replicas]
                if await sender.send(sender.app_mention(channel, "U1", text, ts)) != 200:
                    raise RuntimeError("a mention was refused")
            try:
                await eventually(lambda: qoder.open_streams() >= turns, timeout=120, interval=0.5)
            except AssertionError:
                for bot in bots:
                    print("\n".join(bot.output().splitlines()[-20:]))
                raise AssertionError(
                    f"{qoder.open_streams()} of {turns} turns streaming after 120 s"
                    f" ({len(qoder.sessions)} sessions)"
                ) from None
            await asyncio.sleep(3.0)  # let the start-up burst (placeholders, reactions) settle
            pids = [bot.process.pid for bot in bots if bot.process is not None]
            cpu_before = sum(cpu_seconds(pid) for pid in pids)
            fakes_before = cpu_seconds(os.getpid())
            events_before = streamed_events(qoder)
            lag_before = [await lag_buckets(bot.url) for bot in bots]
            started = time.monotonic()
            delays = await probe([bot.url for bot in bots], started + seconds)
            elapsed = time.monotonic() - started
            cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
            fakes_cpu = cpu_seconds(os.getpid()) - fakes_before
            events = streamed_events(qoder) - events_before
            rss = max(peak_rss_mb(pid) for pid in pids)
            lag_after = [await lag_buckets(bot.url) for bot in bots]
        finally:
            for sender in senders:
                await sender.aclose()
            for bot in bots:
                await bot.terminate()
            await slack.stop()
            await qoder.stop()
    return Figures(
        turns=turns,
        replicas=replicas,
        events_per_second=events / elapsed,
        cpu_share=cpu / elapsed,
        fakes_cpu_share=fakes_cpu / elapsed,
        cpu_per_1000_events=1000 * cpu / events if events else math.nan,
        peak_rss_mb=rss,
        delay_p50=statistics.median(delays),
        delay_p99=percentile(delays, 0.99),
        lag_p50=max(bucket_percentile(b, a, 0.5) for b, a in zip(lag_before, lag_after, strict=True)),
        lag_p99=max(bucket_percentile(b, a, 0.99) for b, a in zip(lag_before, lag_after, strict=True)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", default="100,250,500,1000", help="comma-separated N")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--rate", type=float, default=1.0, help="deltas a second per turn")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the measured window")
    args = parser.parse_args()
    print(
        "| turns | replicas | events/s | CPU (share of one core) | CPU s per 1,000 events | peak RSS MB "
        "| probe delay p50 / p99 | loop lag in the bot p50 / p99 | fakes' CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for turns in (int(n) for n in args.turns.split(",")):
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:  # the fakes on the bot's loop too
            f = runner.run(run(turns, args.replicas, args.rate, args.seconds))
        print(
            f"| {f.turns} | {f.replicas} | {f.events_per_second:.0f} | {100 * f.cpu_share:.0f} % "
            f"| {f.cpu_per_1000_events:.2f} | {f.peak_rss_mb:.0f} "
            f"| {1000 * f.delay_p50:.1f} / {1000 * f.delay_p99:.1f} ms "
            f"| ≤ {1000 * f.lag_p50:g} / ≤ {1000 * f.lag_p99:g} ms | {100 * f.fakes_cpu_share:.0f} % |",
            flush=True,
        )


if __name__ == "__main__":
    main()
