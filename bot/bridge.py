"""The use cases: a message in a thread, a stop request, a new session, turn endings.

The bridge owns the thread↔session mapping and decides what happens to each incoming message: drop it as a
duplicate, send it to the agent, or queue it behind the running turn. It knows nothing of Slack payloads
(``bot/slack`` translates them) and nothing of the Qoder wire format (``bot/qoder`` does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.models import QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.qoder import (
    AuthenticationError,
    ConflictError,
    NetworkError,
    NotFoundError,
    QoderClient,
    QoderError,
    RateLimitedError,
    ServerError,
)
from bot.ratelimit import RateBudget
from bot.relay import Relay
from bot.render import escape
from bot.store import Store
from bot.thread_feedback import ThreadFeedback
from bot.turn import TurnState

log = logging.getLogger(__name__)

DEDUPE_TTL_SECONDS = 24 * 3600.0
TITLE_LENGTH = 80
# Failures that may pass by themselves: the message is kept and retried with these pauses (about 30 minutes).
TRANSIENT = (RateLimitedError, ServerError, NetworkError)
RETRY_DELAYS = (5.0, 10.0, 20.0, 40.0, 60.0, *([120.0] * 14))
# Queue name under which a thread's just-received messages wait until they reach Qoder (or its session queue).
INBOX_PREFIX = "inbox:"
# How often (every 2 s) to wait for a session that Qoder says is busy with a turn this bot is not relaying.
BUSY_POLLS = 900
UNAVAILABLE_NOTICE = (
    "Qoder isn't answering right now. I'll keep trying and send your message as soon as it's back."
)
EMPTY_MESSAGE_NOTICE = "What should the agent do? Mention me with a task, e.g. “@Qoder why is CI red?”"
CONTEXT_LOST_NOTICE = (
    "The earlier Qoder session is no longer available, so I started a new one without its context."
)
GAVE_UP_NOTICE = (
    "I couldn't reach Qoder for half an hour, so your message was not sent. Please send it again."
)


@dataclass(frozen=True)
class Reactions:
    """Emoji names the bot puts on a user's message to tell its state at a glance."""

    received: str = "eyes"
    queued: str = "hourglass_flowing_sand"
    done: str = "white_check_mark"
    stopped: str = "octagonal_sign"
    failed: str = "warning"


@dataclass(frozen=True)
class IncomingMessage:
    """A user message addressed to the agent (mention, DM, or reply in a session thread)."""

    thread: ThreadKey
    ts: str
    user: str
    text: str
    event_id: str = ""
    addressed: bool = True  # a mention or a DM; False for a plain reply, which needs an existing session


@dataclass(frozen=True)
class SessionSummary:
    """One line of ``/qoder list``."""

    record: SessionRecord
    status: str
    queued: int
    permalink: str


@dataclass
class BridgeConfig:
    agent_id: str
    environment_id: str
    allowed_users: tuple[str, ...] = ()
    allowed_channels: tuple[str, ...] = ()
    reactions: Reactions = field(default_factory=Reactions)


