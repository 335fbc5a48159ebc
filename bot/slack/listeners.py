"""Bolt listeners: Slack events, the stop and approval buttons (and the modal asking why a call is denied)
and ``/qoder``, translated into use-case calls (the shortcut, its modal and the Home tab are in
``bot.slack.shortcuts``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.interactive import (
    APPROVE_ACTION_ID,
    DENY_ACTION_ID,
    DENY_REASON_ACTION_ID,
    STOP_ACTION_ID,
    parse_approval_value,
    parse_stop_value,
)
from bot.models import ThreadKey
from bot.render.modal import DENY_VIEW_ID, INPUT_ACTION, REASON_BLOCK
from bot.slack.bots import BOT_SUBTYPE, allowed_bot, from_bot, sender
from bot.slack.commands import handle_command
from bot.slack.downloads import shared_files
from bot.slack.shortcuts import register_shortcuts
from bot.slack.text import to_agent_text
from bot.threads import IncomingMessage, UseCases

log = logging.getLogger(__name__)

# Message subtypes that are still a person talking (slack-platform.md §5.3); every other subtype is ignored.
USER_SUBTYPES = {None, "file_share", "thread_broadcast"}
# Subscribed events the bot has no use for; they still need a listener or Slack keeps redelivering them.
Ack = Callable[..., Awaitable[None]]
STALE_DENY_FORM = "This form can't be read any more. Close it and press Deny on the tool call again."


def register(
    app: AsyncApp,
    use_cases: UseCases,
    *,
    stop_reactions: tuple[str, ...],
    allowed_bots: tuple[str, ...] = (),
) -> None:
    """Attach every listener of the bot to ``app``; messages from bots not in ``allowed_bots`` are ignored."""
    stop_names = frozenset(stop_reactions)
    bots = frozenset(allowed_bots)
    intake, controls = use_cases.intake, use_cases.controls

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any], context: dict[str, Any]) -> None:
        message = _incoming(body, event, context, addressed=True, allowed_bots=bots)
        if message is not None:
            await intake.on_message(message)

    @app.event("message")
    async def on_message(body: dict[str, Any], event: dict[str, Any], context: dict[str, Any]) -> None:
        thread_ts = event.get("thread_ts")
        is_dm = event.get("channel_type") == "im"
        is_reply = bool(thread_ts) and thread_ts != event.get("ts")
        if not (is_dm or is_reply):
            return  # a top-level channel message reaches the bot only through app_mention
        message = _incoming(body, event, context, addressed=is_dm, allowed_bots=bots)
        if message is not None:
            await intake.on_message(message)

    @app.event("reaction_added")
    async def on_reaction(body: dict[str, Any], event: dict[str, Any]) -> None:
        name = str(event.get("reaction", "")).split("::", 1)[0]
        item = event.get("item") or {}
        if name not in stop_names or item.get("type") != "message":
            return
        key = str(body.get("event_id") or f"{item.get('channel')}:{item.get('ts')}:{event.get('event_ts')}")
        await controls.on_stop(str(item.get("channel")), str(item.get("ts")), dedupe_key=key)

    @app.action(STOP_ACTION_ID)
    async def on_stop_button(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        try:
            thread = parse_stop_value(str(action.get("value", "")))
        except ValueError:
            log.warning("stop button with an unreadable value ignored")
            return
        await controls.stop_thread(
            thread, dedupe_key=f"button:{action.get('action_ts') or body.get('trigger_id')}"
        )

    async def on_approval(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        try:
            thread, tool_use_id = parse_approval_value(str(action.get("value", "")))
        except ValueError:
            log.warning("approval button with an unreadable value ignored")
            return
        user = str((body.get("user") or {}).get("id") or "")
        allow = action.get("action_id") == APPROVE_ACTION_ID
        await controls.resolve_tool(thread, tool_use_id, allow=allow, user=user)

    app.action(APPROVE_ACTION_ID)(on_approval)
    app.action(DENY_ACTION_ID)(on_approval)

    @app.action(DENY_REASON_ACTION_ID)
    async def on_deny_with_reason(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], context: dict[str, Any]
    ) -> None:
        await ack()
        value = str(action.get("value", ""))
        try:
            thread, _ = parse_approval_value(value)
        except ValueError:
            log.warning("deny-with-reason button with an unreadable value ignored")
            return
        # the trigger lasts 3 s: the modal opens before anything else is looked at
        await controls.ask_reason(thread.team, thread.channel, str(body.get("trigger_id") or ""), value)

    @app.view(DENY_VIEW_ID)
    async def on_deny_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            thread, tool_use_id = parse_approval_value(str(view.get("private_metadata") or ""))
        except ValueError:
            await ack(response_action="errors", errors={REASON_BLOCK: STALE_DENY_FORM})
            return
        await ack()
        values = (view.get("state") or {}).get("values") or {}
        reason = str(((values.get(REASON_BLOCK) or {}).get(INPUT_ACTION) or {}).get("value") or "")
        user = str((body.get("user") or {}).get("id") or "")
        await controls.resolve_tool(thread, tool_use_id, allow=False, user=user, reason=reason)

    @app.command("/qoder")
    async def on_command(ack: Ack, command: dict[str, Any], context: dict[str, Any]) -> None:
        await handle_command(ack, command, use_cases, context.get("bot_user_id"))

    register_shortcuts(app, use_cases)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("listener failed for a %s request", body.get("type", "?"), exc_info=error)


def _incoming(
    body: dict[str, Any],
    event: dict[str, Any],
    context: dict[str, Any],
    *,
    addressed: bool,
    allowed_bots: frozenset[str] = frozenset(),
) -> IncomingMessage | None:
    """The user message in ``event``, or None for bots not allowed, edits, joins and other non-messages."""
    if from_bot(event):
        if not allowed_bot(event, allowed_bots) or event.get("subtype") not in {*USER_SUBTYPES, BOT_SUBTYPE}:
            return None
    elif event.get("subtype") not in USER_SUBTYPES or not event.get("user"):
        return None
    if event.get("hidden"):
        return None
    team = str(context.get("team_id") or body.get("team_id") or event.get("team") or "")
    channel, ts = str(event.get("channel", "")), str(event.get("ts", ""))
    if not (team and channel and ts):
        return None
    text = to_agent_text(str(event.get("text") or ""), context.get("bot_user_id"))
    return IncomingMessage(
        thread=ThreadKey(team, channel, str(event.get("thread_ts") or ts)),
        ts=ts,
        user=sender(event),
        text=text,
        event_id=str(body.get("event_id") or ""),
        addressed=addressed,
        quote_thread=addressed,
        files=shared_files(event),
    )
