"""The operator's HTTP endpoints, served on ``PORT`` in both modes.

* ``/healthz`` — liveness: 200 while the process serves (``{"ok": true}``); 503 before it is ready and
  while it drains.
* ``/readyz`` — readiness: 200 when the store, Slack (``auth.test``) and Qoder (one cheap authenticated
  request) all answer within ``READY_TIMEOUT`` seconds each, checked concurrently; else 503 naming what
  failed: ``{"ok": false, "failed": ["qoder"], "checks": {"store": "ok", "slack": "ok", "qoder": "…"}}``.
* ``/metrics`` — Prometheus' text format (``bot.metrics``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from bot import metrics
from bot.store import Store

READY_TIMEOUT = 2.0

Check = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class BotView:
    """What the endpoints read of a running bot."""

    is_ready: Callable[[], bool]
    active_relays: Callable[[], int]
    store: Store
    checks: Mapping[str, Check]  # name → a call that raises (or returns False) when that dependency fails


def add_routes(application: web.Application, bot: BotView, *, timeout: float = READY_TIMEOUT) -> None:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` for ``bot`` on ``application``."""

    async def healthz(_: web.Request) -> web.Response:
        ready = bot.is_ready()
        return web.json_response({"ok": ready}, status=200 if ready else 503)

    async def readyz(_: web.Request) -> web.Response:
        results = await run_checks(bot.checks, timeout)
        if not bot.is_ready():
            results = {"bot": "starting or shutting down", **results}
        failed = [name for name, result in results.items() if result != "ok"]
        body = {"ok": not failed, "failed": failed, "checks": results}
        return web.json_response(body, status=503 if failed else 200)

    async def metrics_page(_: web.Request) -> web.Response:
        try:
            queued = await asyncio.wait_for(queued_messages(bot.store), timeout)
        except Exception:
            queued = 0  # the store is down: /readyz says so; the page must still render
        text = metrics.render(active_relays=bot.active_relays(), queued_messages=queued, ready=bot.is_ready())
        response = web.Response(body=text)
        response.headers["Content-Type"] = metrics.CONTENT_TYPE
        return response

    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    application.router.add_get("/metrics", metrics_page)


async def run_checks(checks: Mapping[str, Check], timeout: float) -> dict[str, str]:
    """Run every check concurrently, each bounded by ``timeout``; ``"ok"`` or why it failed, per name."""

    async def one(check: Check) -> str:
        try:
            result = await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except Exception as error:
            return f"{type(error).__name__}: {error}"[:200]
        return "ok" if result is not False else "failed"

    names = list(checks)
    outcomes = await asyncio.gather(*(one(checks[name]) for name in names))
    return dict(zip(names, outcomes, strict=True))


async def queued_messages(store: Store) -> int:
    """Messages waiting behind running turns, over every session the store knows to have a queue."""
    total = 0
    for session_id in await store.queued_keys():
        total += await store.queue_length(session_id)
    return total
