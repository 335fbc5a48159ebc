"""Custom tools: the agent's calls of client-side tools (``agent.custom_tool_use``), which pause its turn in
``requires_action`` until the client sends ``user.custom_tool_result`` (qoder-api §4).

When a turn pauses, each custom tool it waits on is answered once (a store claim per tool use): by the
built-in handler ``CUSTOM_TOOLS`` names for the tool, or at once with ``is_error`` and a sentence saying the
Slack bridge does not provide it (the thread is told so too). Every answer continues the paused turn; Qoder
re-emits ``requires_action`` with whatever still waits (approvals stay with people). ``ask_thread`` asks the
agent's question in the thread and answers with the first reply a person writes there (``answer``, called
by intake); the question waits in the store, and so does the reply taken as its answer until Qoder has it,
so a restart loses nothing. ``recover`` answers, after a restart, the turns that paused just before it.
``stop`` stops a turn whose question waits.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from bot.models import PendingQuestion, ThreadKey, TurnRecord
from bot.outbox import Outbox
from bot.qoder import InvalidRequestError, QoderError
from bot.render import render_mrkdwn, safe_text
from bot.store import Store
from bot.threads._ports import TurnRelay
from bot.threads._shared import DEDUPE_TTL_SECONDS, Background, IncomingMessage, Reactions, claim, explain
from bot.threads.feedback import Feedback
from bot.turn import ToolItem, TurnState

log = logging.getLogger(__name__)

QUESTION_LIMIT = 2500  # characters of the agent's question shown in the thread
STOPPED_RESULT = "The person stopped the run in Slack before answering."


class CustomToolAnswers(Protocol):
    """The Qoder calls custom tools need; ``QoderClient`` implements them."""

    async def custom_tool_result(
        self, session_id: str, tool_use_id: str, *, text: str, is_error: bool, idempotency_key: str
    ) -> str: ...

    async def interrupt(self, session_id: str, *, idempotency_key: str) -> None: ...


@dataclass(frozen=True)
class ToolCall:
    """One custom tool call of a paused turn: where it was made, and who started the turn ("" unknown)."""

    thread: ThreadKey
    session_id: str
    tool: ToolItem
    asker: str


@dataclass(frozen=True)
class Answer:
    """What goes back to the agent as the tool's result."""

    text: str
    is_error: bool = False


@dataclass(frozen=True)
class HandlerPorts:
    """What a handler may use: the store, a way to post in the thread, and the clock (epoch seconds)."""

    store: Store
    post: Callable[[ThreadKey, str], None]  # a message of the bot's own mrkdwn, soon (never awaited)
    now: Callable[[], float]


Handler = Callable[[ToolCall, HandlerPorts], Awaitable[Answer | None]]
"""A built-in handler: the answer now, or None when it comes later through ``CustomTools.answer``."""


async def ask_thread(call: ToolCall, ports: HandlerPorts) -> Answer | None:
    """Ask the agent's question (``input["question"]``, else the input as compact JSON) in the thread,
    mentioning the person who started the turn; the first reply a person writes there is the answer."""
    await ports.store.save_question(
        PendingQuestion(call.thread, call.session_id, call.tool.id, asked_of=call.asker, asked_at=ports.now())
    )
    ports.post(call.thread, question_mrkdwn(call))
    return None


HANDLERS: Mapping[str, Handler] = {"ask_thread": ask_thread}
"""The built-in handlers ``CUSTOM_TOOLS`` may name."""


