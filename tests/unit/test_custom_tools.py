"""Custom tools: the ``CUSTOM_TOOLS`` variable and its handler registry, and the use case against an in-memory
store, a fake Qoder client and relay and the outbox over a recording transport (as in test_threads.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.models import PendingQuestion, ThreadKey, TurnRecord
from bot.outbox import Outbox
from bot.qoder import InvalidRequestError, ServerError
from bot.store import SqliteStore
from bot.threads import IncomingMessage, ThreadsConfig, UseCases
from bot.threads._shared import Background, claim
from bot.threads.custom_tools import (
    HANDLERS,
    STOPPED_RESULT,
    CustomTools,
    ToolCall,
    question_mrkdwn,
    question_text,
)
from bot.threads.feedback import Feedback
from bot.turn import ToolItem, TurnState
from tests.unit.fake_time import FakeClock, settle
from tests.unit.outbox_fakes import RecordingTransport
from tests.unit.test_config import REQUIRED
from tests.unit.threads_fakes import FakeQoderSessions, FakeRelay

THREAD = ThreadKey("T1", "C1", "1700000000.000100")
UNSUPPORTED = "The Slack bridge does not provide the tool `lookup_oncall`."

# -- CUSTOM_TOOLS -----------------------------------------------------------------------------------


@pytest.fixture
def required_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CUSTOM_TOOLS", raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.mark.usefixtures("required_env")
def test_custom_tools_map_tool_names_to_built_in_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().CUSTOM_TOOLS == {}, "by default no tool has a handler"
    monkeypatch.setenv("CUSTOM_TOOLS", " ask_user = ask_thread,, confirm=ask_thread ")
    assert load_settings().CUSTOM_TOOLS == {"ask_user": "ask_thread", "confirm": "ask_thread"}
    assert set(HANDLERS) == {"ask_thread"}


@pytest.mark.usefixtures("required_env")
@pytest.mark.parametrize("value", ["ask_user=ask_slack", "ask_user", "=ask_thread", "ask_user="])
def test_a_bad_custom_tools_value_is_a_startup_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CUSTOM_TOOLS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    [problem] = caught.value.problems
    assert problem.startswith("CUSTOM_TOOLS: invalid") and "ask_thread" in problem


# -- the question ask_thread asks --------------------------------------------------------------------


def tool(name: str = "ask_user", **tool_input: object) -> ToolItem:
    return ToolItem(id="evt_q", name=name, input=tool_input, custom=True)


def test_the_question_is_its_question_input_else_the_input_as_compact_json() -> None:
    assert question_text(tool(question="  Which branch?  ")) == "Which branch?"
    assert question_text(tool(env="prod", count=2)) == '{"count":2,"env":"prod"}'
    assert question_text(tool(question=3)) == '{"question":3}'


def test_the_question_is_neutralised_quoted_and_mentions_who_started_the_turn() -> None:
    call = ToolCall(THREAD, "sesn_1", tool(question="Ping <@U9> or @here?\nline two & more"), "U1")
    text = question_mrkdwn(call)
    assert text.startswith(":question: <@U1> The agent asks:")
    assert ">Ping &lt;@U9&gt; or @\u2060here?\n>line two &amp; more" in text
    assert "<@U9>" not in text and "@here" not in text
    anonymous = question_mrkdwn(ToolCall(THREAD, "sesn_1", tool(question="x" * 5000), ""))
    assert "<@" not in anonymous and len(anonymous) < 2700 and "…" in anonymous


# -- the use case ------------------------------------------------------------------------------------


@dataclass
class World:
    clock: FakeClock
    store: SqliteStore
    qoder: FakeQoderSessions
    relay: FakeRelay
    slack: RecordingTransport
    use_cases: UseCases

    @property
    def tools(self) -> CustomTools:
        return self.use_cases.custom_tools

    async def say(self, ts: str, text: str, *, user: str = "U1") -> None:
        message = IncomingMessage(THREAD, ts, user, text)
        await asyncio.wait_for(self.use_cases.intake.on_message(message), 5)
        await settle()

    def notices(self) -> list[str]:
        return [str(c.params["text"]) for c in self.slack.calls_to("chat.postMessage")]

    async def pause(self, *tools: ToolItem, approvals: tuple[str, ...] = ()) -> TurnRecord:
        """The running turn pauses on ``tools`` (and approvals ``approvals``), as the relay reports it."""
        [session_id] = self.relay.running
        turn = await self.store.get_turn(session_id)
        assert turn is not None
        items = (*tools, *(ToolItem(id=a, name="Bash", status="waiting") for a in approvals))
        state = TurnState(
            phase="needs_action", items=items, pending_action_ids=(*(t.id for t in tools), *approvals)
        )
        paused = replace(turn, active=False, state_json=state.model_dump_json())
        await self.store.save_turn(paused)
        self.relay.running.discard(session_id)
        await self.use_cases.turn_ended(paused, state)
        await self.clock.advance(5.0)
        return paused


def custom(tool_id: str, name: str, **tool_input: object) -> ToolItem:
    return ToolItem(id=tool_id, name=name, input=tool_input, custom=True)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    store = SqliteStore(":memory:")
    slack = RecordingTransport(clock)
    qoder = FakeQoderSessions()
    relay = FakeRelay()
    outbox = Outbox(slack, clock=clock, sleep=clock.sleep)
    config = ThreadsConfig(agent_id="agent_1", environment_id="env_1")
    use_cases = UseCases.build(
        qoder,
        store,
        relay,
        outbox,
        config,
        background=Background(clock.sleep),
        custom_tools={"ask_user": "ask_thread"},
    )
    yield World(clock, store, qoder, relay, slack, use_cases)
    await use_cases.aclose()
    await outbox.aclose()
    await store.close()


async def test_an_unknown_handler_name_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="CUSTOM_TOOLS"):
        CustomTools(world.qoder, world.store, world.relay, Outbox(world.slack), None, None, {"x": "nope"})  # type: ignore[arg-type]


async def test_a_tool_the_bridge_lacks_is_answered_with_an_error_once_and_the_turn_goes_on(
    world: World,
) -> None:
    await world.say("1700000000.000100", "who is on call?")
    session_id = world.qoder.sent[0].session_id
    paused = await world.pause(custom("evt_c", "lookup_oncall", team="payments"))

    assert world.qoder.tool_results == [(session_id, "evt_c", UNSUPPORTED, True)]
    assert [t.session_id for t in world.relay.continued] == [session_id]
    [notice] = [n for n in world.notices() if "does not provide" in n]
    assert "`lookup_oncall`" in notice

    state = TurnState.model_validate_json(paused.state_json)
    await world.store.save_turn(paused)  # the same pause seen again
    await world.use_cases.turn_ended(paused, state)
    await world.clock.advance(1.0)
    assert len(world.qoder.tool_results) == 1
    assert len([n for n in world.notices() if "does not provide" in n]) == 1, "answered once"
    assert [m.text for m in world.qoder.sent] == ["who is on call?"]


async def test_a_mixed_pause_answers_the_custom_tool_and_leaves_the_approval(world: World) -> None:
    await world.say("1700000000.000100", "clean up")
    await world.pause(custom("evt_c", "notify"), approvals=("toolu_1",))
    assert [r[1:] for r in world.qoder.tool_results] == [
        ("evt_c", "The Slack bridge does not provide the tool `notify`.", True)
    ]
    assert world.qoder.confirmations == [], "approvals stay with people"
    assert len(world.relay.continued) == 1, "followed again, to see the pause Qoder re-emits"


async def test_a_failed_answer_is_said_and_tried_again_at_the_next_sight_of_the_pause(world: World) -> None:
    await world.say("1700000000.000100", "go")
    world.qoder.fail("custom_tool_result", ServerError("down", status=503))
    paused = await world.pause(custom("evt_c", "lookup_oncall"))
    assert world.qoder.tool_results == [] and world.relay.continued == []
    assert any("couldn't give the agent the result of `lookup_oncall`" in n for n in world.notices())

    await world.use_cases.turn_ended(paused, TurnState.model_validate_json(paused.state_json))
    assert [r[2] for r in world.qoder.tool_results] == [UNSUPPORTED]
    assert len(world.relay.continued) == 1


async def test_ask_thread_asks_and_the_next_reply_is_the_answer(world: World) -> None:
    await world.say("1700000000.000100", "deploy")
    session_id = world.qoder.sent[0].session_id
    await world.pause(custom("evt_q", "ask_user", question="Which branch?"))

    [question] = [n for n in world.notices() if "The agent asks" in n]
    assert "<@U1>" in question and "Which branch?" in question
    assert world.qoder.tool_results == [] and world.relay.continued == [], "it waits for a person"
    [waiting] = await world.store.questions_in(THREAD)
    assert (waiting.session_id, waiting.tool_use_id, waiting.asked_of) == (session_id, "evt_q", "U1")

    await world.say("1700000000.000200", "main", user="U2")
    assert world.qoder.tool_results == [(session_id, "evt_q", "main", False)]
    assert [m.text for m in world.qoder.sent] == ["deploy"], "the answer is no new message"
    assert [t.session_id for t in world.relay.continued] == [session_id]
    assert await world.store.questions_in(THREAD) == []

    await world.say("1700000000.000300", "and then?")  # no question waits: an ordinary message
    assert len(world.qoder.tool_results) == 1
    assert [m.text for m in world.qoder.sent] == ["deploy", "and then?"]


async def test_two_questions_are_answered_oldest_first(world: World) -> None:
    await world.say("1700000000.000100", "plan")
    await world.pause(
        custom("evt_1", "ask_user", question="First?"), custom("evt_2", "ask_user", question="Second?")
    )
    assert len([n for n in world.notices() if "The agent asks" in n]) == 2
    await world.say("1700000000.000200", "one")
    assert [r[1:3] for r in world.qoder.tool_results] == [("evt_1", "one")]


async def test_a_question_of_a_turn_that_ended_is_forgotten(world: World) -> None:
    await world.say("1700000000.000100", "deploy")
    paused = await world.pause(custom("evt_q", "ask_user", question="Sure?"))
    await world.store.save_turn(replace(paused, state_json=TurnState(phase="stopped").model_dump_json()))
    await world.say("1700000000.000200", "yes")
    assert world.qoder.tool_results == []
    assert [m.text for m in world.qoder.sent] == ["deploy", "yes"], "no question waits: a message"
    assert await world.store.questions_in(THREAD) == []


async def test_a_refused_answer_asks_the_person_to_write_again(world: World) -> None:
    await world.say("1700000000.000100", "deploy")
    await world.pause(custom("evt_q", "ask_user", question="Sure?"))
    world.qoder.fail("custom_tool_result", ServerError("down", status=503))
    await world.say("1700000000.000200", "yes")
    await world.clock.advance(1.0)
    assert any("Please write it again" in n for n in world.notices())
    assert len(await world.store.questions_in(THREAD)) == 1
    await world.say("1700000000.000300", "yes!")
    assert [r[2] for r in world.qoder.tool_results] == ["yes!"]


async def test_a_question_qoder_no_longer_waits_for_lets_the_reply_through(world: World) -> None:
    await world.say("1700000000.000100", "deploy")
    await world.pause(custom("evt_q", "ask_user", question="Sure?"))
    world.qoder.fail("custom_tool_result", InvalidRequestError("No pending custom tool use.", status=400))
    await world.say("1700000000.000200", "yes")
    assert await world.store.questions_in(THREAD) == []
    assert [m.text for m in world.qoder.sent] == ["deploy", "yes"]


async def test_stop_while_a_question_waits_answers_it_and_interrupts(world: World) -> None:
    await world.say("1700000000.000100", "migrate")
    session_id = world.qoder.sent[0].session_id
    await world.pause(custom("evt_q", "ask_user", question="Proceed?"))
    controls = world.use_cases.controls
    assert await controls.stop_thread(THREAD, dedupe_key="Ev1")
    assert not await controls.stop_thread(THREAD, dedupe_key="Ev1"), "a retried event"
    assert world.qoder.tool_results == [(session_id, "evt_q", STOPPED_RESULT, True)]
    assert world.qoder.interrupts == [session_id]
    assert [t.session_id for t in world.relay.continued] == [session_id]
    assert await world.store.questions_in(THREAD) == []


async def test_stop_of_a_turn_paused_only_for_approval_interrupts_without_answering_tools(
    world: World,
) -> None:
    await world.say("1700000000.000100", "deploy")
    [turn] = world.relay.started
    await world.pause(approvals=("toolu_1",))
    assert await world.use_cases.controls.stop_thread(THREAD, dedupe_key="Ev1")
    assert world.qoder.interrupts == [turn.session_id]
    assert world.qoder.tool_results == []


async def test_recovery_answers_a_pause_a_crash_left_unanswered(world: World) -> None:
    await world.say("1700000000.000100", "go")
    [turn] = world.relay.started
    items = (custom("evt_c", "lookup_oncall"), custom("evt_q", "ask_user", question="Asked before?"))
    state = TurnState(phase="needs_action", items=items, pending_action_ids=("evt_c", "evt_q"))
    now = 1_800_000_000.0
    await world.store.save_turn(
        replace(turn, active=False, state_json=state.model_dump_json(), updated_at=now)
    )
    world.relay.running.clear()
    # Both were claimed, and the process died before either answer reached Qoder.
    assert await claim(world.store, [f"custom_tool:{turn.session_id}:evt_c"])
    assert await claim(world.store, [f"custom_tool:{turn.session_id}:evt_q"])

    outbox = Outbox(world.slack, clock=world.clock, sleep=world.clock.sleep)
    tools = CustomTools(
        world.qoder,
        world.store,
        world.relay,
        outbox,
        Feedback(outbox, world.store),
        Background(),
        {"ask_user": "ask_thread"},
        clock=lambda: now + 60.0,
    )
    await tools.recover()
    await world.clock.advance(5.0)
    await outbox.aclose()
    assert [r[1:] for r in world.qoder.tool_results] == [("evt_c", UNSUPPORTED, True)]
    assert [n for n in world.notices() if "The agent asks" in n] == [], (
        "a claimed question is not asked again"
    )
    assert [t.session_id for t in world.relay.continued] == [turn.session_id]


async def test_recovery_leaves_old_and_unpaused_turns_alone(world: World) -> None:
    await world.say("1700000000.000100", "go")
    [turn] = world.relay.started
    state = TurnState(phase="needs_action", items=(custom("evt_c", "x"),), pending_action_ids=("evt_c",))
    await world.store.save_turn(
        replace(turn, active=False, state_json=state.model_dump_json(), updated_at=10.0)
    )
    await world.store.save_question(PendingQuestion(THREAD, turn.session_id, "evt_other"))
    world.relay.running.clear()
    await world.tools.recover()  # it is long after 10.0 + a day
    assert world.qoder.tool_results == [] and world.relay.continued == []
