"""Intake: a Slack message addressed to the agent, from arrival until Qoder has it.

De-duplicates (Slack delivers one message as several events, and retries), applies the allow-lists, keeps
the message in its thread's durable inbox until it was sent, queued or refused, and hands it to
``Sessions``. A ``!`` command (see ``command_text``) goes to ``ThreadCommands`` instead and never reaches the
agent; ``!outcome`` and ``!!text`` are messages, read again when they are sent. No Slack call is awaited on
this path: the reactions and notices it causes are intents.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot import log_context
from bot.outbox import Outbox
from bot.qoder import QoderError
from bot.store import Store
from bot.threads._shared import (
    EMPTY_MESSAGE_NOTICE,
    GAVE_UP_NOTICE,
    RETRY_DELAYS,
    TRANSIENT,
    UNAVAILABLE_NOTICE,
    Background,
    IncomingMessage,
    ThreadsConfig,
    claim,
)
from bot.threads.command_text import Command, ForAgent, Outcome, outcome_text, parse
from bot.threads.context import ThreadContext, with_context
from bot.threads.custom_tools import CustomTools
from bot.threads.feedback import Feedback
from bot.threads.limits import Limits
from bot.threads.sessions import Sessions
from bot.threads.thread_commands import ThreadCommands

log = logging.getLogger(__name__)


class Intake:
    """Entry point for every user message; safe to call concurrently."""

    def __init__(
        self,
        store: Store,
        sessions: Sessions,
        feedback: Feedback,
        outbox: Outbox,
        config: ThreadsConfig,
        background: Background,
        commands: ThreadCommands,
        custom_tools: CustomTools | None = None,
    ) -> None:
        self._custom_tools = custom_tools
        self._store = store
        self._sessions = sessions
        self._commands = commands
        self._feedback = feedback
        self._outbox = outbox
        self._config = config
        self._background = background
        self._context = ThreadContext()
        self._limits = Limits(store, config)

    async def on_message(self, message: IncomingMessage) -> None:
        """Send ``message`` to the thread's session (creating it), or queue it while a turn runs.

        A Slack message is acted on once, however often and in however many events it is delivered.
        A plain thread reply (``addressed=False``) is ignored unless the thread already has a session.
        Until Qoder has it (or it was queued or refused) it is foreground work: the bot's output waits.
        """
        with self._outbox.foreground.working():
            await self._take(message)

    async def _take(self, message: IncomingMessage) -> None:
        thread = message.thread
        log_context.bind_thread(thread)
        if not message.addressed and await self._store.get_session(thread) is None:
            return
        keys = [f"msg:{thread.channel}:{message.ts}"]
        if message.event_id:
            keys.append(f"event:{message.event_id}")
        if not await claim(self._store, keys):
            log.debug("duplicate delivery of %s/%s ignored", thread.channel, message.ts)
            return
        refusal = await self._limits.check(message)
        if refusal is not None:
            if refusal.notice:
                self._feedback.notice(thread, refusal.notice)
            return
        parsed = parse(message.text)
        if isinstance(parsed, Command):
            follow_up = await self._commands.run(parsed, message)
            if follow_up is None:
                return
            message = replace(message, text=follow_up)
        elif isinstance(parsed, Outcome) and not parsed.criteria:
            self._commands.outcome_usage(message)
            return
        if not message.text.strip() and not message.files:
            self._feedback.notice(thread, EMPTY_MESSAGE_NOTICE)
            return
        if self._custom_tools is not None and await self._custom_tools.answer(message):
            return  # the answer to a question the agent asked in the thread
        if (
            message.quote_thread
            and message.ts != thread.thread_ts
            and await self._store.get_session(thread) is None
        ):
            message = await self._with_thread_context(message)  # asked mid-thread: quote what came before
        await self._store.inbox_add(thread, message.queued())  # durable before any remote call
        try:
            await self._hand_over(message)
        except Exception:
            for key in keys:  # let Slack's retry of this delivery be processed
                await self._store.release_event(key)
            raise

    async def _with_thread_context(self, message: IncomingMessage) -> IncomingMessage:
        thread = message.thread
        outbox = self._outbox.workspace(thread.team)
        context = await self._context.before(
            outbox, thread.team, thread.channel, thread.thread_ts, message.ts
        )
        if not context:
            return message  # as typed: the text is read when it is sent
        parsed = parse(message.text)
        if isinstance(parsed, Outcome):  # the context goes with the task the outcome's turn starts from
            return replace(
                message, text=outcome_text(parsed.criteria, with_context(context, parsed.description))
            )
        text = parsed.text if isinstance(parsed, ForAgent) else message.text
        return replace(message, text=with_context(context, text))

    def recover_in_background(self) -> None:
        """Run ``recover`` without holding up startup."""
        self._background.spawn(self.recover(), name="recover")

    async def recover(self) -> None:
        """After a restart: hand over inbox messages that never reached Qoder, and drain the queues of
        sessions whose turn ended while the bot was down."""
        for inbox_thread in await self._store.threads_with_inbox():
            while (queued := await self._store.inbox_peek(inbox_thread)) is not None:
                log.info(
                    "handing over %s/%s, received before a restart", queued.thread.channel, queued.message_ts
                )
                if not await self._hand_over(IncomingMessage.from_queued(queued)):
                    break
        for key in await self._store.queued_keys():
            turn = await self._store.get_turn(key)
            thread = await self._store.thread_for_session(key)
            if thread is not None and (turn is None or not turn.active):
                await self._sessions.drain(thread)

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
            self._feedback.notice(thread, UNAVAILABLE_NOTICE)
            self._background.spawn(self._accept_later(message), name=f"retry {thread.channel}/{message.ts}")
            return False
        except QoderError as error:
            self._sessions.refuse(message, error)
        await self._store.inbox_remove(thread, message.ts)
        return True

    async def _accept(self, message: IncomingMessage) -> None:
        thread = message.thread
        await self._store.index_message(thread.channel, thread.thread_ts, thread)
        await self._store.index_message(thread.channel, message.ts, thread)
        self._feedback.react(thread, message.ts, self._config.reactions.received)
        await self._sessions.deliver(message)

    async def _accept_later(self, message: IncomingMessage) -> None:
        """Keep trying to hand ``message`` to Qoder while it is unavailable; give up visibly after a while."""
        for delay in RETRY_DELAYS:
            await self._background.sleep(delay)
            try:
                await self._accept(message)
                break
            except TRANSIENT as error:
                log.info("Qoder still unavailable for %s/%s: %s", message.thread.channel, message.ts, error)
            except QoderError as error:
                self._sessions.refuse(message, error)
                break
        else:
            self._feedback.react(message.thread, message.ts, self._config.reactions.failed)
            self._feedback.notice(message.thread, GAVE_UP_NOTICE)
        await self._store.inbox_remove(message.thread, message.ts)
