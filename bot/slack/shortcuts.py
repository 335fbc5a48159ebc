"""The "Ask Qoder" message shortcut and its modal, and the App Home tab: payloads → use-case calls.

The shortcut is acknowledged at once and the modal opened right after (its trigger lasts 3 s). A
submission without a task, or of a form the bot cannot read, is refused inside the modal; otherwise the
modal closes at once and the session starts in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.render.modal import ASK_SHORTCUT_ID, ASK_VIEW_ID, INPUT_ACTION, OUTCOME_BLOCK, TASK_BLOCK, AskContext
from bot.slack.text import to_agent_text
from bot.threads import UseCases

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[None]]

NO_TASK = "Tell Qoder what to do."
STALE_FORM = "This form can't be read any more. Close it and choose Ask Qoder on the message again."


def register_shortcuts(app: AsyncApp, use_cases: UseCases) -> None:
    """Attach the shortcut, modal and Home tab listeners to ``app``."""

    @app.shortcut(ASK_SHORTCUT_ID)
    async def on_ask(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        await ack()
        message = body.get("message") or {}
        text = to_agent_text(str(message.get("text") or ""), context.get("bot_user_id"))
        files = [str(f.get("name") or f.get("title") or "file") for f in message.get("files") or []]
        if files:
            text = f"{text}\n\n(Attached in Slack: {', '.join(files)})".strip()
        ask = AskContext(
            channel=str((body.get("channel") or {}).get("id") or ""),
            ts=str(message.get("ts") or body.get("message_ts") or ""),
            thread_ts=str(message.get("thread_ts") or ""),
            author=str(message.get("user") or ""),
            text=text,
            response_url=str(body.get("response_url") or ""),
        )
        await use_cases.starts.open_ask(_team(body, context), str(body.get("trigger_id") or ""), ask)

    @app.view(ASK_VIEW_ID)
    async def on_ask_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], context: dict[str, Any]
    ) -> None:
        values = (view.get("state") or {}).get("values") or {}
        task = _value(values, TASK_BLOCK)
        if not task:
            await ack(response_action="errors", errors={TASK_BLOCK: NO_TASK})
            return
        try:
            ask = AskContext.from_metadata(str(view.get("private_metadata") or ""))
        except ValueError:
            await ack(response_action="errors", errors={TASK_BLOCK: STALE_FORM})
            return
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        bot = context.get("bot_user_id")
        outcome = to_agent_text(_value(values, OUTCOME_BLOCK), bot)
        await use_cases.starts.from_shortcut(
            _team(body, context), user, ask, to_agent_text(task, bot), outcome
        )

    @app.event("app_home_opened")
    async def on_home_opened(body: dict[str, Any], event: dict[str, Any], context: dict[str, Any]) -> None:
        if event.get("tab") != "home" or not event.get("user"):
            return  # the Messages tab: nothing to publish
        await use_cases.home.publish(_team(body, context), str(event["user"]))


def _value(values: dict[str, Any], block_id: str) -> str:
    return str(((values.get(block_id) or {}).get(INPUT_ACTION) or {}).get("value") or "").strip()


def _team(body: dict[str, Any], context: dict[str, Any]) -> str:
    return str(context.get("team_id") or (body.get("team") or {}).get("id") or body.get("team_id") or "")
