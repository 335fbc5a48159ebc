"""How fast a mention becomes visible, and what one streamed answer costs in Slack calls.

Runs the real bot (HTTP mode, SQLite) against the fake Slack and fake Qoder on 127.0.0.1, sends one signed
app_mention whose answer streams for about ten seconds, and prints:
  * time from the mention reaching the app to the first visible sign in Slack (reaction or reply),
  * time to the first answer text in the thread,
  * Slack calls by method for the whole turn.

    python -m bench.turn_latency [--seconds 10] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.e2e.harness import InProcessBot, bot_environment, eventually, free_port, thread_text
from tests.fakes.qoder_api import FakeQoder, Text
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_events import SlackEvents

CHANNEL = "C1"


async def measure(seconds: float, interval: float) -> None:
    chunks = max(1, int(seconds / 0.2))
    answer = " ".join(f"token{i}" for i in range(chunks * 4))
    slack, qoder = FakeSlack(), FakeQoder(heartbeat_interval=1.0, step_delay=0.01)
    await slack.start()
    await qoder.start()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = bot_environment(
            slack, qoder, f"sqlite:///{Path(tmp) / 'bench.db'}", port, UPDATE_INTERVAL=str(interval)
        )
        bot = InProcessBot(env)
        await bot.start()
        events = SlackEvents(f"{bot.url}/slack/events", env["SLACK_SIGNING_SECRET"])
        try:
            qoder.script([Text(answer, chunks=chunks, delay=0.2)])
            ts = slack.add_user_message(CHANNEL, "<@UBOT> stream something", user="U1")
            calls_before = len(slack.calls)
            sent_at = time.monotonic()
            await events.send(events.app_mention(CHANNEL, "U1", "<@UBOT> stream something", ts))
            first_sign = await eventually(
                lambda: next(
                    (c.at for c in slack.calls[calls_before:] if c.ok and c.method != "auth.test"), None
                ),
                timeout=30,
            )
            first_text = await eventually(
                lambda: "token0" in thread_text(slack, CHANNEL, ts) and time.monotonic(), timeout=30
            )
            await eventually(
                lambda: (
                    f"token{chunks * 4 - 1}" in thread_text(slack, CHANNEL, ts)
                    and "Working…" not in thread_text(slack, CHANNEL, ts)
                ),
                timeout=seconds * 3 + 30,
            )
            await asyncio.sleep(interval + 0.5)  # let the reaction updates at the end land
            done_at = time.monotonic()
            calls = Counter(c.method for c in slack.calls[calls_before:])
        finally:
            await events.aclose()
            await bot.stop()
    await slack.stop()
    await qoder.stop()
    print(f"streamed answer: {seconds:.0f}s of deltas ({chunks} chunks), UPDATE_INTERVAL={interval}s")
    print(f"mention → first visible sign in Slack: {(first_sign - sent_at) * 1000:.0f} ms")
    print(f"mention → first answer text in the thread: {(first_text - sent_at) * 1000:.0f} ms")
    print(f"mention → turn complete in Slack: {done_at - sent_at - interval - 0.5:.1f} s")
    print(f"Slack calls for the turn: {sum(calls.values())} total")
    for method, count in sorted(calls.items()):
        print(f"  {method:32s} {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(measure(args.seconds, args.interval))


if __name__ == "__main__":
    main()
