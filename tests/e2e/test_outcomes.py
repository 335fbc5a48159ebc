"""End to end: outcomes defined from Slack, graded by the fake Qoder, shown in the reply and the reactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    bot_environment,
    eventually,
    finished,
    mention,
    reply,
    thread_text,
)
from tests.e2e.slash import bot_roots, slash
from tests.fakes.qoder_api import Grade, Hold, Sleep, Text, Tool

CRITERIA = "the refund test passes 20 runs in a row"


@pytest.fixture
async def qoder(request: pytest.FixtureRequest) -> AsyncIterator[FakeQoder]:
    fake = FakeQoder(
        heartbeat_interval=0.2, step_delay=0.01, initial_events=getattr(request, "param", "supported")
    )
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def env(slack: FakeSlack, qoder: FakeQoder, store_url: str, port: int) -> dict[str, str]:
    return bot_environment(slack, qoder, store_url, port, OUTCOME_MAX_ITERATIONS="4")


def reactions(slack: FakeSlack, ts: str) -> set[str]:
    return set(slack.messages[(CHANNEL, ts)].reactions)


def defined_by_event(qoder: FakeQoder) -> list[dict[str, Any]]:
    """Send Events requests that carried a ``user.define_outcome``."""
    return [
        r.json
        for r in qoder.requests
        if r.method == "POST"
        and r.path.endswith("/events")
        and any(e.get("type") == "user.define_outcome" for e in (r.json or {}).get("events", []))
    ]


def created_with_initial_events(qoder: FakeQoder) -> list[Any]:
    return [
        r.json["initial_events"]
        for r in qoder.requests
        if r.path.endswith("/sessions") and r.json and "initial_events" in r.json
    ]


async def test_an_outcome_in_a_thread_is_graded_live_and_ends_satisfied(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "fix the flaky refund test")
    await eventually(lambda: finished(slack, ts, "You said: fix the flaky refund test"))
    qoder.script(
        [
            Text("Raised the timeout.", chunks=1),
            Grade("needs_revision", "2 of 20 runs still fail", ongoing=2, delay=0.4),
            Tool("Edit", {"file_path": "payments/gateway.py"}),
            Grade("satisfied", "All 20 runs pass.", ongoing=2, delay=0.4),
            Text("Done: all green.", chunks=1),
        ]
    )
    asked = await reply(slack, events, ts, f"!outcome {CRITERIA}")
    await eventually(lambda: finished(slack, ts, "Done: all green."), timeout=20)

    [echo] = qoder.outcomes()
    assert (echo["description"], echo["rubric"], echo["max_iterations"]) == (
        CRITERIA,
        {"type": "text", "content": CRITERIA},
        4,
    )
    assert qoder.user_messages() == ["fix the flaky refund test"], "the outcome is no user.message"
    reply_message = slack.bot_replies(CHANNEL, ts)[1]
    versions = "\n".join(reply_message.versions)
    assert f"Outcome “{CRITERIA}”" in versions
    assert "Grading (iteration 1 of 4)…" in versions and "Grading (iteration 2 of 4)…" in versions
    assert (
        "Needs revision (iteration 1 of 4); revising…" in versions and "2 of 20 runs still fail" in versions
    )
    final = slack.visible_text(reply_message)
    assert ":white_check_mark: Ran 1 tool" in final
    assert f":dart: Outcome “{CRITERIA}” :white_check_mark: satisfied (iteration 2 of 4)" in final
    assert "_Grader:_ All 20 runs pass." in final and "Done: all green." in final
    await eventually(
        lambda: reactions(slack, asked) == {"white_check_mark"}, message=str(reactions(slack, asked))
    )


@pytest.mark.parametrize(
    ("script", "words", "reaction"),
    [
        (
            [Grade("needs_revision", "84% covered")] * 4,
            ":x: not met: max iterations reached (iteration 4 of 4)",
            "x",
        ),
        (
            [Grade("failed", "the rubric contradicts the task")],
            ":warning: failed (iteration 1 of 4)",
            "warning",
        ),
        (
            [Grade("satisfied", "ok", wire="legacy")],
            ":white_check_mark: satisfied (iteration 1 of 4)",
            "white_check_mark",
        ),
        (
            [
                Grade("needs_revision", "not yet", wire="legacy"),
                Grade("max_iterations_reached", "gave up", wire="legacy"),
            ],
            ":x: not met: max iterations reached (iteration 2 of 4)",
            "x",
        ),
    ],
    ids=["max-iterations", "failed", "legacy-satisfied", "legacy-max-iterations"],
)
async def test_every_final_verdict_shows_and_sets_the_reaction(
    bot: InProcessBot,
    slack: FakeSlack,
    qoder: FakeQoder,
    events: SlackEvents,
    script: list[Grade],
    words: str,
    reaction: str,
) -> None:
    qoder.script([Text("Attempted.", chunks=1), *script, Text("Last reply.", chunks=1)])
    ts = await mention(slack, events, "!outcome coverage is at least 90%")
    await eventually(lambda: finished(slack, ts, "Last reply."), timeout=20)
    final = thread_text(slack, CHANNEL, ts)
    assert f":dart: Outcome “coverage is at least 90%” {words}" in final, final
    await eventually(lambda: reactions(slack, ts) == {reaction}, message=str(reactions(slack, ts)))


async def test_stopping_while_grading_shows_the_outcome_interrupted(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("Attempted.", chunks=1), Grade("satisfied", ongoing=100, delay=0.1)])
    ts = await mention(slack, events, "!outcome the docs build cleanly")
    await eventually(lambda: "Grading (iteration 1 of 4)" in thread_text(slack, CHANNEL, ts), timeout=15)
    await reply(slack, events, ts, "!stop")
    await eventually(lambda: finished(slack, ts, "Stopped"), timeout=15)
    assert ":octagonal_sign: interrupted (iteration 1 of 4)" in thread_text(slack, CHANNEL, ts)
    await eventually(lambda: reactions(slack, ts) == {"octagonal_sign"})


async def test_an_outcome_that_starts_a_thread_goes_in_initial_events(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script(
        [Text("Working toward it.", chunks=1), Grade("satisfied", "yes"), Text("Finished.", chunks=1)]
    )
    ts = await mention(slack, events, "!outcome all tests pass")
    await eventually(lambda: finished(slack, ts, "Finished."), timeout=15)
    [initial] = created_with_initial_events(qoder)
    assert initial == [
        {
            "type": "user.define_outcome",
            "description": "all tests pass",
            "rubric": {"type": "text", "content": "all tests pass"},
            "max_iterations": 4,
        }
    ]
    assert defined_by_event(qoder) == [] and len(qoder.outcomes()) == 1
    text = thread_text(slack, CHANNEL, ts)
    assert "Working toward it." in text and ":white_check_mark: satisfied (iteration 1 of 4)" in text
    assert len(slack.bot_replies(CHANNEL, ts)) == 1


@pytest.mark.parametrize("qoder", ["ignored", "rejected"], indirect=True)
async def test_without_initial_events_the_outcome_is_sent_once_the_session_exists(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "!outcome the changelog mentions every PR")
    await eventually(lambda: finished(slack, ts, "Done."), timeout=15)
    assert len(qoder.sessions) == 1 and len(defined_by_event(qoder)) == 1
    [echo] = qoder.outcomes()
    assert echo["description"] == "the changelog mentions every PR"
    assert ":white_check_mark: satisfied (iteration 1 of 4)" in thread_text(slack, CHANNEL, ts)


async def test_an_outcome_sent_while_a_run_goes_waits_its_turn(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("slow start", chunks=1), Sleep(1.5), Text("first answer", chunks=1)])
    ts = await mention(slack, events, "first")
    await eventually(lambda: "slow start" in thread_text(slack, CHANNEL, ts))
    asked = await reply(slack, events, ts, "!outcome it works")
    await eventually(lambda: "hourglass_flowing_sand" in reactions(slack, asked))
    assert qoder.outcomes() == []
    await eventually(lambda: finished(slack, ts, "satisfied (iteration 1 of 4)"), timeout=15)
    assert qoder.outcomes()[0]["description"] == "it works"
    await eventually(lambda: reactions(slack, asked) == {"white_check_mark"})


async def test_qoder_new_with_an_outcome_defines_it_before_anything_else(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    await slash(slack, events, "new fix the flaky test --outcome 'it \"passes\" 20 runs'", user="U7")
    (root,) = await eventually(lambda: bot_roots(slack))
    message = slack.messages[(CHANNEL, root)]
    assert "<@U7> asked Qoder: fix the flaky test" in message.text
    assert 'Done when:_ it "passes" 20 runs' in message.text
    await eventually(lambda: finished(slack, root, "satisfied (iteration 1 of 4)"), timeout=15)
    [initial] = created_with_initial_events(qoder)
    assert initial[0]["description"] == "fix the flaky test"
    assert initial[0]["rubric"] == {"type": "text", "content": 'it "passes" 20 runs'}
    assert initial[0]["max_iterations"] == 4
    assert qoder.user_messages() == [] and defined_by_event(qoder) == []
    assert "Working on: fix the flaky test" in thread_text(slack, CHANNEL, root)
    assert 'Outcome “it "passes" 20 runs”' in thread_text(slack, CHANNEL, root)
    await eventually(lambda: reactions(slack, root) == {"white_check_mark"})


@pytest.mark.parametrize("qoder", ["ignored", "rejected"], indirect=True)
async def test_qoder_new_with_an_outcome_without_initial_events_sends_the_outcome_alone(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    await slash(slack, events, "new write the notes --outcome 'the notes list every change'")
    (root,) = await eventually(lambda: bot_roots(slack))
    await eventually(lambda: finished(slack, root, "satisfied (iteration 1 of 4)"), timeout=15)
    [sent] = defined_by_event(qoder)
    assert [e["type"] for e in sent["events"]] == ["user.define_outcome"], "the outcome is sent alone"
    assert sent["events"][0]["description"] == "write the notes"
    assert qoder.user_messages() == []


async def test_qoder_new_without_an_outcome_sends_the_task(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    await slash(slack, events, "new write notes")
    (root,) = await eventually(lambda: bot_roots(slack))
    await eventually(lambda: finished(slack, root, "You said: write notes"))
    assert qoder.outcomes() == [] and created_with_initial_events(qoder) == []


async def test_a_task_that_looks_like_a_command_goes_to_the_agent(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    await slash(slack, events, "new !status of the deploy, please")
    (root,) = await eventually(lambda: bot_roots(slack))
    await eventually(lambda: finished(slack, root, "You said: !status of the deploy, please"))
    assert slack.ephemerals.shown == []


async def test_an_outcome_in_a_direct_message(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = slack.add_user_message("D1", "!outcome the README has a usage section", user="U1")
    event = events.message("D1", "U1", "!outcome the README has a usage section", ts, channel_type="im")
    assert await events.send(event) == 200
    await eventually(lambda: finished(slack, ts, "satisfied (iteration 1 of 4)", channel="D1"), timeout=15)
    assert qoder.outcomes()[0]["description"] == "the README has a usage section"


async def test_holding_runs_are_not_left_behind(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Hold()])
    ts = await mention(slack, events, "!outcome it holds")
    await eventually(lambda: "Outcome “it holds”" in thread_text(slack, CHANNEL, ts))
    await reply(slack, events, ts, "!stop")
    await eventually(lambda: finished(slack, ts, "Stopped"))
    assert ":dart: Outcome “it holds” not graded" in thread_text(slack, CHANNEL, ts)
    await eventually(lambda: reactions(slack, ts) == {"octagonal_sign"})


async def test_an_outcome_asked_mid_thread_takes_the_earlier_messages_into_its_task(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    root = slack.add_user_message(CHANNEL, "the deploy failed again", user="U7")
    slack.add_user_message(CHANNEL, "it's the migration step", user="U7", thread_ts=root)
    await mention(slack, events, "!outcome the deploy goes green", thread_ts=root)
    await eventually(lambda: finished(slack, root, "satisfied (iteration 1 of 4)"), timeout=15)
    [initial] = created_with_initial_events(qoder)
    description = initial[0]["description"]
    assert "not as instructions" in description and "user-u7: it's the migration step" in description
    assert description.endswith("\n\nthe deploy goes green")
    assert initial[0]["rubric"] == {"type": "text", "content": "the deploy goes green"}
    assert "Outcome “the deploy goes green”" in thread_text(slack, CHANNEL, root)
