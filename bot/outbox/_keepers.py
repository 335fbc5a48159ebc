"""Intents kept in sync in the background: the reactions on a message and the status of a thread.

Each keeper holds what should be visible and what Slack shows, and one task per message or thread that
closes the gap within the budget (``FEEDBACK`` priority). A superseded intent is never sent: a reaction
no longer wanted while its grant was pending gives the grant back. Failures cost only the cosmetic.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.outbox._scheduler import Grant, Priority, Scheduler, Want
from bot.outbox._timing import Clock, Sleep, wait_event
from bot.outbox._transport import RateLimited, SlackError

log = logging.getLogger(__name__)

Send = Callable[[Grant, Mapping[str, Any]], Awaitable[dict[str, Any]]]


class Spawn(Protocol):
    """Runs background work until it ends or the outbox closes."""

    def __call__(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]: ...


_REMEMBERED_MESSAGES = 4096  # reaction states kept after they are in sync


@dataclass
class _Reactions:
    desired: dict[str, bool] = field(default_factory=dict)
    shown: dict[str, bool] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


class ReactionKeeper:
    """The reactions the bot wants on each message, reconciled with what Slack shows."""

    def __init__(self, scheduler: Scheduler, send: Send, spawn: Spawn) -> None:
        self._scheduler = scheduler
        self._send = send
        self._spawn = spawn
        self._messages: OrderedDict[tuple[str, str], _Reactions] = OrderedDict()

    def want(self, channel: str, ts: str, name: str, on: bool) -> None:
        """Message ``ts`` should (``on``) or should not carry reaction ``name``."""
        key = (channel, ts)
        state = self._messages.get(key)
        if state is None:
            state = self._messages[key] = _Reactions()
            self._forget_old()
        self._messages.move_to_end(key)
        state.desired[name] = on
        if state.task is None or state.task.done():
            state.task = self._spawn(self._reconcile(channel, ts, state), name=f"reactions {channel}/{ts}")

    async def _reconcile(self, channel: str, ts: str, state: _Reactions) -> None:
        while True:
            diff = [(name, on) for name, on in state.desired.items() if state.shown.get(name, False) != on]
            if not diff:
                return
            name, on = max(diff, key=lambda change: change[1])  # what a message should show goes first
            method = "reactions.add" if on else "reactions.remove"
            grant = await self._scheduler.acquire(Want(method, channel, Priority.FEEDBACK))
            if state.desired.get(name) != on:  # superseded while waiting
                grant.refund()
                self._scheduler.poke()
                continue
            try:
                await self._send(grant, {"channel": channel, "timestamp": ts, "name": name})
            except RateLimited:
                continue
            except SlackError as error:
                if error.code not in ("already_reacted", "no_reaction"):
                    log.info("%s %s on %s failed: %s", method, name, ts, error.code)
            state.shown[name] = on

    def _forget_old(self) -> None:
        while len(self._messages) > _REMEMBERED_MESSAGES:
            key, state = next(iter(self._messages.items()))
            if state.task is not None and not state.task.done():
                self._messages.move_to_end(key)
                return
            del self._messages[key]


@dataclass
class _Status:
    desired: str = ""
    shown: str = ""
    shown_at: float = 0.0
    failed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class StatusKeeper:
    """The status line each thread should show, set again after every post (Slack clears it then) and
    refreshed every ``refresh`` seconds (Slack drops it after two minutes without a post). A thread where
    Slack refuses it (no Assistant scope, not an assistant thread) is not tried again until its next run."""

    def __init__(
        self, scheduler: Scheduler, send: Send, spawn: Spawn, *, clock: Clock, sleep: Sleep, refresh: float
    ) -> None:
        self._scheduler = scheduler
        self._send = send
        self._spawn = spawn
        self._clock = clock
        self._sleep = sleep
        self._refresh = refresh
        self._threads: dict[tuple[str, str], _Status] = {}

    def want(self, channel: str, thread_ts: str, status: str) -> None:
        """The thread should show ``status`` ("" for none)."""
        key = (channel, thread_ts)
        state = self._threads.get(key)
        if state is None:
            if not status:
                return
            state = self._threads[key] = _Status()
        if status and not state.desired:
            state.failed = False  # a new run tries again
        state.desired = status
        state.wake.set()
        if state.task is None or state.task.done():
            state.task = self._spawn(
                self._keep(channel, thread_ts, state), name=f"status {channel}/{thread_ts}"
            )

    def posted_in(self, channel: str, thread_ts: str) -> None:
        """The app posted in the thread, so Slack cleared its status: show it again."""
        state = self._threads.get((channel, thread_ts))
        if state is not None:
            state.shown = ""
            state.wake.set()

    async def _keep(self, channel: str, thread_ts: str, state: _Status) -> None:
        key = (channel, thread_ts)
        while True:
            if state.failed or (not state.desired and not state.shown):
                if not state.desired:
                    self._threads.pop(key, None)
                    return
                state.wake.clear()
                await state.wake.wait()
                continue
            due = state.shown_at + self._refresh - self._clock()
            if state.desired == state.shown and due > 0:
                state.wake.clear()
                await wait_event(state.wake, due, self._sleep)
                continue
            grant = await self._scheduler.acquire(
                Want("assistant.threads.setStatus", channel, Priority.FEEDBACK)
            )
            status = state.desired
            try:
                await self._send(grant, {"channel_id": channel, "thread_ts": thread_ts, "status": status})
            except RateLimited:
                continue
            except SlackError as error:
                log.info("thread status unavailable in %s (%s); not showing it", channel, error.code)
                state.failed = True
                continue
            state.shown, state.shown_at = status, self._clock()