class Bridge:
    """Entry points called by the Slack layer; each is safe to call concurrently."""

    def __init__(
        self,
        qoder: QoderClient,
        store: Store,
        relay: Relay,
        slack: AsyncWebClient,
        config: BridgeConfig,
        *,
        budget: RateBudget | None = None,
    ) -> None:
        self._qoder = qoder
        self._store = store
        self._relay = relay
        self._slack = slack
        self._config = config
        self._feedback = ThreadFeedback(slack, store, budget)
        self._thread_locks: defaultdict[ThreadKey, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._background: set[asyncio.Task[None]] = set()
        self._watched: set[str] = set()
        relay.on_turn_end = self._on_turn_end

    # ---- incoming messages -------------------------------------------------------------------------

    async def on_message(self, message: IncomingMessage) -> None:
        """Send ``message`` to the thread's session (creating it), or queue it while a turn runs.

        A Slack message is acted on once, however often and in however many events it is delivered.
        A plain thread reply (``addressed=False``) is ignored unless the thread already has a session.
        """
        thread = message.thread
        if not message.addressed and await self._store.get_session(thread) is None:
            return
        keys = [f"msg:{thread.channel}:{message.ts}"]
        if message.event_id:
            keys.append(f"event:{message.event_id}")
        if not await self._claim(keys):
            log.debug("duplicate delivery of %s/%s ignored", thread.channel, message.ts)
            return
        if not self._allowed(message):
            await self._feedback.notice(
                thread, "Sorry, I'm not enabled for you in this channel. Ask an admin to add you."
            )
            return
        if not message.text.strip():
            await self._feedback.notice(thread, EMPTY_MESSAGE_NOTICE)
            return
        inbox = _inbox(thread)
        await self._store.enqueue(inbox, _as_queued(message))  # durable before any remote call
        try:
            await self._hand_over(message)
        except Exception:
            for key in keys:  # let Slack's retry of this delivery be processed
                await self._store.release_event(key)
            raise

    async def _hand_over(self, message: IncomingMessage) -> bool:
        """Accept a message held in its thread's inbox; True once it has left the inbox.

        It leaves when it was sent, queued behind a running turn, or refused (with an explanation). While
        Qoder is unavailable it stays, and a background task keeps trying.
        """
        thread = message.thread
        try:
            await self._accept(message)
        except TRANSIENT as error:
            log.warning(
                "Qoder unavailable for %s/%s (%s); retrying in the background",
                thread.channel,
                message.ts,
                error,
            )
            await self._feedback.notice(thread, UNAVAILABLE_NOTICE)
            self._spawn(self._accept_later(message), name=f"retry {thread.channel}/{message.ts}")
            return False
        except QoderError as error:
            await self._refuse(message, error)
        await self._store.pop_queue(_inbox(thread), message.ts)
        return True

    async def aclose(self) -> None:
        """Stop background work (retries, waits for busy sessions); what it held stays in the store."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def recover_in_background(self) -> None:
        """Run ``recover`` without holding up startup."""
        self._spawn(self.recover(), name="recover")

    async def recover(self) -> None:
        """After a restart: hand over inbox messages that never reached Qoder, and drain the queues of
        sessions whose turn ended while the bot was down."""
        for key in await self._store.queued_keys():
            if key.startswith(INBOX_PREFIX):
                while (queued := await self._store.peek_queue(key)) is not None:
                    log.info(
                        "handing over %s/%s, received before a restart",
                        queued.thread.channel,
                        queued.message_ts,
                    )
                    if not await self._hand_over(_as_incoming(queued)):
                        break
                continue
            turn = await self._store.get_turn(key)
            thread = await self._store.thread_for_session(key)
            if thread is not None and (turn is None or not turn.active):
                await self._drain(thread)

    async def _refuse(self, message: IncomingMessage, error: QoderError) -> None:
        """Qoder refused the message for a reason retrying won't fix: say so in the thread and in the log."""
        thread = message.thread
        if isinstance(error, AuthenticationError):
            log.error("Qoder rejected the configured QODER_PAT (HTTP %s): %s", error.status, error.message)
        else:
            log.warning("Qoder refused %s/%s: %s", thread.channel, message.ts, error)
        await self._feedback.react(thread.channel, message.ts, self._config.reactions.failed)
        await self._feedback.notice(thread, _explain(error))

    async def _accept_later(self, message: IncomingMessage) -> None:
        """Keep trying to hand ``message`` to Qoder while it is unavailable; give up visibly after a while."""
        for delay in RETRY_DELAYS:
            await asyncio.sleep(delay)
            try:
                await self._accept(message)
                break
            except TRANSIENT as error:
                log.info("Qoder still unavailable for %s/%s: %s", message.thread.channel, message.ts, error)
            except QoderError as error:
                await self._refuse(message, error)
                break
        else:
            await self._feedback.react(message.thread.channel, message.ts, self._config.reactions.failed)
            await self._feedback.notice(message.thread, GAVE_UP_NOTICE)
        await self._store.pop_queue(_inbox(message.thread), message.ts)

    def _spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _accept(self, message: IncomingMessage) -> None:
        thread = message.thread
        await self._store.index_message(thread.channel, thread.thread_ts, thread)
        await self._store.index_message(thread.channel, message.ts, thread)
        await self._feedback.react(thread.channel, message.ts, self._config.reactions.received)
        async with self._thread_locks[thread]:
            session = await self._ensure_session(thread, message)
            turn = await self._store.get_turn(session.session_id)
            busy = (turn is not None and turn.active) or await self._store.queue_length(
                session.session_id
            ) > 0
            queued = _as_queued(message)
            if busy or not await self._start_turn(session, queued):
                await self._queue(session.session_id, queued)

    async def _ensure_session(self, thread: ThreadKey, message: IncomingMessage) -> SessionRecord:
        existing = await self._store.get_session(thread)
        if existing is not None:
            return existing
        return await self._create_session(thread, message.text, attempt="")

    async def _create_session(self, thread: ThreadKey, text: str, *, attempt: str) -> SessionRecord:
        title = " ".join(text.split())[:TITLE_LENGTH] or "Slack thread"
        session = await self._qoder.create_session(
            agent=self._config.agent_id,
            environment_id=self._config.environment_id,
            title=title,
            metadata={
                "source": "slack",
                "slack_team": thread.team,
                "slack_channel": thread.channel,
                "slack_thread_ts": thread.thread_ts,
            },
            idempotency_key=f"slack-session:{thread}{attempt}",
        )
        record = SessionRecord(thread=thread, session_id=session.id, created_at=time.time(), title=title)
        await self._store.save_session(record)
        log.info("session %s created for thread %s", session.id, thread)
        return record

    async def _start_turn(self, session: SessionRecord, message: QueuedMessage) -> bool:
        """Send ``message`` as a user.message and relay the turn it opens; False when the session is busy.

        A session that is gone (deleted, expired, archived, terminated) is replaced by a new one first.
        """
        key = f"slack-msg:{message.thread.channel}:{message.message_ts}"
        try:
            echo_id = await self._qoder.send_message(session.session_id, message.text, idempotency_key=key)
        except ConflictError as error:
            if error.archived:
                return await self._replace_session(session, message)
            if not error.busy:
                raise
            self._watch_foreign_turn(session)
            return False
        except NotFoundError:
            return await self._replace_session(session, message)
        turn = TurnRecord(
            session_id=session.session_id,
            thread=message.thread,
            cursor=echo_id or None,
            user_ts=message.message_ts,
            user_id=message.user,
            start_event_id=echo_id,
            updated_at=time.time(),
        )
        await self._store.save_turn(turn)
        self._relay.start(turn)
        return True

    async def _replace_session(self, old: SessionRecord, message: QueuedMessage) -> bool:
        """The session is gone: start a new one for the thread, say so, and send ``message`` there."""
        log.info("session %s is gone; starting a new one for %s", old.session_id, old.thread)
        await self._feedback.notice(old.thread, CONTEXT_LOST_NOTICE)
        fresh = await self._create_session(old.thread, message.text, attempt=f":after:{old.session_id}")
        await self._move_queue(old.session_id, fresh.session_id)
        return await self._start_turn(fresh, message)

    async def _queue(self, session_id: str, message: QueuedMessage) -> None:
        await self._store.enqueue(session_id, message)
        await self._feedback.react(message.thread.channel, message.message_ts, self._config.reactions.queued)

    def _watch_foreign_turn(self, session: SessionRecord) -> None:
        """Qoder says busy but no turn of ours runs: wait for the session to go idle, then drain the queue."""
        if self._relay.is_relaying(session.session_id) or session.session_id in self._watched:
            return
        self._watched.add(session.session_id)
        self._spawn(self._drain_when_idle(session), name=f"drain {session.session_id}")

    async def _drain_when_idle(self, session: SessionRecord, poll_seconds: float = 2.0) -> None:
        try:
            for _ in range(BUSY_POLLS):
                await asyncio.sleep(poll_seconds)
                try:
                    current = await self._qoder.get_session(session.session_id)
                except QoderError as error:
                    log.warning("polling %s failed: %s", session.session_id, error)
                    continue
                if current.status not in ("running", "canceling"):
                    break
        finally:
            self._watched.discard(session.session_id)
        await self._drain(session.thread)

    # ---- turn endings -------------------------------------------------------------------------------

    async def _on_turn_end(self, turn: TurnRecord, state: TurnState) -> None:
        if state.phase == "needs_action":
            return  # paused, not over: the approval buttons (or a new message) continue it
        reactions = self._config.reactions
        outcome = {"done": reactions.done, "stopped": reactions.stopped}
        await self._feedback.unreact(turn.thread.channel, turn.user_ts, reactions.received)
        await self._feedback.react(
            turn.thread.channel, turn.user_ts, outcome.get(state.phase, reactions.failed)
        )
        # A terminated session is replaced when the next message to it is refused (see _start_turn).
        await self._drain(turn.thread)

    async def _move_queue(self, old_session: str, new_session: str) -> None:
        while (queued := await self._store.peek_queue(old_session)) is not None:
            await self._store.enqueue(new_session, queued)
            await self._store.pop_queue(old_session, queued.message_ts)

    async def _drain(self, thread: ThreadKey) -> None:
        """Send the oldest queued message of the thread's session, if any; it leaves the queue once sent."""
        async with self._thread_locks[thread]:
            session = await self._store.get_session(thread)
            queued = await self._store.peek_queue(session.session_id) if session else None
            if session is None or queued is None:
                return
            try:
                started = await self._start_turn(session, queued)
            except TRANSIENT as error:
                log.warning("Qoder unavailable while sending queued %s: %s", queued.message_ts, error)
                self._spawn(self._drain_later(session), name=f"drain later {session.session_id}")
                return
            except QoderError as error:
                started = False
                await self._refuse(
                    IncomingMessage(thread, queued.message_ts, queued.user, queued.text), error
                )
                await self._store.pop_queue(session.session_id, queued.message_ts)
            if started:
                current = await self._store.get_session(thread)
                for sid in {session.session_id, current.session_id if current else session.session_id}:
                    await self._store.pop_queue(sid, queued.message_ts)
                await self._feedback.unreact(thread.channel, queued.message_ts, self._config.reactions.queued)

    async def _drain_later(self, session: SessionRecord) -> None:
        session_id = session.session_id
        for delay in RETRY_DELAYS:
            await asyncio.sleep(delay)
            if await self._store.queue_length(session_id) == 0:
                return
            turn = await self._store.get_turn(session_id)
            if turn is not None and turn.active:
                return  # a turn started meanwhile; its end drains the queue
            try:
                await self._qoder.get_session(session_id)
            except TRANSIENT:
                continue
            except QoderError:
                pass  # e.g. the session is gone: draining replaces it
            await self._drain(session.thread)
            return

    # ---- stop ---------------------------------------------------------------------------------------

    async def on_stop(self, channel: str, item_ts: str, *, dedupe_key: str) -> bool:
        """Interrupt the running turn of the session that message ``(channel, item_ts)`` belongs to.

        Returns True when an interrupt was sent.
        """
        thread = await self._store.thread_for_message(channel, item_ts)
        if thread is None:
            return False
        return await self.stop_thread(thread, dedupe_key=dedupe_key)

    async def stop_thread(self, thread: ThreadKey, *, dedupe_key: str) -> bool:
        """Interrupt the running turn of ``thread``'s session; True when an interrupt was sent."""
        session = await self._store.get_session(thread)
        if session is None:
            return False
        turn = await self._store.get_turn(session.session_id)
        if turn is None or not turn.active:
            return False
        if not await self._claim([f"stop:{dedupe_key}"]):
            return False
        try:
            await self._qoder.interrupt(session.session_id, idempotency_key=f"slack-stop:{dedupe_key}")
        except QoderError as error:
            await self._feedback.notice(thread, f"I couldn't stop the run: {_explain(error)}")
            return False
        log.info("interrupt sent to %s", session.session_id)
        return True

    # ---- approvals ----------------------------------------------------------------------------------

    async def resolve_tool(self, thread: ThreadKey, tool_use_id: str, *, allow: bool, user: str) -> bool:
        """Answer a tool call the paused turn of ``thread`` waits on; True when the answer was sent.

        A second click (or a click on a turn that moved on) is ignored.
        """
        session = await self._store.get_session(thread)
        turn = await self._store.get_turn(session.session_id) if session else None
        if session is None or turn is None or turn.active or not turn.state_json:
            return False
        if tool_use_id not in TurnState.model_validate_json(turn.state_json).pending_action_ids:
            return False
        if not await self._claim([f"approval:{session.session_id}:{tool_use_id}"]):
            return False
        decision = "approved" if allow else "denied"
        try:
            await self._qoder.confirm_tool(
                session.session_id,
                tool_use_id,
                allow=allow,
                deny_message=f"Denied in Slack by <@{user}>.",
                idempotency_key=f"slack-approval:{tool_use_id}",
            )
        except QoderError as error:
            await self._store.release_event(f"approval:{session.session_id}:{tool_use_id}")
            await self._feedback.notice(thread, f"I couldn't pass that on to Qoder: {_explain(error)}")
            return False
        log.info("tool call %s %s by %s", tool_use_id, decision, user)
        await self._relay.continue_paused(turn)
        return True

    # ---- slash command use cases --------------------------------------------------------------------

    async def start_from_command(self, team: str, channel: str, user: str, prompt: str) -> str:
        """Post a root message for ``prompt`` in ``channel`` and run it as a new session thread; returns its ts."""
        root = await self._slack.chat_postMessage(
            channel=channel, text=f"<@{user}> asked Qoder: {escape(prompt)}"
        )
        ts = str(root["ts"])
        thread = ThreadKey(team, channel, ts)
        await self.on_message(IncomingMessage(thread=thread, ts=ts, user=user, text=prompt))
        return ts

    async def list_sessions(self, team: str, channel: str, timeout: float = 1.5) -> list[SessionSummary]:
        """This channel's sessions, newest first, with live status (``unknown`` when Qoder is slow)."""
        records = await self._store.sessions_in_channel(team, channel)

        async def summarise(record: SessionRecord) -> SessionSummary:
            status: str
            try:
                status = (await asyncio.wait_for(self._qoder.get_session(record.session_id), timeout)).status
            except (QoderError, TimeoutError):
                status = "unknown"
            queued = await self._store.queue_length(record.session_id)
            return SessionSummary(
                record, status, queued, await self._feedback.permalink(record.thread, timeout)
            )

        return list(await asyncio.gather(*(summarise(r) for r in records)))

    async def qoder_reachable(self, timeout: float = 1.5) -> bool:
        """True when Qoder answers an authenticated request in time."""
        try:
            await asyncio.wait_for(self._qoder.ping(), timeout)
        except (QoderError, TimeoutError):
            return False
        return True

    async def store_healthy(self) -> bool:
        """True when the store answers."""
        return await self._store.ping()

    @property
    def active_runs(self) -> int:
        return len(self._relay.active_sessions)

    # ---- helpers -------------------------------------------------------------------------------------

    async def _claim(self, keys: list[str]) -> bool:
        claimed: list[str] = []
        for key in keys:
            if not await self._store.claim_event(key, DEDUPE_TTL_SECONDS):
                for done in claimed:
                    await self._store.release_event(done)
                return False
            claimed.append(key)
        return True

    def _allowed(self, message: IncomingMessage) -> bool:
        users, channels = self._config.allowed_users, self._config.allowed_channels
        if users and message.user not in users:
            return False
        is_dm = message.thread.channel.startswith("D")
        return not channels or is_dm or message.thread.channel in channels


def _inbox(thread: ThreadKey) -> str:
    return f"{INBOX_PREFIX}{thread}"


def _as_queued(message: IncomingMessage) -> QueuedMessage:
    return QueuedMessage(message.thread, message.ts, message.user, message.text)


def _as_incoming(message: QueuedMessage) -> IncomingMessage:
    return IncomingMessage(message.thread, message.message_ts, message.user, message.text)


def _explain(error: QoderError) -> str:
    """One plain sentence for the thread about a Qoder failure the user can see or act on."""
    if isinstance(error, AuthenticationError):
        return "Qoder rejected my credentials, so I can't run the agent. An admin needs to check QODER_PAT."
    if isinstance(error, NotFoundError):
        return "Qoder couldn't find the agent, environment or session I was configured with."
    return f"Qoder didn't accept the request ({error.message}). Please try again in a moment."
