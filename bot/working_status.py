"""Slack's "is working…" indicator on a thread while a turn runs.

``assistant.threads.setStatus`` shows a status under the thread until the app posts a reply or two minutes
pass, so the indicator is set again after each reply the bot posts and refreshed well before it expires.
Failures only cost the indicator: the first refusal (e.g. a workspace without the feature) turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

REFRESH_SECONDS = 90.0


class WorkingIndicator:
    """Keeps ``status`` on one thread from ``start`` until ``stop``."""

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        status: str,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._status = status
        self._refresh_seconds = refresh_seconds
        self._enabled = bool(status)
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Show the status now and keep refreshing it."""
        await self.touch()
        if self._enabled and self._refresher is None:
            self._refresher = asyncio.create_task(
                self._refresh(), name=f"status {self._channel}/{self._thread_ts}"
            )

    async def touch(self) -> None:
        """Show the status again (posting a reply clears it)."""
        if self._enabled:
            await self._set(self._status)

    async def stop(self) -> None:
        """Stop refreshing and clear the status."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self._enabled:
            self._enabled = False  # replies posted from now on must not bring the status back
            await self._set("")

    async def _refresh(self) -> None:
        while self._enabled:
            await asyncio.sleep(self._refresh_seconds)
            await self.touch()

    async def _set(self, status: str) -> None:
        try:
            await self._client.api_call(
                "assistant.threads.setStatus",
                json={"channel_id": self._channel, "thread_ts": self._thread_ts, "status": status},
            )
        except SlackApiError as error:
            log.info("thread status unavailable (%s); not showing it", error.response.get("error"))
            self._enabled = False
