"""End to end: the bot reuses its connections to Slack instead of opening one per call."""

from __future__ import annotations

from tests.e2e.harness import FakeQoder, FakeSlack, InProcessBot, SlackEvents, eventually, finished, mention
from tests.fakes.qoder_api import Text


async def test_slack_calls_share_a_few_connections(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script(*[[Text(f"answer {i} " + "word " * 30, chunks=6, delay=0.1)] for i in range(3)])
    threads = [await mention(slack, events, f"question {i}") for i in range(3)]
    # the fake hands scripts to sessions in the order their messages arrive: any answer in any thread
    await eventually(lambda: all(finished(slack, ts, "answer ") for ts in threads), timeout=30)
    assert len(slack.calls) >= 12
    # calls made at the same moment each need a connection; the rest reuse one (one per call: none reused)
    reused = len(slack.calls) - len(slack.connections)
    assert reused >= len(slack.calls) / 2, (
        f"{len(slack.calls)} calls over {len(slack.connections)} connections"
    )
