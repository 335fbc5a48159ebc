"""Two replicas sharing Redis: the survivor takes over a dead replica's turn, a rolling restart hands
turns over without a gap, and a stop reaches the session whichever replica Slack delivers it to."""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from tests.e2e.harness import (
    SIGNING_SECRET,
    FakeQoder,
    FakeSlack,
    SlackEvents,
    SubprocessBot,
    bot_environment,
    eventually,
    free_port,
    reply_texts,
)
from tests.fakes.qoder_api import Sleep, Text

CHANNEL = "C1"
LEASE = 2.0
REDIS_URL = "redis://127.0.0.1:6379/9"  # a database of its own, emptied around each test
ANSWER = " ".join(f"word{i:03d}" for i in range(60))


@pytest.fixture
def store_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


class Replica:
    def __init__(self, slack: FakeSlack, qoder: FakeQoder, store_url: str) -> None:
        self.port = free_port()
        env = bot_environment(slack, qoder, store_url, self.port, RELAY_LEASE_SECONDS=str(LEASE))
        self.bot = SubprocessBot(env)
        self.events = SlackEvents(f"http://127.0.0.1:{self.port}/slack/events", SIGNING_SECRET)

    async def aclose(self) -> None:
        await self.events.aclose()
        if self.bot.process is not None and self.bot.process.poll() is None:
            await self.bot.terminate()


@pytest.fixture
async def replicas(slack: FakeSlack, qoder: FakeQoder, store_url: str) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []

    yield started
    for replica in started:
        await replica.aclose()


async def start(replicas: list[Replica], slack: FakeSlack, qoder: FakeQoder, store_url: str) -> Replica:
    replica = Replica(slack, qoder, store_url)
    replicas.append(replica)
    await replica.bot.start()
    return replica


async def mention(slack: FakeSlack, replica: Replica, text: str) -> str:
    ts = slack.add_user_message(CHANNEL, f"<@UBOT> {text}", user="U1")
    assert await replica.events.send(replica.events.app_mention(CHANNEL, "U1", f"<@UBOT> {text}", ts)) == 200
    return ts


def shown(slack: FakeSlack, ts: str) -> str:
    return "".join(reply_texts(slack, CHANNEL, ts))


def complete(slack: FakeSlack, ts: str) -> bool:
    texts = reply_texts(slack, CHANNEL, ts)
    return bool(texts) and "word059" in texts[-1] and "Working…" not in texts[-1]


def assert_whole_once(slack: FakeSlack, ts: str) -> None:
    text = shown(slack, ts)
    assert all(text.count(f"word{i:03d}") == 1 for i in range(60)), text


def writes_to_thread(slack: FakeSlack, ts: str) -> list[float]:
    replies = {m.ts for m in slack.bot_replies(CHANNEL, ts)}
    return [
        call.at
        for call in slack.calls
        if call.ok
        and call.method in ("chat.postMessage", "chat.update")
        and (call.args.get("thread_ts") == ts or call.args.get("ts") in replies)
    ]


async def test_a_replica_killed_mid_turn_is_taken_over_within_the_lease(
    slack: FakeSlack, qoder: FakeQoder, store_url: str, replicas: list[Replica]
) -> None:
    owner = await start(replicas, slack, qoder, store_url)
    await start(replicas, slack, qoder, store_url)
    qoder.script([Text(ANSWER, chunks=30, delay=0.2)])
    ts = await mention(slack, owner, "write a long answer")
    await eventually(lambda: "word010" in shown(slack, ts), timeout=20, message="no partial answer")
    replies_before = [m.ts for m in slack.bot_replies(CHANNEL, ts)]

    owner.bot.kill()
    killed_at = time.monotonic()
    seen = shown(slack, ts)
    await eventually(lambda: shown(slack, ts) != seen, timeout=LEASE + 10, message="nobody took over")
    resumed_after = time.monotonic() - killed_at
    await eventually(lambda: complete(slack, ts), timeout=30, message=shown(slack, ts))

    assert resumed_after <= LEASE + 2.0, f"the reply went on {resumed_after:.1f}s after the owner died"
    assert [m.ts for m in slack.bot_replies(CHANNEL, ts)] == replies_before, "the same reply goes on"
    assert_whole_once(slack, ts)
    assert qoder.user_messages() == ["write a long answer"]


async def test_a_rolling_restart_hands_the_turn_over_without_a_gap(
    slack: FakeSlack, qoder: FakeQoder, store_url: str, replicas: list[Replica]
) -> None:
    old = await start(replicas, slack, qoder, store_url)
    qoder.script([Text(ANSWER, chunks=30, delay=0.2)])
    ts = await mention(slack, old, "write a long answer")
    await eventually(lambda: "word010" in shown(slack, ts), timeout=20)
    await start(replicas, slack, qoder, store_url)
    assert old.bot.process is not None
    old.bot.process.send_signal(signal.SIGTERM)  # the old one drains and gives up its lease
    await eventually(lambda: complete(slack, ts), timeout=30, message=shown(slack, ts))

    writes = writes_to_thread(slack, ts)
    gaps = [b - a for a, b in itertools.pairwise(writes)]
    assert max(gaps) <= LEASE, f"the reply stood still for {max(gaps):.1f}s"
    assert len(slack.bot_replies(CHANNEL, ts)) == 1
    assert_whole_once(slack, ts)


async def test_a_stop_delivered_to_the_other_replica_interrupts_at_once(
    slack: FakeSlack, qoder: FakeQoder, store_url: str, replicas: list[Replica]
) -> None:
    owner = await start(replicas, slack, qoder, store_url)
    other = await start(replicas, slack, qoder, store_url)
    qoder.script([Text("starting"), Sleep(30), Text("never")])
    ts = await mention(slack, owner, "take your time")
    await eventually(lambda: "starting" in shown(slack, ts), timeout=20)
    sent = time.monotonic()
    assert await other.events.send(other.events.reaction(CHANNEL, "U1", "octagonal_sign", ts)) == 200
    await eventually(lambda: qoder.interrupts() == 1, timeout=5)
    assert time.monotonic() - sent <= 2.0
    await eventually(lambda: "Working…" not in shown(slack, ts), timeout=20, message=shown(slack, ts))
    assert "never" not in shown(slack, ts)
