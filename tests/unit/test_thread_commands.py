"""Outcomes and ``!`` commands against the in-memory fakes: what is sent to Qoder, what the thread is told,
and the pure helpers (final reaction, session link, help)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.models import ThreadKey
from bot.outbox import Outbox
from bot.qoder import ConflictError, InvalidRequestError, NotFoundError, OutcomeSpec
from bot.store import SqliteStore
from bot.threads import IncomingMessage, Reactions, ThreadsConfig, UseCases
from bot.threads._shared import Background
from bot.threads.command_text import as_message
from bot.threads.sessions import final_reaction
from bot.threads.thread_commands import help_text, session_link
from bot.turn import Phase, TurnState
from bot.turn_outcome import OutcomeState
from tests.unit.fake_time import FakeClock, settle
from tests.unit.outbox_fakes import RecordingTransport
from tests.unit.test_threads import World
from tests.unit.threads_fakes import FakeQoderSessions, FakeRelay

THREAD = ThreadKey("T1", "C1", "1700000000.000100")


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    store = SqliteStore(":memory:")
    slack = RecordingTransport(clock)
    qoder, relay = FakeQoderSessions(), FakeRelay()
    outbox = Outbox(slack, clock=clock, sleep=clock.sleep)
    config = ThreadsConfig(agent_id="agent_1", environment_id="env_1", outcome_max_iterations=5)
    use_cases = UseCases.build(qoder, store, relay, outbox, config, background=Background(clock.sleep))
    yield World(clock, store, qoder, relay, slack, use_cases)
    await use_cases.aclose()
    await outbox.aclose()
    await store.close()


async def say(world: World, ts: str, text: str) -> None:
    message = IncomingMessage(THREAD, ts, "U1", text)
    await asyncio.wait_for(world.use_cases.intake.on_message(message), 5)
    await settle()
    await world.clock.advance(1.0)


def ephemerals(world: World) -> list[str]:
    return [str(c.params["text"]) for c in world.slack.calls_to("chat.postEphemeral")]


async def test_an_outcome_is_defined_with_the_configured_limit_and_seeds_the_turn(world: World) -> None:
    await say(world, "1700000000.000100", "!outcome all tests pass")
    [(session_id, spec)] = world.qoder.outcomes
    assert spec == OutcomeSpec(description="all tests pass", rubric="all tests pass", max_iterations=5)
    assert world.qoder.sent == [], "an outcome is no user.message"
    [turn] = world.relay.started
    assert turn.session_id == session_id and turn.start_event_id and turn.cursor == turn.start_event_id
    state = TurnState.model_validate_json(turn.state_json)
    assert state.outcome == OutcomeState(description="all tests pass", max_iterations=5)


async def test_a_server_refusing_initial_events_gets_the_outcome_as_an_event(world: World) -> None:
    world.qoder.fail("create_session", InvalidRequestError("Unknown field: initial_events.", status=400))
    await say(world, "1700000000.000100", '!outcome "it ships" release 1.2')
    [(session_id, spec)] = world.qoder.outcomes
    assert (spec.description, spec.rubric) == ("release 1.2", "it ships")
    assert list(world.qoder.sessions) == [session_id]
    assert world.qoder.sessions[session_id].title == "release 1.2"


async def test_new_replaces_a_session_qoder_no_longer_has(world: World) -> None:
    await say(world, "1700000000.000100", "start")
    await world.end_turn()
    [old] = world.qoder.sessions
    world.qoder.fail("archive", NotFoundError("gone", status=404))
    await say(world, "1700000000.000200", "!new")
    record = await world.store.get_session(THREAD)
    assert record is not None and record.session_id != old
    assert any("Started over" in text for text in world.notices())


async def test_new_keeps_the_session_when_qoder_refuses_to_archive_it(world: World) -> None:
    await say(world, "1700000000.000100", "start")
    await world.end_turn()
    [old] = world.qoder.sessions
    world.qoder.fail("archive", ConflictError("version conflict", status=409))
    await say(world, "1700000000.000200", "!new")
    record = await world.store.get_session(THREAD)
    assert record is not None and record.session_id == old
    assert any("couldn't start over" in text for text in world.notices())


async def test_status_without_qoder_still_answers(world: World) -> None:
    await say(world, "1700000000.000100", "start")
    world.qoder.fail("get_session", NotFoundError("gone", status=404))
    await say(world, "1700000000.000200", "!status")
    [status] = ephemerals(world)
    assert ":hourglass_flowing_sand: running" in status and "Queued messages: 0" in status
    assert "Credits" not in status and "Open the session" not in status


async def test_an_outcome_given_with_a_message_starts_from_its_task_on_the_chosen_runtime(
    world: World,
) -> None:
    message = IncomingMessage(
        THREAD, THREAD.thread_ts, "U7", "fix the login test", agent_id="agent_x", outcome="CI is green"
    )
    await asyncio.wait_for(world.use_cases.intake.on_message(message), 5)
    await settle()
    [(session_id, spec)] = world.qoder.outcomes
    assert spec == OutcomeSpec(description="fix the login test", rubric="CI is green", max_iterations=5)
    assert world.qoder.sent == [], "defining the outcome starts the turn: no user.message follows"
    record = await world.store.get_session(THREAD)
    assert record is not None and record.session_id == session_id
    assert (record.started_by, record.agent_id, record.environment_id) == ("U7", "agent_x", "env_1")
    assert record.title == "fix the login test"
    [turn] = world.relay.started
    state = TurnState.model_validate_json(turn.state_json)
    assert state.outcome == OutcomeState(description="CI is green", max_iterations=5)


async def test_an_outcome_given_to_a_busy_session_waits_and_is_then_defined_alone(world: World) -> None:
    await say(world, "1700000000.000100", "start")
    task = as_message("!stop is a word here")  # as Starts hands it over: a task, never a command
    message = IncomingMessage(THREAD, "1700000000.000200", "U2", task, outcome="it is done")
    await asyncio.wait_for(world.use_cases.intake.on_message(message), 5)
    await settle()
    assert world.qoder.outcomes == [] and ephemerals(world) == []
    await world.end_turn()
    [(_, spec)] = world.qoder.outcomes
    assert (spec.description, spec.rubric) == ("!stop is a word here", "it is done")
    assert [sent.text for sent in world.qoder.sent] == ["start"]


async def test_new_keeps_the_starter_agent_and_environment(world: World) -> None:
    first = IncomingMessage(
        THREAD, THREAD.thread_ts, "U7", "start", agent_id="agent_x", environment_id="env_x"
    )
    await asyncio.wait_for(world.use_cases.intake.on_message(first), 5)
    await settle()
    await world.end_turn()
    old = await world.store.get_session(THREAD)
    await say(world, "1700000000.000200", "!new")
    fresh = await world.store.get_session(THREAD)
    assert old is not None and fresh is not None and fresh.session_id != old.session_id
    assert (fresh.started_by, fresh.agent_id, fresh.environment_id) == ("U7", "agent_x", "env_x")


REACTIONS = Reactions(
    received="r", queued="q", done="done", stopped="stopped", failed="failed", missed="missed"
)


@pytest.mark.parametrize(
    ("phase", "result", "reaction"),
    [
        ("done", None, "done"),
        ("stopped", None, "stopped"),
        ("failed", None, "failed"),
        ("terminated", None, "failed"),
        ("done", "satisfied", "done"),
        ("done", "max_iterations_reached", "missed"),
        ("done", "needs_revision", "missed"),
        ("done", "failed", "failed"),
        ("done", "interrupted", "stopped"),
        ("stopped", "satisfied", "stopped"),
        ("failed", "satisfied", "failed"),
    ],
)
def test_the_final_reaction_follows_the_phase_then_the_verdict(
    phase: Phase, result: str | None, reaction: str
) -> None:
    outcome = OutcomeState(description="d", result=result) if result is not None else None
    assert final_reaction(TurnState(phase=phase, outcome=outcome), REACTIONS) == reaction


def test_an_outcome_turn_that_was_never_graded_is_not_met() -> None:
    assert (
        final_reaction(TurnState(phase="done", outcome=OutcomeState(description="d")), REACTIONS) == "missed"
    )


@pytest.mark.parametrize(
    ("template", "link"),
    [
        ("https://qoder.com/cloud/sessions/{session_id}", "https://qoder.com/cloud/sessions/sess_1%2F%3E"),
        ("", ""),
        ("https://qoder.com/cloud/sessions/", ""),
        ("https://x.example/{session_id}|evil", ""),
    ],
)
def test_session_links_put_the_id_in_and_never_break_out_of_a_link(template: str, link: str) -> None:
    assert session_link(template, "sess_1/>") == link


def test_help_names_the_limit_and_the_unknown_word_safely() -> None:
    text = help_text(7, unknown="<!channel>")
    assert "at most 7 evaluations" in text and "`!&lt;!channel&gt;`" in text
    assert "I don't know" not in help_text(3)
