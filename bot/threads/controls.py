"""Controls: stopping a run and deciding the tool calls a paused turn waits on.

A decision is sent to Qoder once (a claim in the store), by someone ``Approvers`` allows, while the call is
among the turn's :func:`bot.turn.awaiting` calls, whether the turn is paused or its relay follows it again.
The decision is then recorded in the turn's state: a paused turn whose every call is decided goes on (the
relay follows it); one still waiting on others has its replies edited to show who decided what. When the
relay follows the turn at that moment, the record waits until it rests. A paused turn that is stopped, or
that a new message in the thread goes past, loses its buttons. A pause waiting longer than
``approval_remind_after`` reminds its starter once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import replace

from bot.models import ThreadKey, TurnRecord
from bot.outbox import Outbox, SlackError
from bot.qoder import QoderError
from bot.render import render_approval_reminder
from bot.render.modal import deny_modal
from bot.store import Store
from bot.threads._ports import QoderSessions, TurnRelay
from bot.threads._shared import DEDUPE_TTL_SECONDS, Background, claim, explain
from bot.threads.approvals import Approvers, Replies
from bot.threads.custom_tools import CustomTools
from bot.threads.feedback import Feedback
from bot.turn import Decision, TurnState, abandon, all_decided, awaiting, decide

log = logging.getLogger(__name__)

STOPPED = "the run was stopped"
SUPERSEDED = "a new message in the thread went on without it"
NOT_WAITING = "That tool call no longer waits for a decision."
RESTING_POLLS = 600  # how often (every RESTING_POLL_SECONDS) a late decision waits for the relay to rest
RESTING_POLL_SECONDS = 0.2


class Controls:
    """Stop and approvals; each request is acted on once, however often Slack delivers it."""

    def __init__(
        self,
        qoder: QoderSessions,
        store: Store,
        relay: TurnRelay,
        feedback: Feedback,
        outbox: Outbox,
        *,
        approvers: Approvers,
        background: Background,
        remind_after: float = 0.0,
        reactions: tuple[str, str] = ("eyes", "octagonal_sign"),
        clock: Callable[[], float] = time.time,
        custom_tools: CustomTools | None = None,
    ) -> None:
        self._qoder = qoder
        self._store = store
        self._relay = relay
        self._feedback = feedback
        self._custom_tools = custom_tools
        self._outbox = outbox
        self._approvers = approvers
        self._background = background
        self._replies = Replies(outbox, store)
        self._remind_after = remind_after
        self._received, self._stopped = reactions
        self._clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._reminding: set[str] = set()

    # --- stop ---------------------------------------------------------------------------------------------

    async def on_stop(self, channel: str, item_ts: str, *, dedupe_key: str) -> bool:
        """Interrupt the running (or paused) turn of the session that message ``(channel, item_ts)``
        belongs to. Returns True when an interrupt was sent.
        """
        thread = await self._store.thread_for_message(channel, item_ts)
        if thread is None:
            return False
        return await self.stop_thread(thread, dedupe_key=dedupe_key)

    async def stop_thread(self, thread: ThreadKey, *, dedupe_key: str) -> bool:
        """Interrupt the running turn of ``thread``'s session, or end its paused one (whose replies then lose
        their buttons); True when an interrupt was sent."""
        session = await self._store.get_session(thread)
        if session is None:
            return False
        turn = await self._store.get_turn(session.session_id)
        if turn is None:
            return False
        custom = self._custom_tools
        if not turn.active and custom is not None and await custom.stop(thread, dedupe_key=dedupe_key):
            return True  # paused on a question the agent asked in the thread: answered, then interrupted
        paused = is_paused(turn)
        if not (turn.active or paused):
            return False
        if not await claim(self._store, [f"stop:{dedupe_key}"]):
            return False
        try:
            await self._qoder.interrupt(session.session_id, idempotency_key=f"slack-stop:{dedupe_key}")
        except QoderError as error:
            self._feedback.notice(thread, f"I couldn't stop the run: {explain(error)}")
            return False
        log.info("interrupt sent to %s", session.session_id)
        if paused:
            await self._end_pause(turn)
        return True

    async def _end_pause(self, turn: TurnRecord) -> None:
        """The paused ``turn`` was stopped: its undecided calls say so, and its starter's message too."""
        async with self._lock(turn.session_id):
            current = await self._store.get_turn(turn.session_id)
            if current is None or current.active or not _same_turn(current, turn):
                return
            state = _state(current)
            if state.phase != "needs_action":
                return
            await self._save_and_show(current, abandon(state, STOPPED, stopped=True, at=self._clock()))
        self._feedback.react(turn.thread, turn.user_ts, self._received, on=False)
        self._feedback.react(turn.thread, turn.user_ts, self._stopped)

    def superseded(self, turn: TurnRecord) -> None:
        """A new turn of the session started after ``turn``: if it was paused, its replies lose their
        buttons (Qoder dropped what it waited for). Returns at once."""
        state = _state(turn)
        if turn.active or state.phase != "needs_action" or not awaiting(state):
            return
        ended = abandon(state, SUPERSEDED, stopped=False, at=self._clock())

        async def repaint() -> None:
            async with self._lock(turn.session_id):
                await self._replies.show(turn, ended, save=False)  # the store holds the new turn now

        self._feedback.react(turn.thread, turn.user_ts, self._received, on=False)
        self._background.spawn(repaint(), name=f"superseded {turn.session_id}")

    # --- approvals ----------------------------------------------------------------------------------------

    async def ask_reason(self, team: str, channel: str, trigger_id: str, approval: str) -> None:
        """Open the modal asking why the tool call a "Deny with reason…" button (value ``approval``) names is
        denied; the caller does this first, within the trigger's 3 seconds. Whether the clicker may decide
        is checked when they submit it."""
        try:
            await self._outbox.workspace(team).call(
                "views.open", channel, {"trigger_id": trigger_id, "view": deny_modal(approval)}
            )
        except SlackError as error:
            log.warning("could not open the deny modal: %s", error.code)

    async def resolve_tool(
        self, thread: ThreadKey, tool_use_id: str, *, allow: bool, user: str, reason: str = ""
    ) -> bool:
        """Send ``user``'s answer to a tool call the turn of ``thread`` waits on; True when it was sent.

        A second click (or one on a call that is no longer waiting) sends nothing and tells the clicker; so
        does a click by someone who may not decide (see ``Approvers``). ``reason`` goes with a denial.
        """
        session = await self._store.get_session(thread)
        turn = await self._store.get_turn(session.session_id) if session else None
        if session is None or turn is None or tool_use_id not in awaiting(_state(turn)):
            self._tell(thread, user, NOT_WAITING)
            return False
        if not await self._approvers.allows(thread.team, user, turn.user_id):
            starter = (
                f"<@{turn.user_id}> (who started this run)" if turn.user_id else "the person who started it"
            )
            others = " or an approver" if self._approvers.named else ""
            self._tell(thread, user, f"Only {starter}{others} can decide this tool call.")
            log.info("tool call %s: %s may not decide it", tool_use_id, user)
            return False
        key = f"approval:{session.session_id}:{tool_use_id}"
        if not await claim(self._store, [key]):
            self._tell(thread, user, NOT_WAITING)
            return False
        reason = reason.strip()
        deny_message = f"Denied in Slack by <@{user}>" + (f": {reason}" if reason else ".")
        try:
            await self._qoder.confirm_tool(
                session.session_id,
                tool_use_id,
                allow=allow,
                deny_message=deny_message,
                idempotency_key=f"slack-approval:{tool_use_id}",
            )
        except QoderError as error:
            await self._store.release_event(key)
            self._feedback.notice(thread, f"I couldn't pass that on to Qoder: {explain(error)}")
            return False
        log.info("tool call %s %s by %s", tool_use_id, "approved" if allow else "denied", user)
        decision = Decision(allow=allow, by=user, at=self._clock(), reason="" if allow else reason)
        await self._record(turn, tool_use_id, decision)
        return True

    async def _record(self, sent_on: TurnRecord, tool_use_id: str, decision: Decision) -> None:
        """Put ``decision`` into the turn's state and show it; later, when its relay follows the turn now."""
        async with self._lock(sent_on.session_id):
            turn = await self._store.get_turn(sent_on.session_id)
            if turn is None or not _same_turn(turn, sent_on):
                return
            if turn.active:
                self._background.spawn(
                    self._record_when_resting(sent_on, tool_use_id, decision), name=f"decision {tool_use_id}"
                )
                return
            state = decide(_state(turn), tool_use_id, decision)
            if all_decided(state):
                await self._relay.continue_paused(replace(turn, state_json=state.model_dump_json()))
            elif state.phase == "needs_action":
                self.paused(await self._save_and_show(turn, state), state)
            elif state != _state(turn):
                await self._save_and_show(turn, state)  # the record of who decided

    async def _record_when_resting(self, sent_on: TurnRecord, tool_use_id: str, decision: Decision) -> None:
        for _ in range(RESTING_POLLS):
            await self._background.sleep(RESTING_POLL_SECONDS)
            turn = await self._store.get_turn(sent_on.session_id)
            if turn is None or not _same_turn(turn, sent_on):
                return
            if not turn.active:
                await self._record(sent_on, tool_use_id, decision)
                return
        log.warning("tool call %s: its turn never rested; the decision is not shown", tool_use_id)

    async def _save_and_show(self, turn: TurnRecord, state: TurnState) -> TurnRecord:
        """Store ``state`` as ``turn``'s now; its replies are edited to show it soon, unless the turn has moved
        on by then (a relay follows it, or shows something newer)."""
        record = replace(turn, state_json=state.model_dump_json(), updated_at=self._clock())
        await self._store.save_turn(record)

        async def show() -> None:
            async with self._lock(turn.session_id):
                current = await self._store.get_turn(turn.session_id)
                if current is None or current.active or current.state_json != record.state_json:
                    return
                await self._replies.show(current, state, save=True)

        self._background.spawn(show(), name=f"show {turn.session_id}")
        return record

    # --- reminders ----------------------------------------------------------------------------------------

    def paused(self, turn: TurnRecord, state: TurnState) -> None:
        """``turn`` paused for approval: remind its starter once if it still waits after
        ``remind_after`` seconds (counted from the pause). Returns at once."""
        if self._remind_after <= 0 or not turn.user_id or not awaiting(state):
            return
        key = f"approval-remind:{turn.session_id}:{turn.start_event_id or turn.user_ts}:{turn.cursor}"
        if key in self._reminding:
            return
        self._reminding.add(key)
        since = state.ended_at if state.ended_at is not None else self._clock()
        delay = max(0.0, since + self._remind_after - self._clock())

        async def remind() -> None:
            try:
                await self._background.sleep(delay)
                await self._remind(turn, key)
            finally:
                self._reminding.discard(key)

        self._background.spawn(remind(), name=f"remind {turn.session_id}")

    def remind_after_restart(self) -> None:
        """Arm the reminders of the pauses that were waiting when the bot last stopped (in the background;
        a reminder already sent is not sent again)."""
        if self._remind_after <= 0:
            return

        async def rearm() -> None:
            since = self._clock() - DEDUPE_TTL_SECONDS / 2  # older reminder claims may have expired
            for turn in await self._store.resting_turns(since):
                state = _state(turn)
                if state.phase == "needs_action" and awaiting(state):
                    self.paused(turn, state)

        self._background.spawn(rearm(), name="approval reminders")

    async def _remind(self, paused: TurnRecord, key: str) -> None:
        turn = await self._store.get_turn(paused.session_id)
        if turn is None or turn.active or not _same_turn(turn, paused) or turn.cursor != paused.cursor:
            return  # it went on, or ended
        state = _state(turn)
        if state.phase != "needs_action" or not awaiting(state):
            return
        if not await claim(self._store, [key]):
            return  # another replica (or this one, before a restart) reminded already
        thread = turn.thread
        outbox = self._outbox.workspace(thread.team)
        link = ""
        if turn.reply_ts:
            with contextlib.suppress(SlackError):  # without a link the reminder still says what waits
                link = await outbox.permalink(thread.channel, turn.reply_ts[-1])
        message = render_approval_reminder(turn.user_id, state, link)

        async def index(ts: str) -> None:  # a stop reaction on the reminder works too
            await self._store.index_message(thread.channel, ts, thread)

        outbox.notice(thread.channel, thread.thread_ts, message.payload(), on_posted=index)
        log.info("reminded %s of the approval waiting in session %s", turn.user_id, turn.session_id)

    # --- helpers ------------------------------------------------------------------------------------------

    def _tell(self, thread: ThreadKey, user: str, text: str) -> None:
        if user:
            self._feedback.tell(thread, user, text)

    def _lock(self, session_id: str) -> asyncio.Lock:
        """One session's decisions and edits, one at a time (in this process); kept while in use."""
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock


def is_paused(turn: TurnRecord) -> bool:
    """``turn`` waits for approval (no relay follows it until it is answered, or stopped)."""
    return not turn.active and _state(turn).phase == "needs_action"


def _state(turn: TurnRecord) -> TurnState:
    return TurnState.model_validate_json(turn.state_json) if turn.state_json else TurnState()


def _same_turn(a: TurnRecord, b: TurnRecord) -> bool:
    """Two records of one turn (a session's record is replaced when its next turn starts)."""
    return (a.start_event_id, a.user_ts) == (b.start_event_id, b.user_ts)
