"""``python app.py --check``: validate configuration and reach every dependency, then report.

Prints one line per check (``ok`` or ``FAIL`` with the reason) and returns the process exit status:
0 when everything works, 1 otherwise. Tokens never appear in the output.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.qoder import QoderClient, QoderError
from bot.store import open_store

CHECK_TIMEOUT = 10.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


async def run_checks(settings: Settings) -> list[CheckResult]:
    """Every check, each bounded by ``CHECK_TIMEOUT`` seconds."""
    checks: list[tuple[str, Callable[[Settings], Awaitable[str]]]] = [
        ("configuration", _configuration),
        ("Slack", _slack),
        ("Qoder", _qoder),
        ("store", _store),
    ]
    results = []
    for name, check in checks:
        try:
            detail = await asyncio.wait_for(check(settings), CHECK_TIMEOUT)
            results.append(CheckResult(name, True, detail))
        except TimeoutError:
            results.append(CheckResult(name, False, f"no answer within {CHECK_TIMEOUT:.0f}s"))
        except Exception as error:
            results.append(CheckResult(name, False, _reason(error)))
    return results


async def _configuration(settings: Settings) -> str:
    return f"{settings.mode} mode, store {settings.STORE_URL.split('://', 1)[0]}, stream mode {settings.STREAM_MODE}"


async def _slack(settings: Settings) -> str:
    client = AsyncWebClient(token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL)
    response = await client.auth_test()
    return f"authenticated as {response.get('user')} ({response.get('user_id')}) in {response.get('team')}"


async def _qoder(settings: Settings) -> str:
    client = QoderClient(settings.QODER_API_URL, settings.QODER_PAT, max_retries=0)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return f"reachable at {settings.QODER_API_URL}, token accepted"


async def _store(settings: Settings) -> str:
    store = open_store(settings.STORE_URL)
    try:
        if not await store.ping():
            raise RuntimeError("the store does not answer")
    finally:
        await store.close()
    return "answers"


def _reason(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return f"Slack answered {error.response.get('error')!r} (check SLACK_BOT_TOKEN and SLACK_API_URL)"
    if isinstance(error, QoderError):
        hints = {
            401: " (check QODER_PAT)",
            403: " (the token works but lacks access: check its permissions, QODER_AGENT_ID and QODER_ENVIRONMENT_ID)",
        }
        hint = hints.get(error.status or 0, " (check QODER_API_URL)")
        return f"{error.message}{hint}"
    return f"{type(error).__name__}: {error}"
