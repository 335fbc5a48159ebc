"""One task per running turn: Qoder stream → fold → render → outbox, with durable progress.

After every successful Slack write the turn record (cursor, state, reply ts) is stored, so a restarted bot
resumes each unfinished turn from exactly what Slack already shows: it re-opens the stream after the stored
cursor and keeps editing the same replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from bot import log_context, metrics
from bot.artifacts import ArtifactDelivery
from bot.interactive import stop_value
from bot.leases import TurnLeases
from bot.models import TurnRecord
from bot.outbox import EditWriter, FramePacer, NativeStreamWriter, Outbox
from bot.qoder import (
    ArtifactDelivered,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    QoderClient,
    QoderError,
    QoderEvent,
)
from bot.render import SlackMessage, render_stream, render_turn
from bot.store import Store
from bot.turn import TurnState, fold

log = logging.getLogger(__name__)

FLUSH_ON_SHUTDOWN_SECONDS = 5.0
PERSIST_EVERY_SECONDS = 2.0  # how stale the stored cursor of a running turn may get

TurnEnded = Callable[[TurnRecord, TurnState], Awaitable[None]]


@dataclass(frozen=True)
class Frame:
    """A turn state together with the stream cursor that produced it."""

    state: TurnState
    cursor: str | None
    seq: int = -1  # the number ``ReplyTiming`` gave this frame; -1 for frames it does not time


class Relay:
    """Runs and tracks the relay tasks of this process."""

    def __init__(
        self,
        qoder: QoderClient,
        store: Store,
        outbox: Outbox,
        *,
        update_interval: float,
        on_turn_end: TurnEnded | None = None,
        working_status: str = "",
        stream_mode: str = "edit",
        rollover_seconds: float = 240.0,
        leases: TurnLeases | None = None,
        artifacts: ArtifactDelivery | None = None,
    ) -> None:
        self._qoder = qoder
        self._leases = leases if leases is not None else TurnLeases(store)
        self._store = store
        self._outbox = outbox
        self._interval = update_interval
        self._on_turn_end = on_turn_end
        self._working_status = working_status
        self._stream_mode = stream_mode
        self._rollover_seconds = rollover_seconds
        self._tasks: dict[str, asyncio.Task[None]] = {}  # the relay currently following each session
        self._running: set[asyncio.Task[None]] = set()  # every task not yet done, turn-end work included
        self._watch: asyncio.Task[None] | None = None
        self._artifacts = artifacts
        self._deliveries: set[asyncio.Task[None]] = set()  # files being delivered into threads

    @property
    def active_sessions(self) -> list[str]:
        """Sessions whose turn this process is relaying right now."""
        return [sid for sid, task in self._tasks.items() if not task.done()]

    def is_relaying(self, session_id: str) -> bool:
        task = self._tasks.get(session_id)
        return task is not None and not task.done()

    def start(self, turn: TurnRecord, *, resumed: bool = False) -> None:
        """Relay ``turn`` until it finishes, if this process gets its lease (another may hold it); a no-op
        when this process relays the session already. ``resumed``: the turn was running before."""
        if self.is_relaying(turn.session_id):
            return
        task = asyncio.create_task(self._own_and_run(turn, resumed), name=f"relay {turn.session_id}")
        self._tasks[turn.session_id] = task
        self._running.add(task)
        task.add_done_callback(lambda done: self._forget(turn.session_id, done))

    async def continue_paused(self, turn: TurnRecord) -> None:
        """Follow again a turn that paused for approval; its state goes back to running."""
        state = TurnState.model_validate_json(turn.state_json) if turn.state_json else TurnState()
        state = state.model_copy(update={"phase": "running", "pending_action_ids": ()})
        resumed = replace(turn, active=True, state_json=state.model_dump_json(), updated_at=time.time())
        await self._store.save_turn(resumed)
        self.start(resumed)

    async def resume_all(self) -> int:
        """Relay every unfinished turn no live process relays (after a restart, or a replica's death);
        returns how many turns the store holds unfinished."""
        turns = await self._store.active_turns()
        for turn in turns:
            self.start(turn, resumed=True)
        return len(turns)

    def watch(self) -> None:
        """From now on, adopt unfinished turns whose relay's lease ran out, every third of the lease."""

        async def watch_forever() -> None:
            while True:
                await asyncio.sleep(self._leases.ttl / 3)
                try:
                    await self.resume_all()
                except Exception:
                    log.exception("could not look for turns to adopt")

        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(watch_forever(), name="relay watch")

    async def shutdown(self) -> None:
        """Stop every relay and give up their leases. Progress already written to Slack is in the store;
        the rest resumes in whichever process adopts the turns."""
        if self._watch is not None:
            self._watch.cancel()
        if self._deliveries:  # a file half uploaded would be lost: its delivery was claimed
            await asyncio.wait(list(self._deliveries), timeout=FLUSH_ON_SHUTDOWN_SECONDS)
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget(self, session_id: str, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._tasks.get(session_id) is task:
            del self._tasks[session_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("relay of %s crashed", session_id, exc_info=task.exception())

    async def _own_and_run(self, turn: TurnRecord, resumed: bool) -> None:
        async with self._leases.own(turn.session_id) as owned:
            if not owned:
                return  # another process relays it
            current = await self._store.get_turn(turn.session_id)
            if current is None or not current.active:
                return  # it ended while the lease changed hands
            if resumed:
                log.info("resuming turn of session %s from cursor %s", current.session_id, current.cursor)
            await self._outbox.foreground.settled()  # the stream replays whatever this wait lets pass
            record, state = await self._run(current)
        # The lease is given up first, so the next turn (started by on_turn_end) can take it at once.
        if self._tasks.get(turn.session_id) is asyncio.current_task():
            del self._tasks[turn.session_id]  # the next turn gets a relay of its own
        if self._on_turn_end is not None:
            await self._on_turn_end(record, state)

    async def _run(self, turn: TurnRecord) -> tuple[TurnRecord, TurnState]:
        """Follow ``turn`` to its end; returns its final record (saved) and state."""
        log_context.bind_thread(turn.thread)
        log_context.bind(session=turn.session_id, turn=turn.start_event_id or turn.user_ts)
        log.info("relaying the turn of session %s", turn.session_id)
        state = TurnState.model_validate_json(turn.state_json) if turn.state_json else TurnState()
        record = turn
        timing = metrics.ReplyTiming()

        saved_at = -math.inf

        async def persist(frame: Frame, reply_ts: list[str]) -> None:
            """Make what Slack shows durable. New replies and a finished turn are saved at once (a restart
            must edit them, not post again; a paused turn resumes after its pause); mere progress at most
            every PERSIST_EVERY_SECONDS, since resuming from an older cursor only replays events into the
            same messages."""
            nonlocal record, saved_at
            now = time.monotonic()
            quiet = reply_ts == record.reply_ts and not frame.state.finished
            if quiet and now - saved_at < PERSIST_EVERY_SECONDS:
                return
            saved_at = now
            record = replace(
                record,
                cursor=frame.cursor,
                state_json=frame.state.model_dump_json(),
                reply_ts=reply_ts,
                updated_at=time.time(),
            )
            await self._store.save_turn(record)
            timing.written(frame.seq, final=frame.state.finished)

        def make_frame(state: TurnState, cursor: str | None) -> Frame:
            return Frame(state, cursor, timing.shown(final=state.finished))

        thread = turn.thread
        outbox = self._outbox.workspace(thread.team)

        async def index_reply(ts: str) -> None:
            await self._store.index_message(thread.channel, ts, thread)

        stop = stop_value(thread)

        def render(frame: Frame) -> list[SlackMessage]:
            return render_turn(frame.state, stop_value=stop)

        def finished(frame: Frame) -> bool:
            return frame.state.finished

        def edit_writer(reply_ts: list[str]) -> EditWriter[Frame]:
            return EditWriter(
                outbox,
                channel=thread.channel,
                thread_ts=thread.thread_ts,
                render=render,
                finished=finished,
                on_written=persist,
                on_posted=index_reply,
                reply_ts=reply_ts,
                interval=self._interval,
            )

        publisher: FramePacer[Frame] = edit_writer(turn.reply_ts)
        if self._stream_mode == "native":
            publisher = NativeStreamWriter(
                outbox,
                channel=thread.channel,
                thread_ts=thread.thread_ts,
                recipient_user_id=turn.user_id,
                recipient_team_id=thread.team,
                view=lambda frame: render_stream(frame.state, thread_value=stop),
                finished=finished,
                fallback=edit_writer,
                on_written=persist,
                on_posted=index_reply,
                reply_ts=turn.reply_ts,
                interval=self._interval,
                rollover_seconds=self._rollover_seconds,
            )
        cursor = turn.cursor
        if not turn.reply_ts:
            publisher.show(make_frame(state, cursor))
        try:
            if not state.finished:
                outbox.set_status(thread.channel, thread.thread_ts, self._working_status)
                state, cursor = await self._follow(turn, publisher, state, cursor, make_frame)
        except QoderError as error:
            log.warning("stream of session %s failed: %s", turn.session_id, error)
            state = state.model_copy(update={"phase": "failed", "error": _stream_failure(error)})
        except asyncio.CancelledError:
            # Shutting down: make what was already received visible (and its cursor durable) if Slack lets us.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(publisher.flush(), FLUSH_ON_SHUTDOWN_SECONDS)
            await publisher.aclose()
            raise
        finally:
            outbox.set_status(thread.channel, thread.thread_ts, "")
        publisher.show(make_frame(state, cursor))
        await publisher.flush()
        record = replace(
            record, active=False, cursor=cursor, state_json=state.model_dump_json(), updated_at=time.time()
        )
        await self._store.save_turn(record)
        metrics.turn_finished(state.phase)
        log.info("turn ended: %s", state.phase)
        return record, state

    async def _follow(
        self,
        turn: TurnRecord,
        publisher: FramePacer[Frame],
        state: TurnState,
        cursor: str | None,
        make_frame: Callable[[TurnState, str | None], Frame],
    ) -> tuple[TurnState, str | None]:
        """Fold stream events into ``state`` until the turn finishes; each new state goes to the publisher.

        When Qoder rejects the stored cursor (404 while the session still exists), the turn is rebuilt from
        the event history after its first event and the stream resumes after the last event listed.
        """
        recovered = False
        while True:
            try:
                return await self._follow_stream(turn, publisher, state, cursor, make_frame)
            except NotFoundError:
                if recovered or not turn.start_event_id or cursor == turn.start_event_id:
                    raise
                await self._qoder.get_session(turn.session_id)  # raises NotFoundError if the session is gone
                log.warning(
                    "cursor %s of session %s was rejected; re-reading the turn", cursor, turn.session_id
                )
                state, cursor = await self._replay(turn)
                publisher.show(make_frame(state, cursor))
                recovered = True

    async def _replay(self, turn: TurnRecord) -> tuple[TurnState, str | None]:
        """The turn as the event history tells it, and the id of the last event it holds. The outcome the
        turn was started with is kept: its definition is the turn's first event, before the history read."""
        seed = TurnState.model_validate_json(turn.state_json) if turn.state_json else TurnState()
        outcome = seed.outcome.as_defined() if seed.outcome is not None else None
        state, cursor = TurnState(outcome=outcome), turn.start_event_id
        async for event in self._qoder.list_events(turn.session_id, after_id=turn.start_event_id):
            self._deliver(turn, event)
            state = fold(state, event)
            cursor = event.resume_point or cursor
        return state, cursor

    async def _follow_stream(
        self,
        turn: TurnRecord,
        publisher: FramePacer[Frame],
        state: TurnState,
        cursor: str | None,
        make_frame: Callable[[TurnState, str | None], Frame],
    ) -> tuple[TurnState, str | None]:
        stream = self._qoder.stream(turn.session_id, last_event_id=cursor)
        try:
            async for event in stream:
                metrics.qoder_event(event)
                self._deliver(turn, event)
                state = fold(state, event)
                cursor = event.resume_point or cursor
                publisher.show(make_frame(state, cursor))
                if state.finished:
                    break
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        return state, cursor

    def _deliver(self, turn: TurnRecord, event: QoderEvent) -> None:
        """Start delivering the file of an ``agent.artifact_delivered`` into the turn's thread, in the
        background: neither the stream nor the end of the turn waits for it."""
        if self._artifacts is None or not isinstance(event, ArtifactDelivered):
            return
        work = self._artifacts.deliver(turn.session_id, turn.thread, event)
        task = asyncio.create_task(work, name=f"deliver {event.file_id}")
        self._deliveries.add(task)
        self._running.add(task)
        task.add_done_callback(self._deliveries.discard)
        task.add_done_callback(self._running.discard)


def _stream_failure(error: QoderError) -> str:
    if isinstance(error, AuthenticationError):
        return (
            "Qoder rejected my credentials while I was following the run. An admin needs to check QODER_PAT."
        )
    if isinstance(error, PermissionDeniedError):
        return (
            "Qoder stopped letting me follow this run: my token has no access to this session. An admin needs"
            " to check the token's workspace and permissions."
        )
    if isinstance(error, NotFoundError):
        return "This Qoder session no longer exists; send a new message to start a fresh one."
    return f"I lost the connection to the Qoder session: {error.message}"