def question_text(tool: ToolItem) -> str:
    """The question a tool call asks: its ``question`` input when that is text, else its input as JSON."""
    question = tool.input.get("question")
    if isinstance(question, str) and question.strip():
        return question.strip()
    return json.dumps(tool.input, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def question_mrkdwn(call: ToolCall) -> str:
    """The thread message that asks ``call``'s question; the agent's words are neutralised and quoted."""
    text = question_text(call.tool)
    if len(text) > QUESTION_LIMIT:
        text = text[: QUESTION_LIMIT - 1].rstrip() + "…"
    quoted = "\n".join(f">{safe_text(line)}" for line in text.splitlines() or [""])
    who = f"<@{call.asker}> " if call.asker else ""
    return f":question: {who}The agent asks:\n{quoted}\n_Reply in this thread to answer it._"


def unsupported_result(name: str) -> str:
    """The ``is_error`` result of a custom tool the bridge has no handler for."""
    return f"The Slack bridge does not provide the tool `{_name(name)}`."


def unsupported_notice(name: str) -> str:
    """What the thread is told about such a tool."""
    return (
        f"The agent asked for the tool `{_name(name)}`, which the Slack bridge does not provide."
        " I told the agent so, and it carries on without it."
    )


class CustomTools:
    """Answers the custom tool calls paused turns wait on; ``tools`` maps a tool name to a ``HANDLERS`` name
    (``ValueError`` for a handler name that is not there)."""

    def __init__(
        self,
        qoder: CustomToolAnswers,
        store: Store,
        relay: TurnRelay,
        outbox: Outbox,
        feedback: Feedback,
        background: Background,
        tools: Mapping[str, str] | None = None,
        *,
        reactions: Reactions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unknown = sorted(set((tools or {}).values()) - set(HANDLERS))
        if unknown:
            raise ValueError(f"CUSTOM_TOOLS: no built-in handler named {', '.join(unknown)}")
        self._qoder = qoder
        self._store = store
        self._relay = relay
        self._outbox = outbox
        self._feedback = feedback
        self._background = background
        self._handlers = {tool: HANDLERS[name] for tool, name in (tools or {}).items()}
        self._reactions = reactions if reactions is not None else Reactions()
        self._clock = clock
        self._ports = HandlerPorts(store, self._post, clock)

    # --- pauses -----------------------------------------------------------------------------------

    async def on_pause(self, turn: TurnRecord, state: TurnState) -> None:
        """``turn`` paused (``needs_action``): answer the custom tools it waits on that were not answered
        yet, and continue it when something was answered. Approvals are left alone."""
        await self._answer_pause(turn, state, recovering=False)

    async def turn_over(self, turn: TurnRecord) -> None:
        """``turn`` ended (not paused): the questions it asked wait no longer."""
        for question in await self._store.questions_in(turn.thread):
            if question.session_id == turn.session_id:
                await self._store.delete_question(turn.thread, question.tool_use_id)

    def recover_in_background(self) -> None:
        """Run ``recover`` without holding up startup."""
        self._background.spawn(self.recover(), name="recover custom tools")

    async def recover(self) -> None:
        """After a restart: answer the custom tools of turns that paused, unanswered, before it. The
        bridge's own ``is_error`` answer is sent again even when claimed (its idempotency key makes a repeat
        harmless); a configured handler claimed before the restart is not run again; a reply taken as a
        question's answer is passed on again (its idempotency key too)."""
        for turn in await self._store.resting_turns(self._clock() - DEDUPE_TTL_SECONDS):
            state = TurnState.model_validate_json(turn.state_json) if turn.state_json else TurnState()
            if state.phase != "needs_action":
                continue
            try:
                await self._pass_on_kept_answers(turn)
                await self._answer_pause(turn, state, recovering=True)
            except Exception:
                log.exception("could not answer the custom tools of session %s", turn.session_id)

    async def _answer_pause(self, turn: TurnRecord, state: TurnState, *, recovering: bool) -> None:
        tools = waiting_custom_tools(state)
        if not tools:
            return
        asked = {question.tool_use_id for question in await self._store.questions_in(turn.thread)}
        moved = False  # something was answered (now or before): the turn goes on
        for tool in tools:
            if tool.id in asked:
                continue  # its question waits for a reply
            handler = self._handlers.get(tool.name)
            # Recovering, the bridge's own answer claimed before the restart (perhaps never sent) goes again.
            again = recovering and handler is None
            if not await claim(self._store, [_claim_key(turn.session_id, tool.id)]) and not again:
                moved = True  # answered before this pause was seen
                continue
            call = ToolCall(turn.thread, turn.session_id, tool, turn.user_id)
            answer = (
                await handler(call, self._ports) if handler else Answer(unsupported_result(tool.name), True)
            )
            if answer is None:
                log.info("custom tool %s (%s) waits for a reply in the thread", tool.id, tool.name)
                continue
            if await self._send(turn.thread, turn.session_id, tool, answer):
                moved = True
                if handler is None:
                    log.info("custom tool %s (%s) is not provided; told the agent", tool.id, tool.name)
                    self._feedback.notice(turn.thread, unsupported_notice(tool.name))
        if moved:
            await self._continue(turn.session_id)

    async def _send(self, thread: ThreadKey, session_id: str, tool: ToolItem, answer: Answer) -> bool:
        """Give the agent ``answer``; True once Qoder has it (or no longer waits for it). On failure the
        claim is given up (the next sight of the pause tries again) and the thread is told."""
        try:
            await self._qoder.custom_tool_result(
                session_id,
                tool.id,
                text=answer.text,
                is_error=answer.is_error,
                idempotency_key=f"slack-custom-tool:{tool.id}",
            )
        except InvalidRequestError as error:
            log.info("Qoder no longer waits for custom tool %s: %s", tool.id, error)
            return True
        except QoderError as error:
            await self._store.release_event(_claim_key(session_id, tool.id))
            self._feedback.notice(
                thread, f"I couldn't give the agent the result of `{_name(tool.name)}`: {explain(error)}"
            )
            return False
        return True

    async def _continue(self, session_id: str) -> None:
        """Follow the session's turn again if it is still paused (an approval may have continued it)."""
        turn = await self._store.get_turn(session_id)
        if turn is None or turn.active or not turn.state_json:
            return
        if TurnState.model_validate_json(turn.state_json).phase == "needs_action":
            await self._relay.continue_paused(turn)

    # --- questions --------------------------------------------------------------------------------

    async def answer(self, message: IncomingMessage) -> bool:
        """A person wrote ``message`` in its thread: when a question of a paused turn waits there, the
        message is its answer (the oldest question first). True when the message was used up that way (also
        when Qoder refused it: the thread is told to write it again); False when no question waits.
        The answer is stored with the question before Qoder is asked, so a restart passes it on."""
        thread = message.thread
        for question in await self._store.questions_in(thread):
            if not await self._live(question):
                await self._store.delete_question(thread, question.tool_use_id)
                continue
            if question.answer_ts or not await claim(self._store, [_answer_key(question)]):
                continue  # another reply is its answer, on its way to Qoder
            answered = replace(question, answer=message.text, answer_ts=message.ts)
            await self._store.save_question(answered)
            passed = await self._pass_on(answered)
            if passed is None:
                continue  # Qoder no longer waits for it: perhaps the next question takes the message
            if passed:
                await self._continue(question.session_id)
            return True
        return False

    async def _pass_on(self, question: PendingQuestion) -> bool | None:
        """Give the agent ``question``'s stored answer. True once Qoder has it, None when Qoder no longer waits
        for it (either way the question is forgotten); False when Qoder failed: the question waits for a
        reply again and the thread is told to write it again."""
        thread = question.thread
        try:
            await self._qoder.custom_tool_result(
                question.session_id,
                question.tool_use_id,
                text=question.answer,
                is_error=False,
                idempotency_key=f"slack-custom-tool:{question.tool_use_id}",
            )
        except InvalidRequestError as error:
            log.info("Qoder no longer waits for the answer to %s: %s", question.tool_use_id, error)
            await self._store.delete_question(thread, question.tool_use_id)
            return None
        except QoderError as error:
            await self._store.save_question(replace(question, answer="", answer_ts=""))
            await self._store.release_event(_answer_key(question))
            self._feedback.notice(
                thread,
                f"I couldn't pass your answer on to the agent: {explain(error)} Please write it again.",
            )
            return False
        log.info("answer to custom tool %s passed on from %s", question.tool_use_id, question.answer_ts)
        await self._store.delete_question(thread, question.tool_use_id)
        self._feedback.react(thread, question.answer_ts, self._reactions.done)
        return True

    async def _pass_on_kept_answers(self, turn: TurnRecord) -> None:
        """After a restart: pass on the answers taken for ``turn``'s questions that Qoder may not have."""
        for question in await self._store.questions_in(turn.thread):
            if question.session_id == turn.session_id and question.answer_ts:
                await self._pass_on(question)

    async def stop(self, thread: ThreadKey, *, dedupe_key: str) -> bool:
        """Stop a turn of ``thread`` that is paused on a question: the questions are answered with
        ``is_error`` (so Qoder takes the interrupt of a running turn), then the run is interrupted and
        followed again. False when no question waits (or this stop was already acted on)."""
        live = [q for q in await self._store.questions_in(thread) if await self._live(q)]
        if not live or not await claim(self._store, [f"stop:{dedupe_key}"]):
            return False
        session_id = live[0].session_id
        try:
            for question in live:
                await self._qoder.custom_tool_result(
                    question.session_id,
                    question.tool_use_id,
                    text=STOPPED_RESULT,
                    is_error=True,
                    idempotency_key=f"slack-custom-tool:{question.tool_use_id}",
                )
                await self._store.delete_question(thread, question.tool_use_id)
            await self._qoder.interrupt(session_id, idempotency_key=f"slack-stop:{dedupe_key}")
        except QoderError as error:
            self._feedback.notice(thread, f"I couldn't stop the run: {explain(error)}")
            return False
        log.info("interrupt sent to %s, paused on a question", session_id)
        await self._continue(session_id)
        return True

    async def _live(self, question: PendingQuestion) -> bool:
        """Qoder may still wait for the question's answer: its turn is the thread's, and runs or is paused
        on it."""
        session = await self._store.get_session(question.thread)
        turn = await self._store.get_turn(question.session_id)
        if session is None or session.session_id != question.session_id or turn is None:
            return False
        if turn.active:
            return True  # followed again after another answer; it pauses on the question once more
        state = TurnState.model_validate_json(turn.state_json) if turn.state_json else TurnState()
        return state.phase == "needs_action" and question.tool_use_id in state.pending_action_ids

    def _post(self, thread: ThreadKey, mrkdwn: str) -> None:
        async def index(ts: str) -> None:  # a stop reaction on the question stops the run
            await self._store.index_message(thread.channel, ts, thread)

        self._outbox.workspace(thread.team).notice(
            thread.channel, thread.thread_ts, render_mrkdwn(mrkdwn).payload(), on_posted=index
        )


def waiting_custom_tools(state: TurnState) -> list[ToolItem]:
    """The custom tool calls a paused turn waits on, in the order they were made."""
    pending = set(state.pending_action_ids) if state.phase == "needs_action" else set()
    return [item for item in state.items if isinstance(item, ToolItem) and item.custom and item.id in pending]


def _claim_key(session_id: str, tool_use_id: str) -> str:
    return f"custom_tool:{session_id}:{tool_use_id}"


def _answer_key(question: PendingQuestion) -> str:
    """Claimed by the reply taken as ``question``'s answer."""
    return f"custom-answer:{question.session_id}:{question.tool_use_id}"


def _name(name: str) -> str:
    """A tool name fit for inline code in a notice (the notice escapes it further)."""
    return " ".join(name.replace("`", "'").split()) or "?"
