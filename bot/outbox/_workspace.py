"""One workspace's outbox: the calls, and the intents that are not a turn's reply.

Intents say what should be visible and return at once: a reaction on a message, the thread status, a notice.
Each is reconciled in the background within the workspace's budget, and superseded intents coalesce (a
"received" reaction still waiting when it is no longer wanted is never sent). Failures cost only the
cosmetic itself: they are logged, never raised to the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.outbox._limits import Limits
from bot.outbox._scheduler import Grant, Priority, Scheduler, Want
from bot.outbox._timing import Clock, Sleep, wait_event
from bot.outbox._transport import SlackError, Transport

log = logging.getLogger(__name__)

STATUS_REFRESH_SECONDS = 90.0  # Slack drops a thread status after two minutes without a post
_MAX_RATE_LIMITED = 20  # a call Slack keeps refusing with 429 this often is given up
_REMEMBERED_MESSAGES = 4096  # reaction states kept after they are in sync
_POSTS_IN_THREAD = frozenset({"chat.postMessage", "chat.startStream"})

OnPosted = Callable[[str], Awaitable[None]]


class RateLimited(Exception):
    """Slack answered 429: the method is held for its ``Retry-After``; ask for a new grant and call again."""


@dataclass
class _Reactions:
    desired: dict[str, bool] = field(default_factory=dict)
    shown: dict[str, bool] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


@dataclass
class _Status:
    desired: str = ""
    shown: str = ""
    shown_at: float = 0.0
    failed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class WorkspaceOutbox:
    """Every Slack call for one workspace goes through here."""

    def __init__(
        self,
        transport: Transport,
        limits: Limits,
        *,
        clock: Clock,
        sleep: Sleep,
        status_refresh: float = STATUS_REFRESH_SECONDS,
    ) -> None:
        self._transport = transport
        self.clock = clock
        self.sleep = sleep
        self.scheduler = Scheduler(limits, clock=clock, sleep=sleep)
        self._status_refresh = status_refresh
        self._reactions: OrderedDict[tuple[str, str], _Reactions] = OrderedDict()
        self._statuses: dict[tuple[str, str], _Status] = {}
        self._background: set[asyncio.Task[None]] = set()

    # ---- calls ------------------------------------------------------------------------------------------

    async def send(self, grant: Grant, params: Mapping[str, Any]) -> dict[str, Any]:
        """Make the call ``grant`` permits. A 429 holds the method for ``Retry-After`` and raises
        ``RateLimited``; any other refusal raises ``SlackError``."""
        try:
            response = await self._transport(grant.method, params)
        except SlackError as error:
            if error.rate_limited:
                self.scheduler.pause(grant.method, grant.channel, error.retry_after or 1.0)
                raise RateLimited(grant.method) from None
            raise
        if grant.method in _POSTS_IN_THREAD and params.get("thread_ts"):
            self._posted_in(grant.channel, str(params["thread_ts"]))
        return response

    async def call(
        self, method: str, channel: str, params: Mapping[str, Any], *, priority: Priority = Priority.URGENT
    ) -> dict[str, Any]:
        """Wait for a grant and make the call, again after each 429; raises ``SlackError`` on a refusal."""
        for _ in range(_MAX_RATE_LIMITED):
            grant = await self.scheduler.acquire(Want(method, channel, priority))
            try:
                return await self.send(grant, params)
            except RateLimited:
                continue
        raise SlackError(method, "ratelimited", 429)

    async def post(self, channel: str, payload: Mapping[str, Any], *, thread_ts: str = "") -> str:
        """Post a message someone waits for (``URGENT``) and return its ts."""
        params = {"channel": channel, **payload, **({"thread_ts": thread_ts} if thread_ts else {})}
        response = await self.call("chat.postMessage", channel, params)
        return str(response["ts"])

    async def permalink(self, channel: str, ts: str) -> str:
        """A link to message ``ts``; raises ``SlackError`` when Slack refuses."""
        response = await self.call("chat.getPermalink", channel, {"channel": channel, "message_ts": ts})
        return str(response.get("permalink", ""))

    # ---- intents ----------------------------------------------------------------------------------------

    def notice(
        self, channel: str, thread_ts: str, payload: Mapping[str, Any], *, on_posted: OnPosted | None = None
    ) -> None:
        """Post a short message in the thread soon (``URGENT``); ``on_posted`` learns its ts."""

        async def post() -> None:
            try:
                ts = await self.post(channel, payload, thread_ts=thread_ts)
                if on_posted is not None:
                    await on_posted(ts)
            except SlackError as error:
                log.warning("could not post a notice in %s/%s: %s", channel, thread_ts, error.code)

        self.spawn(post(), name=f"notice {channel}/{thread_ts}")

    def ephemeral(self, channel: str, user: str, payload: Mapping[str, Any], *, thread_ts: str = "") -> None:
        """Show a message only ``user`` sees, soon (``URGENT``)."""
        params = {
            "channel": channel,
            "user": user,
            **payload,
            **({"thread_ts": thread_ts} if thread_ts else {}),
        }

        async def post() -> None:
            try:
                await self.call("chat.postEphemeral", channel, params)
            except SlackError as error:
                log.warning("could not answer %s in %s: %s", user, channel, error.code)

        self.spawn(post(), name=f"ephemeral {channel}")

    def delete(self, channel: str, ts: str) -> None:
        """Remove a bot message nobody needs any more, when the budget allows (``FEEDBACK``)."""

        async def delete() -> None:
            try:
                await self.call(
                    "chat.delete", channel, {"channel": channel, "ts": ts}, priority=Priority.FEEDBACK
                )
            except SlackError as error:
                if error.code != "message_not_found":
                    log.warning("could not delete %s in %s: %s", ts, channel, error.code)

        self.spawn(delete(), name=f"delete {channel}/{ts}")

    def react(self, channel: str, ts: str, name: str, *, on: bool = True) -> None:
        """Message ``ts`` should (``on``) or should not carry reaction ``name``; no-op for an empty name."""
        if not name or not ts:
            return
        key = (channel, ts)
        state = self._reactions.get(key)
        if state is None:
            state = self._reactions[key] = _Reactions()
            self._forget_old_reactions()
        self._reactions.move_to_end(key)
        state.desired[name] = on
        if state.task is None or state.task.done():
            state.task = self.spawn(
                self._reconcile_reactions(channel, ts, state), name=f"reactions {channel}/{ts}"
            )

    def unreact(self, channel: str, ts: str, name: str) -> None:
        """Message ``ts`` should not carry reaction ``name``."""
        self.react(channel, ts, name, on=False)

    def set_status(self, channel: str, thread_ts: str, status: str) -> None:
        """The thread should show ``status`` ("" for none); kept up, since Slack drops it after each post."""
        key = (channel, thread_ts)
        state = self._statuses.get(key)
        if state is None:
            if not status:
                return
            state = self._statuses[key] = _Status()
        if status and not state.desired:
            state.failed = False  # a new run tries again
        state.desired = status
        state.wake.set()
        if state.task is None or state.task.done():
            state.task = self.spawn(
                self._keep_status(channel, thread_ts, state), name=f"status {channel}/{thread_ts}"
            )

    # ---- background -------------------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run ``work`` in the background until it ends or the outbox closes."""
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def drain(self, timeout: float) -> None:
        """Give background calls up to ``timeout`` seconds to finish (shutdown)."""
        pending = [task for task in self._background if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def aclose(self) -> None:
        """Cancel every background call and stop planning."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.scheduler.aclose()

    async def _reconcile_reactions(self, channel: str, ts: str, state: _Reactions) -> None:
        while True:
            diff = [(name, on) for name, on in state.desired.items() if state.shown.get(name, False) != on]
            if not diff:
                return
            name, on = max(diff, key=lambda change: change[1])  # what a message should show goes first
            method = "reactions.add" if on else "reactions.remove"
            grant = await self.scheduler.acquire(Want(method, channel, Priority.FEEDBACK))
            if state.desired.get(name) != on:  # superseded while waiting
                grant.refund()
                self.scheduler.poke()
                continue
            try:
                await self.send(grant, {"channel": channel, "timestamp": ts, "name": name})
            except RateLimited:
                continue
            except SlackError as error:
                if error.code not in ("already_reacted", "no_reaction"):
                    log.info("%s %s on %s failed: %s", method, name, ts, error.code)
            state.shown[name] = on

    def _forget_old_reactions(self) -> None:
        while len(self._reactions) > _REMEMBERED_MESSAGES:
            key, state = next(iter(self._reactions.items()))
            if state.task is not None and not state.task.done():
                self._reactions.move_to_end(key)
                return
            del self._reactions[key]

    async def _keep_status(self, channel: str, thread_ts: str, state: _Status) -> None:
        key = (channel, thread_ts)
        while True:
            if state.failed or (not state.desired and not state.shown):
                if not state.desired:
                    self._statuses.pop(key, None)
                    return
                state.wake.clear()
                await state.wake.wait()
                continue
            due = state.shown_at + self._status_refresh - self.clock()
            if state.desired == state.shown and due > 0:
                state.wake.clear()
                await wait_event(state.wake, due, self.sleep)
                continue
            grant = await self.scheduler.acquire(
                Want("assistant.threads.setStatus", channel, Priority.FEEDBACK)
            )
            status = state.desired
            try:
                await self.send(grant, {"channel_id": channel, "thread_ts": thread_ts, "status": status})
            except RateLimited:
                continue
            except SlackError as error:
                log.info("thread status unavailable in %s (%s); not showing it", channel, error.code)
                state.failed = True
                continue
            state.shown, state.shown_at = status, self.clock()

    def _posted_in(self, channel: str, thread_ts: str) -> None:
        """Slack cleared the thread's status when the app posted there: show it again."""
        state = self._statuses.get((channel, thread_ts))
        if state is not None:
            state.shown = ""
            state.wake.set()
