"""List Events (§E2) page after page: the cursor rules of §1.5, each event parsed and linked in order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bot.qoder._parse import parse_event
from bot.qoder._previews import StreamDecoder
from bot.qoder.events import QoderEvent

GetPage = Callable[[dict[str, str | int]], Awaitable[Any]]


async def history(get_page: GetPage, *, after_id: str | None, limit: int) -> AsyncIterator[QoderEvent]:
    """The buffered events after ``after_id`` (oldest first); ``get_page`` fetches one page for its query
    parameters. Follows ``next_page``, else ``has_more``/``last_id``."""
    decoder = StreamDecoder()
    params: dict[str, str | int] = {"limit": limit}
    if after_id:
        params["after_id"] = after_id
    while True:
        page = await get_page(params)
        if not isinstance(page, dict):
            return
        items = page.get("data")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and (event := parse_event(item)) is not None:
                yield decoder.feed(event)
        next_page, last_id = page.get("next_page"), page.get("last_id")
        # §1.5: send at most one cursor; prefer the opaque page token
        if isinstance(next_page, str) and next_page:
            params = {"limit": limit, "page": next_page}
        elif page.get("has_more") is True and isinstance(last_id, str) and last_id:
            params = {"limit": limit, "after_id": last_id}
        else:
            return
