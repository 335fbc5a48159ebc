"""Controls: stopping a run and answering the tool calls a paused turn waits on."""

from __future__ import annotations

import logging

from bot.models import ThreadKey
from bot.qoder import QoderError
from bot.store import Store
from bot.threads._ports import QoderSessions, TurnRelay
from bot.threads._shared import claim, explain
from bot.threads.custom_tools import CustomTools
from bot.threads.feedback import Feedback
from bot.turn import TurnState

log = logging.getLogger(__name__)


class Controls:
    """Stop and approvals; each request is acted on once, however often Slack delivers it."""

    def __init__(
        self,
        qoder: QoderSessions,
        store: Store,
        relay: TurnRelay,
        feedback: Feedback,
        custom_tools: CustomTools | None = None,
    ) -> None:
        self._qoder = qoder
        self._store = store
        self._relay = relay
        self._feedback = feedback
        self._custom_tools = custom_tools

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
            # a turn paused on a question asked in the thread stops too
            custom = self._custom_tools
            return custom is not None and await custom.stop(thread, dedupe_key=dedupe_key)
        if not await claim(self._store, [f"stop:{dedupe_key}"]):
            return False
        try:
            await self._qoder.interrupt(session.session_id, idempotency_key=f"slack-stop:{dedupe_key}")
        except QoderError as error:
            self._feedback.notice(thread, f"I couldn't stop the run: {explain(error)}")
            return False
        log.info("interrupt sent to %s", session.session_id)
        return True

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
        key = f"approval:{session.session_id}:{tool_use_id}"
        if not await claim(self._store, [key]):
            return False
        try:
            await self._qoder.confirm_tool(
                session.session_id,
                tool_use_id,
                allow=allow,
                deny_message=f"Denied in Slack by <@{user}>.",
                idempotency_key=f"slack-approval:{tool_use_id}",
            )
        except QoderError as error:
            await self._store.release_event(key)
            self._feedback.notice(thread, f"I couldn't pass that on to Qoder: {explain(error)}")
            return False
        log.info("tool call %s %s by %s", tool_use_id, "approved" if allow else "denied", user)
        await self._relay.continue_paused(turn)
        return True
