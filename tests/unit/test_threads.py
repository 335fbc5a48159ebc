"""The use cases against an in-memory store, a fake Qoder client, a fake relay and the outbox over a
recording transport, on a fake clock: intake, queue and drain, retries, stop and approvals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from bot.models import ThreadKey, TurnRecord
from bot.outbox import Outbox
from bot.qoder import AuthenticationError, ServerError
from bot.store import SqliteStore
from bot.threads import IncomingMessage, ThreadsConfig, UseCases
from bot.threads._shared import Background
from bot.turn import ToolItem, TurnState, awaiting
from tests.unit.fake_time import FakeClock, settle
from tests.unit.outbox_fakes import RecordingTransport
from tests.unit.threads_fakes import FakeQoderSessions, FakeRelay

THREAD = ThreadKey("T1", "C1", "1700000000.000100")


@dataclass
class World:
    clock: FakeClock
    store: SqliteStore
    qoder: FakeQoderSessions
    relay: FakeRelay
    slack: RecordingTransport
    use_cases: UseCases

    async def say(self, ts: str, text: str, *, addressed: bool = True, event_id: str = "") -> None:
        message = IncomingMessage(THREAD, ts, "U1", text, event_id=event_id, addressed=addressed)
        await asyncio.wait_for(self.use_cases.intake.on_message(message), 5)  # it never waits on Slack
        await settle()

    def reactions(self, ts: str) -> list[str]:
        return [c.params["name"] for c in self.slack.calls_to("reactions.add") if c.params["timestamp"] == ts]

    def notices(self) -> list[str]:
        return [str(c.params["text"]) for c in self.slack.calls_to("chat.postMessage")]

    async def end_turn(self, phase: str = "done", *, seconds: float = 0.0) -> None:
        [session_id] = self.relay.running
        turn = await self.store.get_turn(session_id)
        assert turn is not None
        ended = replace(turn, active=False)
        await self.store.save_turn(ended)
        self.relay.running.discard(session_id)
        state = TurnState(phase=phase, started_at=1000.0, ended_at=1000.0 + seconds)  # type: ignore[arg-type]
        await self.use_cases.turn_ended(ended, state)
        await settle()


async def eventually(check: Callable[[], Awaitable[object]], *, negate: bool = False) -> None:
    """Poll ``check`` until it is truthy (falsy with ``negate``): the store answers from a worker thread."""
    for _ in range(200):
        if bool(await check()) != negate:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the store never got there")


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    store = SqliteStore(":memory:")
    slack = RecordingTransport(clock)
    qoder = FakeQoderSessions()
    relay = FakeRelay()
    outbox = Outbox(slack, clock=clock, sleep=clock.sleep)
    config = ThreadsConfig(agent_id="agent_1", environment_id="env_1", allowed_users=("U1",))
    use_cases = UseCases.build(qoder, store, relay, outbox, config, background=Background(clock.sleep))
    yield World(clock, store, qoder, relay, slack, use_cases)
    await use_cases.aclose()
    await outbox.aclose()
    await store.close()


async def test_a_mention_reaches_qoder_while_slack_does_not_answer(world: World) -> None:
    world.slack.hold()
    await world.say("1700000000.000100", "fix the build")
    [sent] = world.qoder.sent
    assert sent.text == "fix the build", "intake awaited no Slack call"
    [turn] = world.relay.started
    assert turn.session_id == sent.session_id and turn.user_id == "U1"
    world.slack.release()
    await world.clock.advance(1.0)
    assert world.reactions("1700000000.000100") == ["eyes"], "the received reaction follows"


async def test_a_message_delivered_twice_is_acted_on_once(world: World) -> None:
    await world.say("1700000000.000100", "once", event_id="Ev1")
    await world.say("1700000000.000100", "once", event_id="Ev2")  # the same message in another event
    await world.say("1700000000.000200", "other", event_id="Ev1")  # Slack's retry of the first event
    assert [s.text for s in world.qoder.sent] == ["once"]


async def test_a_plain_reply_counts_only_in_a_thread_with_a_session(world: World) -> None:
    await world.say("1700000000.000200", "chatter", addressed=False)
    assert world.qoder.sent == [] and world.qoder.sessions == {}
    await world.say("1700000000.000100", "start")
    await world.end_turn()
    await world.say("1700000000.000300", "follow-up", addressed=False)
    assert [s.text for s in world.qoder.sent] == ["start", "follow-up"]
    assert len({s.session_id for s in world.qoder.sent}) == 1, "one thread, one session"


async def test_messages_during_a_turn_queue_and_go_one_per_turn(world: World) -> None:
    await world.say("1700000000.000100", "first")
    await world.say("1700000000.000200", "second")
    await world.say("1700000000.000300", "third")
    assert [s.text for s in world.qoder.sent] == ["first"]
    await world.clock.advance(1.0)
    assert "hourglass_flowing_sand" in world.reactions("1700000000.000200")
    await world.end_turn()
    assert [s.text for s in world.qoder.sent] == ["first", "second"]
    await world.end_turn()
    assert [s.text for s in world.qoder.sent] == ["first", "second", "third"]
    await world.end_turn()
    await world.clock.advance(5.0)
    assert "white_check_mark" in world.reactions("1700000000.000100")


async def test_an_outage_is_explained_then_the_message_arrives_once(world: World) -> None:
    world.qoder.fail("send_message", ServerError("bad gateway", status=502), ServerError("down", status=503))
    await world.say("1700000000.000100", "are you there")
    assert world.qoder.sent == []
    await world.clock.advance(1.0)
    assert any("Qoder" in text for text in world.notices()), "the thread hears why nothing happens yet"
    await world.clock.run_until(lambda: bool(world.qoder.sent), step=1.0)
    assert [s.text for s in world.qoder.sent] == ["are you there"]
    await eventually(lambda: world.store.threads_with_inbox(), negate=True)


async def test_a_refused_token_is_said_once_and_not_retried(world: World) -> None:
    world.qoder.fail("create_session", AuthenticationError("Invalid API key.", status=401))
    await world.say("1700000000.000100", "hello")
    await world.clock.advance(300.0)
    assert world.qoder.sessions == {}
    [notice] = world.notices()
    assert "QODER_PAT" in notice
    assert "warning" in world.reactions("1700000000.000100")


async def test_someone_outside_the_allow_list_is_told_and_nothing_is_sent(world: World) -> None:
    message = IncomingMessage(THREAD, "1700000000.000100", "U2", "let me in")
    await world.use_cases.intake.on_message(message)
    await world.clock.advance(1.0)
    assert world.qoder.sent == [] and len(world.notices()) == 1


async def test_stop_interrupts_the_running_turn_once(world: World) -> None:
    await world.say("1700000000.000100", "long job")
    controls = world.use_cases.controls
    assert await controls.on_stop("C1", "1700000000.000100", dedupe_key="Ev9")
    assert not await controls.on_stop("C1", "1700000000.000100", dedupe_key="Ev9"), "a retried event"
    assert world.qoder.interrupts == [world.qoder.sent[0].session_id]
    await world.end_turn("stopped")
    assert not await controls.on_stop("C1", "1700000000.000100", dedupe_key="Ev10"), "nothing runs"


async def pause(world: World, *tool_ids: str, reply: bool = True) -> TurnRecord:
    """The turn started by "deploy" pauses waiting on a decision for each of ``tool_ids``."""
    await world.say("1700000000.000100", "deploy")
    [turn] = world.relay.started
    tools = tuple(
        ToolItem(id=i, name="Bash", input={"command": f"run {i}"}, status="waiting", asked=True)
        for i in tool_ids
    )
    paused = TurnState(items=tools, phase="needs_action", pending_action_ids=tool_ids, ended_at=time.time())
    reply_ts = []
    if reply:  # the paused reply, as the relay left it
        world.slack.messages["99.000"] = {"channel": "C1", "thread_ts": THREAD.thread_ts, "text": "paused"}
        reply_ts = ["99.000"]
    record = replace(turn, active=False, state_json=paused.model_dump_json(), reply_ts=reply_ts, cursor="c1")
    await world.store.save_turn(record)
    world.relay.running.clear()
    return record


async def stored_state(world: World, session_id: str) -> TurnState:
    turn = await world.store.get_turn(session_id)
    assert turn is not None
    return TurnState.model_validate_json(turn.state_json)


async def edits(world: World) -> list[Any]:
    """The chat.update calls once the reply was edited (in the background, through the store's thread)."""
    for _ in range(200):
        await world.clock.advance(0.2)
        if world.slack.calls_to("chat.update"):
            await world.clock.advance(1.0)  # and nothing more follows
            return world.slack.calls_to("chat.update")
        await asyncio.sleep(0.01)
    raise AssertionError("the reply was never edited")


def ephemerals(world: World, user: str) -> list[str]:
    return [
        str(c.params["text"]) for c in world.slack.calls_to("chat.postEphemeral") if c.params["user"] == user
    ]


async def test_an_approval_is_sent_once_and_the_turn_goes_on(world: World) -> None:
    turn = await pause(world, "toolu_1")
    controls = world.use_cases.controls
    assert await controls.resolve_tool(THREAD, "toolu_1", allow=True, user="U1")
    assert not await controls.resolve_tool(THREAD, "toolu_1", allow=False, user="U1"), "a second click"
    assert not await controls.resolve_tool(THREAD, "toolu_2", allow=True, user="U1"), "not pending"
    assert world.qoder.confirmations == [(turn.session_id, "toolu_1", True)]
    [continued] = world.relay.continued
    [tool] = TurnState.model_validate_json(continued.state_json).items
    assert isinstance(tool, ToolItem) and tool.decision is not None
    assert (tool.decision.allow, tool.decision.by) == (True, "U1"), (
        "the decision is in the state it goes on with"
    )
    await world.clock.advance(1.0)
    assert len(ephemerals(world, "U1")) == 2, "the clicks that sent nothing are told why"


async def test_calls_waiting_together_are_decided_one_by_one(world: World) -> None:
    turn = await pause(world, "t1", "t2")
    controls = world.use_cases.controls
    assert await controls.resolve_tool(THREAD, "t2", allow=False, user="U1", reason="not on Fridays")
    assert world.relay.continued == [], "t1 still waits"
    state = await stored_state(world, turn.session_id)
    assert awaiting(state) == ("t1",)
    [edit] = await edits(world)
    assert edit.params["ts"] == turn.reply_ts[0]
    assert "denied by <@U1>" in str(edit.params["text"]) and "not on Fridays" in str(edit.params["text"])
    actions = [b for b in edit.params["blocks"] if b["type"] == "actions"]
    assert [a["block_id"] for a in actions] == ["qoder_approval:t1"], "only the undecided call keeps buttons"
    assert world.qoder.deny_messages == ["Denied in Slack by <@U1>: not on Fridays"]

    assert await controls.resolve_tool(THREAD, "t1", allow=True, user="U1")
    [continued] = world.relay.continued
    assert awaiting(TurnState.model_validate_json(continued.state_json)) == ()


async def test_someone_else_is_told_and_nothing_reaches_qoder(world: World) -> None:
    await pause(world, "t1")
    assert not await world.use_cases.controls.resolve_tool(THREAD, "t1", allow=True, user="U7")
    await world.clock.advance(1.0)
    assert world.qoder.confirmations == []
    [told] = ephemerals(world, "U7")
    assert told == "Only <@U1> (who started this run) can decide this tool call.", "no APPROVERS here"


async def test_a_decision_while_the_relay_follows_the_turn_is_recorded_once_it_rests(world: World) -> None:
    turn = await pause(world, "t1", "t2")
    following = replace(turn, active=True)  # e.g. a custom tool's answer made the relay follow it again
    await world.store.save_turn(following)
    assert await world.use_cases.controls.resolve_tool(THREAD, "t1", allow=True, user="U1")
    assert world.qoder.confirmations == [(turn.session_id, "t1", True)], "the click works meanwhile"
    assert world.relay.continued == []
    # the relay's own save (it knew nothing of the decision) lands; then it rests, still paused on both
    await world.store.save_turn(replace(turn, active=False))

    async def recorded() -> bool:
        await world.clock.advance(0.5)
        return awaiting(await stored_state(world, turn.session_id)) == ("t2",)

    await eventually(recorded)  # the decision was put back once the relay rested


async def test_stopping_a_paused_turn_ends_it_without_buttons(world: World) -> None:
    turn = await pause(world, "t1")
    assert await world.use_cases.controls.stop_thread(THREAD, dedupe_key="Ev1")
    assert world.qoder.interrupts == [turn.session_id]
    state = await stored_state(world, turn.session_id)
    assert state.phase == "stopped" and awaiting(state) == ()
    [tool] = state.items
    assert isinstance(tool, ToolItem) and tool.undecided == "the run was stopped"
    [edit] = await edits(world)
    assert not [b for b in edit.params["blocks"] if b["type"] == "actions"]
    assert "not decided: the run was stopped" in str(edit.params["text"])
    assert "octagonal_sign" in world.reactions("1700000000.000100")
    assert not await world.use_cases.controls.resolve_tool(THREAD, "t1", allow=True, user="U1")
    assert world.qoder.confirmations == []


async def test_a_pause_reminds_its_starter_once(world: World) -> None:
    world.use_cases.controls._remind_after = 60.0  # the world's config has no reminder
    turn = await pause(world, "t1")
    state = await stored_state(world, turn.session_id)
    world.use_cases.controls.paused(turn, state)
    world.use_cases.controls.paused(turn, state)  # seen twice (e.g. re-shown after a partial decision)
    await world.clock.advance(30.0)
    assert not [n for n in world.notices() if "still waiting" in n]
    await world.clock.advance(40.0)

    async def reminded() -> bool:
        await world.clock.advance(0.5)
        return any("still waiting" in n for n in world.notices())

    await eventually(reminded)
    reminders = [n for n in world.notices() if "still waiting" in n]
    assert reminders == [
        f"<@U1> the agent is still waiting for your approval to run *Bash*. <https://slack.test/C1/{turn.reply_ts[0]}|See the request.>"
    ]
    world.use_cases.controls.paused(turn, state)  # after a restart the claim in the store holds
    await world.clock.advance(120.0)
    assert len([n for n in world.notices() if "still waiting" in n]) == 1
    assert world.qoder.confirmations == [], "waiting is never turned into a denial"


async def test_a_message_held_before_a_restart_is_handed_over_on_recovery(world: World) -> None:
    world.qoder.fail("send_message", ServerError("down", status=503))
    await world.say("1700000000.000100", "survive this")
    await world.use_cases.aclose()  # the process stops before the retry
    assert await world.store.threads_with_inbox() == [THREAD]
    await world.use_cases.intake.recover()
    assert [s.text for s in world.qoder.sent] == ["survive this"]


async def test_only_a_long_turn_ends_with_a_mention_of_who_asked(world: World) -> None:
    await world.say("1700000000.000100", "quick")
    await world.end_turn(seconds=119)
    await world.say("1700000000.000200", "slow")
    await world.end_turn(seconds=300)
    await world.clock.advance(5.0)
    assert [text for text in world.notices() if "<@U1>" in text] == ["<@U1> your request is done after 5m."]
