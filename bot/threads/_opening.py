"""Opening turns: the message that starts one — a ``user.message``, or a ``user.define_outcome`` for an
outcome — and the session it goes to.

A message's text is kept as people typed it (queues and inboxes hold text), and read with ``read`` when it is
sent: ``!!text`` sends ``!text``, ``!outcome …`` defines an outcome, and so does a message that carries its
criteria in ``outcome`` (``/qoder new --outcome``, the Ask Qoder form), its text being the task. Defining an
outcome starts the turn by itself (the task is its description), so no ``user.message`` follows it. A new
session whose first message is an outcome gets it in ``initial_events``; where Qoder ignores or refuses that
field, the outcome is sent as an event once the session exists. What a new session runs comes from
``Defaults.choose``; its record says who started it and on which agent and environment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot import log_context, metrics
from bot.models import QueuedMessage, SessionRecord, ThreadKey, TurnRecord
from bot.qoder import InvalidRequestError, OutcomeDefined, OutcomeSpec, QoderEvent, Session
from bot.store import Store
from bot.threads._ports import QoderSessions, TurnRelay
from bot.threads._shared import ThreadsConfig
from bot.threads.attachments import Attachments
from bot.threads.command_text import ForAgent, Outcome, parse
from bot.threads.defaults import Defaults
from bot.turn import TurnState, fold
from bot.turn_outcome import OutcomeState

log = logging.getLogger(__name__)

TITLE_LENGTH = 80
HISTORY_POLLS = 5  # reads of a new session's history while waiting for its initial outcome to show
HISTORY_POLL_SECONDS = 0.2
OUTCOME_FILES_NOTICE = (
    "An outcome can't carry files, so the agent didn't get {names}. Share them in a reply and they reach it"
    " after this turn."
)


class Opener:
    """Creates sessions and starts turns; every Qoder refusal is raised for the caller to act on. ``sleep``
    is how it waits for a new session's history."""

    def __init__(
        self,
        qoder: QoderSessions,
        store: Store,
        relay: TurnRelay,
        config: ThreadsConfig,
        defaults: Defaults,
        sleep: Callable[[float], Awaitable[None]],
        attachments: Attachments | None = None,
        notice: Callable[[ThreadKey, str], None] = lambda thread, text: None,
    ) -> None:
        self._qoder = qoder
        self._attachments = attachments
        self._notice = notice
        self._sleep = sleep
        self._store = store
        self._relay = relay
        self._config = config
        self._defaults = defaults

    async def create(
        self,
        thread: ThreadKey,
        first: QueuedMessage | None,
        *,
        attempt: str,
        title: str = "",
        replacing: SessionRecord | None = None,
    ) -> tuple[SessionRecord, bool]:
        """Create and store ``thread``'s session; ``first`` is the message it is created for (titles it,
        else ``title`` does). It runs what ``Defaults.choose`` picks; a session that ``replacing`` (if
        any) keeps its starter, else ``first``'s author started it.

        True when ``first`` asked for an outcome, Qoder took it in ``initial_events`` and its turn is
        being relayed already; False when ``first`` still has to be sent.
        """
        parsed = read(first) if first is not None else ForAgent("")
        outcome = parsed if isinstance(parsed, Outcome) and parsed.criteria else None
        spec = self._spec(outcome) if outcome is not None else None
        title_text = parsed.description if isinstance(parsed, Outcome) else parsed.text
        title = " ".join(title_text.split())[:TITLE_LENGTH] or title or "Slack thread"
        key = f"slack-session:{thread}{attempt}"
        agent, environment = await self._defaults.choose(thread, first, replacing)

        async def post_session(outcome: OutcomeSpec | None, idempotency_key: str) -> Session:
            return await self._qoder.create_session(
                agent=agent,
                environment_id=environment,
                title=title,
                metadata={
                    "source": "slack",
                    "slack_team": thread.team,
                    "slack_channel": thread.channel,
                    "slack_thread_ts": thread.thread_ts,
                },
                idempotency_key=idempotency_key,
                outcome=outcome,
            )

        try:
            session = await post_session(spec, key)
        except InvalidRequestError:
            if spec is None:
                raise
            log.info("Qoder refused initial_events; the outcome follows as an event")
            session, spec = await post_session(None, f"{key}:plain"), None
        starter = replacing.started_by if replacing and replacing.started_by else first.user if first else ""
        record = SessionRecord(thread, session.id, time.time(), title, starter, agent, environment)
        await self._store.save_session(record)
        log.info("session %s created for thread %s", session.id, thread)
        taken = bool(session.outcome_ids) or session.status == "running"
        if first is None or outcome is None or spec is None or not taken:
            return record, False
        await self._follow_initial(record, first, spec, outcome)
        self._files_left_out(first)
        return record, True

    async def send(self, session: SessionRecord, message: QueuedMessage) -> None:
        """Send ``message`` to ``session`` and relay the turn it opens. Raises ``QoderError`` (e.g.
        ``ConflictError`` while the session is busy or archived, ``NotFoundError`` once it is gone)."""
        key = f"slack-msg:{message.thread.channel}:{message.message_ts}"
        parsed = read(message)
        state = TurnState()
        if isinstance(parsed, Outcome):
            spec = self._spec(parsed)
            echo_id = await self._qoder.define_outcome(session.session_id, spec, idempotency_key=key)
            self._files_left_out(message)
            state = TurnState(outcome=_asked(parsed, spec))
        else:
            text, blocks = await self._with_files(session, message, parsed.text)
            echo_id = await self._qoder.send_message(
                session.session_id, text, idempotency_key=key, attachments=blocks
            )
        await self._start(session, message, echo_id, echo_id, state)

    async def _with_files(
        self, session: SessionRecord, message: QueuedMessage, text: str
    ) -> tuple[str, tuple[dict[str, Any], ...]]:
        """The text and blocks that carry ``message``'s files (only named, where files are not fetched)."""
        if not message.files:
            return text, ()
        if self._attachments is None:
            names = ", ".join(f.name for f in message.files)
            return f"{text}\n\n(Attached in Slack: {names})".strip(), ()
        prepared = await self._attachments.prepare(session.session_id, message, text, self._notice)
        return prepared.text, prepared.blocks

    def _files_left_out(self, message: QueuedMessage) -> None:
        """An outcome carries no content blocks: say so when its message shared files."""
        if message.files:
            names = ", ".join(f.name for f in message.files)
            self._notice(message.thread, OUTCOME_FILES_NOTICE.format(names=names))

    def _spec(self, outcome: Outcome) -> OutcomeSpec:
        return OutcomeSpec(
            description=outcome.description,
            rubric=outcome.criteria,
            max_iterations=self._config.outcome_max_iterations,
        )

    async def _follow_initial(
        self, session: SessionRecord, first: QueuedMessage, spec: OutcomeSpec, parsed: Outcome
    ) -> None:
        """Relay the turn ``initial_events`` started: what the history holds already is folded in, and the
        stream resumes after it (a new connection without a cursor would start at the tail, §3.3)."""
        state, cursor, echo_id = TurnState(outcome=_asked(parsed, spec)), None, ""
        for attempt in range(HISTORY_POLLS):
            history: list[QoderEvent] = [e async for e in self._qoder.list_events(session.session_id)]
            echo = next((e for e in history if isinstance(e, OutcomeDefined)), None)
            if echo is not None:
                for event in history:
                    state = fold(state, event)
                    cursor = event.resume_point or cursor
                echo_id = echo.id or ""
                break
            if attempt + 1 < HISTORY_POLLS:
                await self._sleep(HISTORY_POLL_SECONDS)
        else:
            log.warning("the initial outcome of %s is not in its history yet", session.session_id)
        await self._start(session, first, cursor, echo_id, state)

    async def _start(
        self,
        session: SessionRecord,
        message: QueuedMessage,
        cursor: str | None,
        start_event_id: str,
        state: TurnState,
    ) -> None:
        turn = TurnRecord(
            session_id=session.session_id,
            thread=message.thread,
            cursor=cursor or None,
            user_ts=message.message_ts,
            user_id=message.user,
            start_event_id=start_event_id,
            state_json=state.model_copy(update={"opened_at": time.time()}).model_dump_json(),
            updated_at=time.time(),
        )
        await self._store.save_turn(turn)
        log_context.bind(session=session.session_id, turn=start_event_id)
        metrics.turn_started()
        self._relay.start(turn)


def read(message: QueuedMessage) -> Outcome | ForAgent:
    """What ``message`` asks of the agent: an outcome — its criteria given with it in ``outcome`` (the text
    is then the task) or typed as ``!outcome`` — else a message (``!!text`` read as ``!text``)."""
    parsed = parse(message.text)
    text = parsed.text if isinstance(parsed, ForAgent) else message.text
    if message.outcome.strip():
        return Outcome(message.outcome.strip(), text.strip())
    return parsed if isinstance(parsed, Outcome) else ForAgent(text)


def _asked(outcome: Outcome, spec: OutcomeSpec) -> OutcomeState:
    """What the reply shows of an outcome before the stream says more: its criteria, and the limit."""
    return OutcomeState(description=outcome.criteria, max_iterations=spec.max_iterations)
