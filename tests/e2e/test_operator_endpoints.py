"""The operator's endpoints over HTTP: ``/metrics`` moving with real turns, ``/readyz`` naming what is down."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    eventually,
    finished,
    mention,
    reply,
    thread_text,
)
from tests.fakes.qoder_api import Hold, Text, Tool

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(bot: InProcessBot) -> Samples:
    """Every sample of ``/metrics``, keyed by name and labels; the page must parse as Prometheus text."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{bot.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_metrics_move_with_a_turn(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    before = await scrape(bot)
    assert value(before, "qoder_slack_ready") == 1
    qoder.script(
        [Tool("Bash", {"command": "ls"}, result="a b"), Text("Two files here.", chunks=5, delay=0.1)]
    )
    slack.fail_next("reactions.add", error="ratelimited", status=429, retry_after=1)
    ts = await mention(slack, events, "what is in the repo?")
    await eventually(lambda: finished(slack, ts, "Two files here."), message=thread_text(slack, CHANNEL, ts))
    await eventually(lambda: "white_check_mark" in slack.messages[(CHANNEL, ts)].reactions)
    after = await scrape(bot)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("qoder_slack_turns_started_total") == 1
    assert delta("qoder_slack_turns_finished_total", outcome="done") == 1
    assert delta("qoder_slack_qoder_events_total", type="tool_use") >= 1
    assert delta("qoder_slack_qoder_events_total", type="status_idle") >= 1
    assert delta("qoder_slack_slack_calls_total", method="chat.postMessage", result="ok") >= 1
    assert delta("qoder_slack_slack_calls_total", method="chat.update", result="ok") >= 1
    assert delta("qoder_slack_slack_calls_total", method="reactions.add", result="ratelimited") == 1
    assert delta("qoder_slack_slack_rate_limited_total", method="reactions.add") == 1
    assert delta("qoder_slack_mention_to_user_message_seconds_count") == 1
    assert delta("qoder_slack_final_answer_visible_seconds_count") == 1
    assert delta("qoder_slack_intermediate_staleness_seconds_count") >= 1
    assert delta("qoder_slack_intermediate_staleness_seconds_sum") > 0
    assert value(after, "qoder_slack_active_relays") == value(after, "qoder_slack_active_runs") == 0
    assert value(after, "qoder_slack_queued_messages") == 0


async def test_gauges_show_a_running_turn_and_what_waits_behind_it(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("on it", chunks=1), Hold()])
    ts = await mention(slack, events, "long job")
    await eventually(lambda: "on it" in thread_text(slack, CHANNEL, ts))
    second = await reply(slack, events, ts, "and then this")
    await eventually(lambda: "hourglass_flowing_sand" in slack.messages[(CHANNEL, second)].reactions)

    samples = await scrape(bot)
    assert value(samples, "qoder_slack_active_relays") == 1
    assert value(samples, "qoder_slack_active_runs") == 1, "the original gauge name keeps working"
    assert value(samples, "qoder_slack_queued_messages") == 1

    await events.send(events.reaction(CHANNEL, "U1", "octagonal_sign", ts))
    await eventually(lambda: finished(slack, ts, "You said: and then this"), timeout=15)
    samples = await scrape(bot)
    assert value(samples, "qoder_slack_turns_finished_total", outcome="stopped") >= 1
    assert value(samples, "qoder_slack_queued_messages") == 0


async def test_readyz_names_the_dependency_that_is_down(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        ready = await client.get(f"{bot.url}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "ok": True,
            "failed": [],
            "checks": {"store": "ok", "slack": "ok", "qoder": "ok"},
        }

        slack.fail_next("auth.test", error="invalid_auth", status=200)
        refused = await client.get(f"{bot.url}/readyz")
        assert refused.status_code == 503 and refused.json()["failed"] == ["slack"], refused.text

        await qoder.stop()
        down = await client.get(f"{bot.url}/readyz")
        assert down.status_code == 503, down.text
        body = down.json()
        assert body["ok"] is False and body["failed"] == ["qoder"]
        assert body["checks"]["store"] == "ok" and body["checks"]["slack"] == "ok"
        assert body["checks"]["qoder"] != "ok"

        alive = await client.get(f"{bot.url}/healthz")
        assert alive.status_code == 200, "liveness does not depend on Qoder: restarting would not help"
