"""In-thread commands: ``!stop``, ``!status``, ``!new``, ``!help`` (and the usage of a bare ``!outcome``).

``command_text`` decides what a message asks for; this carries it out. An answer only the sender needs is
an ephemeral in the thread; what everyone in the thread should know (a fresh start) is a notice. Like every
use case, nothing here waits on Slack: answers are intents for the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import quote

from bot.models import SessionRecord, TurnRecord
from bot.qoder import QoderError, Session
from bot.render import escape, format_duration, outcome_line
from bot.store import Store
from bot.threads._ports import QoderSessions
from bot.threads._shared import IncomingMessage, ThreadsConfig, explain
from bot.threads.command_text import Command, New, Status, Stop
from bot.threads.controls import Controls, is_paused
from bot.threads.feedback import Feedback
from bot.threads.sessions import Sessions
from bot.turn import TurnState

log = logging.getLogger(__name__)

STATUS_TIMEOUT = 1.5  # seconds to wait for Qoder's view of the session before answering without it
NO_SESSION = "There's no Qoder session in this thread yet. Mention me with a task to start one."
NOTHING_RUNNING = "Nothing is running in this thread right now."
STILL_RUNNING = "A run is still going in this thread. `!stop` it first, then `!new`."
STARTED_OVER = (
    "Started over: this thread's Qoder session is archived, and the next message goes to a new one."
)
OUTCOME_USAGE = (
    "Tell me what done looks like: `!outcome <criteria>`, e.g. `!outcome all tests pass and the PR is open`."
    ' To give the task too: `!outcome "<criteria>" <task>`.'
)


def help_text(max_iterations: int, unknown: str = "") -> str:
    """The list of commands (after a word on ``unknown``, when that is what was typed), as mrkdwn."""
    lead = f"I don't know `!{escape(unknown)}`. " if unknown else ""
    return "\n".join(
        [
            f"{lead}*Commands* — start a message in a Qoder thread (or a DM) with one of them:",
            "• `!stop` — stop the running turn",
            "• `!status` — the session's state, running time, credits, queued messages and a link",
            "• `!new [task]` — archive this thread's session; the next message (or the task) starts a fresh one",
            f"• `!outcome <what done looks like>` — the agent works until a grader agrees (at most {max_iterations}"
            ' evaluations); `!outcome "<criteria>" <task>` gives the task as well',
            "• `!help` — this list",
            "Anything else goes to the agent; start with `!!` to send it a message that begins with `!`.",
        ]
    )


class ThreadCommands:
    """Carries out the commands people type in threads and DMs."""

    def __init__(
        self,
        qoder: QoderSessions,
        store: Store,
        sessions: Sessions,
        controls: Controls,
        feedback: Feedback,
        config: ThreadsConfig,
    ) -> None:
        self._qoder = qoder
        self._store = store
        self._sessions = sessions
        self._controls = controls
        self._feedback = feedback
        self._config = config

    async def run(self, command: Command, message: IncomingMessage) -> str | None:
        """Carry out ``command`` sent as ``message``. Returns the text to hand to the agent afterwards
        (the task of ``!new <task>``), else None."""
        if isinstance(command, Stop):
            await self._stop(message)
        elif isinstance(command, Status):
            await self._status(message)
        elif isinstance(command, New):
            return await self._new(message, command.task)
        else:
            self._tell(message, help_text(self._config.outcome_max_iterations, command.unknown))
        return None

    def outcome_usage(self, message: IncomingMessage) -> None:
        """``!outcome`` came without criteria: say how it is used."""
        self._tell(message, OUTCOME_USAGE)

    async def _stop(self, message: IncomingMessage) -> None:
        thread = message.thread
        session = await self._store.get_session(thread)
        turn = await self._store.get_turn(session.session_id) if session else None
        if turn is None or not (turn.active or is_paused(turn)):
            self._tell(message, NOTHING_RUNNING)
            return
        await self._controls.stop_thread(thread, dedupe_key=f"command:{thread.channel}:{message.ts}")

    async def _new(self, message: IncomingMessage, task: str) -> str | None:
        try:
            outcome = await self._sessions.start_over(message.thread, key=message.ts)
        except QoderError as error:
            log.warning("!new in %s failed: %s", message.thread, error)
            self._feedback.notice(message.thread, f"I couldn't start over: {explain(error)}")
            return None
        if outcome == "busy":
            self._tell(message, STILL_RUNNING)
            return None
        if outcome == "done":
            self._feedback.notice(message.thread, STARTED_OVER)
        elif not task:
            self._tell(message, "There's no Qoder session in this thread yet; your next message starts one.")
        return task or None

    async def _status(self, message: IncomingMessage) -> None:
        record = await self._store.get_session(message.thread)
        if record is None:
            self._tell(message, NO_SESSION)
            return
        turn = await self._store.get_turn(record.session_id)
        queued = await self._store.queue_length(record.session_id)
        try:
            session: Session | None = await asyncio.wait_for(
                self._qoder.get_session(record.session_id), STATUS_TIMEOUT
            )
        except (QoderError, TimeoutError) as error:
            log.info("status of %s unavailable: %s", record.session_id, error)
            session = None
        self._tell(message, self._status_text(record, turn, session, queued))

    def _status_text(
        self, record: SessionRecord, turn: TurnRecord | None, session: Session | None, queued: int
    ) -> str:
        state = TurnState.model_validate_json(turn.state_json) if turn and turn.state_json else TurnState()
        lines = [f"*Qoder session* `{escape(record.session_id)}` — {_state_words(turn, state, session)}"]
        if session is not None and session.credits is not None:
            lines.append(f"• Credits used so far: {session.credits:.2f}")
        if session is not None and session.active_seconds is not None:
            lines.append(f"• Agent working time so far: {format_duration(session.active_seconds)}")
        lines.append(f"• Queued messages: {queued}")
        if state.outcome is not None:
            lines.append(f"• {outcome_line(state.outcome)}")
        if link := session_link(self._config.session_url, record.session_id):
            lines.append(f"• <{link}|Open the session in Qoder>")
        return "\n".join(lines)

    def _tell(self, message: IncomingMessage, mrkdwn: str) -> None:
        self._feedback.tell(message.thread, message.user, mrkdwn)


def session_link(template: str, session_id: str) -> str:
    """``template`` with the session id put in (``{session_id}``); empty without a template."""
    if not template or "{session_id}" not in template:
        return ""
    link = template.replace("{session_id}", quote(session_id, safe=""))
    return "" if any(ch in link for ch in "<>| ") else link


def _state_words(turn: TurnRecord | None, state: TurnState, session: Session | None) -> str:
    if turn is not None and turn.active:
        started = state.started_at if state.started_at is not None else state.opened_at
        since = f" for {format_duration(time.time() - started)}" if started is not None else ""
        return f":hourglass_flowing_sand: running{since}"
    if turn is not None and state.phase == "needs_action":
        return ":raised_hand: waiting for approval"
    if session is None:
        return ":grey_question: Qoder didn't say how it is"
    if session.archived:
        return ":file_cabinet: archived"
    return {
        "idle": ":white_circle: idle",
        "terminated": ":black_circle: ended",
        "canceling": ":octagonal_sign: stopping",
    }.get(session.status, ":hourglass_flowing_sand: running")
