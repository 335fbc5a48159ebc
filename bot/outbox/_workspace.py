"""One workspace's outbox: the calls, and the intents that are not a turn's reply.

Intents say what should be visible and return at once: a reaction on a message, the thread status, a notice.
Each is reconciled in the background within the workspace's budget, and superseded intents coalesce (a
"received" reaction still waiting when it is no longer wanted is never sent). Failures cost only the
cosmetic itself: they are logged, never raised to the caller. A post, notice or ephemeral message whose
blocks Slack refuses is sent again as plain text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from bot.foreground import Foreground
from bot.outbox._keepers import ReactionKeeper, StatusKeeper
from bot.outbox._limits import Limits
from bot.outbox._plain import plain, refused_content
from bot.outbox._scheduler import Grant, Priority, Scheduler, Want
from bot.outbox._timing import Clock, Sleep
from bot.outbox._transport import FILE_UPLOAD, FILE_UPLOAD_METHODS, RateLimited, SlackError, Transport

log = logging.getLogger(__name__)

STATUS_REFRESH_SECONDS = 90.0  # Slack drops a thread status after two minutes without a post
_MAX_RATE_LIMITED = 20  # a call Slack keeps refusing with 429 this often is given up
_POSTS_IN_THREAD = frozenset({"chat.postMessage", "chat.startStream"})

OnPosted = Callable[[str], Awaitable[None]]


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
        foreground: Foreground | None = None,
    ) -> None:
        self._transport = transport
        self.clock = clock
        self.sleep = sleep
        self.scheduler = Scheduler(limits, clock=clock, sleep=sleep, foreground=foreground)
        self._status_refresh = status_refresh
        self._background: set[asyncio.Task[None]] = set()
        self._reactions = ReactionKeeper(self.scheduler, self.send, self.spawn)
        self._statuses = StatusKeeper(
            self.scheduler, self.send, self.spawn, clock=clock, sleep=sleep, refresh=status_refresh
        )

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
            self._statuses.posted_in(grant.channel, str(params["thread_ts"]))
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
        """Post a message someone waits for (``URGENT``) and return its ts; a payload Slack refuses for its
        content (``invalid_blocks``…) is posted again as plain text."""
        params = {"channel": channel, **payload, **({"thread_ts": thread_ts} if thread_ts else {})}
        response = await self.call_or_plain("chat.postMessage", channel, params)
        return str(response["ts"])

    async def upload(
        self, channel: str, thread_ts: str, *, filename: str, title: str, content: bytes
    ) -> dict[str, Any]:
        """Share a file in the thread as a message of its own (``URGENT``: someone waits for it), within the
        budget of each call the upload makes; returns Slack's completion answer, raises ``SlackError``."""
        params = {
            "channel": channel,
            "thread_ts": thread_ts,
            "filename": filename,
            "title": title,
            "content": content,
        }
        for _ in range(_MAX_RATE_LIMITED):
            for method in FILE_UPLOAD_METHODS:
                await self.scheduler.acquire(Want(method, channel, Priority.URGENT))
            try:
                response = await self._transport(FILE_UPLOAD, params)
            except SlackError as error:
                if not error.rate_limited:
                    raise
                method = error.method if error.method in FILE_UPLOAD_METHODS else FILE_UPLOAD_METHODS[0]
                self.scheduler.pause(method, channel, error.retry_after or 1.0)
                continue
            self._statuses.posted_in(channel, thread_ts)
            return response
        raise SlackError(FILE_UPLOAD, "ratelimited", 429)

    async def call_or_plain(self, method: str, channel: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``call`` a message method (``URGENT``); when Slack refuses the content, make the same call again
        with only a safe, truncated ``text`` (see ``_plain``)."""
        try:
            return await self.call(method, channel, params)
        except SlackError as error:
            if not refused_content(error, params):
                raise
            log.warning(
                "Slack refused a %s in %s (%s); sending it as plain text", method, channel, error.code
            )
            return await self.call(method, channel, plain(params, edit=method == "chat.update"))

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
                await self.call_or_plain("chat.postEphemeral", channel, params)
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
        if name and ts:
            self._reactions.want(channel, ts, name, on)

    def unreact(self, channel: str, ts: str, name: str) -> None:
        """Message ``ts`` should not carry reaction ``name``."""
        self.react(channel, ts, name, on=False)

    def set_status(self, channel: str, thread_ts: str, status: str) -> None:
        """The thread should show ``status`` ("" for none); kept up, since Slack drops it after each post."""
        self._statuses.want(channel, thread_ts, status)

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
