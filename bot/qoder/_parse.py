"""Qoder wire events → typed events (``bot.qoder.events``). Pure: no I/O, no state (see ``_previews``).

``parse_frame(event, data, sse_id)`` never raises: keep-alives, ``[DONE]`` and malformed JSON give None,
event types the bridge does not act on give ``Unknown``. Every tolerance rule of qoder-api.md §7 is
applied here so that nothing downstream sees wire variants.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from bot.qoder._parse_outcome import OUTCOME_PARSERS
from bot.qoder._wire import content_text, count, number, string, timestamp
from bot.qoder.events import (
    AgentMessage,
    AgentThinking,
    ArtifactDelivered,
    MessageDelta,
    MessagePreviewStart,
    ModelRequestEnd,
    QoderEvent,
    RetryStatus,
    SessionError,
    StatusIdle,
    StatusRunning,
    StreamError,
    Terminated,
    ThinkingPreviewStart,
    ToolConfirmation,
    ToolResult,
    ToolUse,
    Unknown,
    Usage,
    UserInterrupt,
    UserMessage,
)

__all__ = ["content_text", "parse_event", "parse_frame"]

log = logging.getLogger(__name__)


_KEEPALIVES = frozenset({"heartbeat", "ping"})


def parse_frame(event: str, data: str, sse_id: str | None) -> QoderEvent | None:
    """One SSE frame → event. ``event`` is the ``event:`` field (httpx-sse gives ``message`` when absent),
    ``sse_id`` the frame's own ``id:`` (None/"" when it had none)."""
    if event in _KEEPALIVES:
        return None
    stripped = data.strip()
    if not stripped or stripped == "[DONE]":  # §3.5: [DONE] is a clean end of the connection, not an event
        return None
    try:
        obj = json.loads(stripped)
    except ValueError:
        log.debug("ignoring a frame with malformed JSON (event %r, id %r)", event, sse_id)
        return None
    if not isinstance(obj, dict):
        log.debug("ignoring a frame whose data is not a JSON object (event %r, id %r)", event, sse_id)
        return None
    return parse_event(obj, event=event, sse_id=sse_id)


def parse_event(
    obj: Mapping[str, Any], *, event: str | None = None, sse_id: str | None = None
) -> QoderEvent | None:
    """A decoded event object (from the stream or List Events) → event; see ``parse_frame``."""
    # §7 #34: type = data.type ?? sse.event; id = data.id ?? sse.id
    kind = string(obj.get("type")) or (event if event and event != "message" else "") or ""
    if kind in _KEEPALIVES:
        return None
    sse_id = sse_id or None
    if kind == "event_start":
        return _event_start(obj, sse_id)
    if kind == "event_delta":
        return _event_delta(obj, sse_id)
    if kind == "error" or event == "error":
        return _stream_error(obj, sse_id)
    event_id = string(obj.get("id")) or sse_id
    base: dict[str, Any] = {
        "id": event_id,
        "cursor": sse_id or event_id,
        "processed_at": timestamp(obj.get("processed_at", obj.get("created_at"))),
    }
    parser = _PARSERS.get(kind)
    if parser is None:
        return Unknown(type=kind, data=obj, **base)
    return parser(obj, kind, base)


# --- buffered events --------------------------------------------------------------------------------


def _user_message(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    return UserMessage(text=content_text(obj.get("content")), **base)


def _user_interrupt(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    return UserInterrupt(**base)


def _tool_confirmation(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    # §7 #21: current {result: allow|deny}; O-era CN {decision: approve|deny}
    allowed = obj.get("result") == "allow" or obj.get("decision") == "approve"
    return ToolConfirmation(
        tool_use_id=string(obj.get("tool_use_id")) or "",
        allowed=allowed,
        deny_message=string(obj.get("deny_message")) or "",
        **base,
    )


def _agent_message(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    return AgentMessage(text=content_text(obj.get("content")), delta=obj.get("delta") is True, **base)


def _agent_thinking(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    return AgentThinking(**base)


def _tool_use(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    # §7 #20: name = name ?? tool_name; input = input ?? tool_input; key = tool_use_id ?? id
    raw_input = obj.get("input", obj.get("tool_input"))
    if isinstance(raw_input, dict):
        tool_input = dict(raw_input)
    else:
        tool_input = {} if raw_input is None else {"input": raw_input}
    permission = string(obj.get("evaluated_permission"))
    if permission is None and obj.get("requires_confirmation") is True:  # O-era CN list-events shape
        permission = "ask"
    return ToolUse(
        tool_use_id=string(obj.get("tool_use_id")) or base["id"],
        name=string(obj.get("name")) or string(obj.get("tool_name")) or "tool",
        input=tool_input,
        server=string(obj.get("mcp_server_name")),
        permission=permission,
        custom=kind == "agent.custom_tool_use",
        **base,
    )


def _tool_result(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    key = (
        string(obj.get("tool_use_id"))
        or string(obj.get("mcp_tool_use_id"))
        or string(obj.get("custom_tool_use_id"))
    )
    if "content" in obj:
        text = content_text(obj.get("content"))
    else:  # O-era quickstart: {"output": "..."}
        output = obj.get("output")
        text = output if isinstance(output, str) else ("" if output is None else json.dumps(output))
    return ToolResult(tool_use_id=key, text=text, is_error=obj.get("is_error") is True, **base)


def _artifact_delivered(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    return ArtifactDelivered(
        file_id=string(obj.get("file_id")) or "",
        filename=string(obj.get("original_filename")) or string(obj.get("filename")) or "",
        content_type=string(obj.get("content_type")) or "",
        size=count(obj.get("size")),
        **base,
    )


def _model_request_end(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    # §7 #17: model_usage is {credits} (observed) or token counts (SDK types) or absent; all optional
    usage = obj.get("model_usage")
    credits = number(usage.get("credits")) if isinstance(usage, dict) else None
    return ModelRequestEnd(credits=credits, is_error=obj.get("is_error") is True, **base)


def _status_running(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    return StatusRunning(**base)


def _status_idle(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    # §4.6: stop_reason may be an object, a bare string, or missing (O-era) → end_turn
    reason = obj.get("stop_reason")
    stop = "end_turn"
    event_ids: Any = None
    if isinstance(reason, str) and reason:
        stop = reason
    elif isinstance(reason, dict):
        stop = string(reason.get("type")) or "end_turn"
        event_ids = reason.get("event_ids")
        nested = reason.get("requires_action")
        if event_ids is None and isinstance(nested, dict):  # §7 #15: Anthropic wording
            event_ids = nested.get("event_ids")
    ids = tuple(i for i in event_ids if isinstance(i, str)) if isinstance(event_ids, list) else ()
    return StatusIdle(stop_reason=stop, event_ids=ids, **base)


def _session_error(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    error = obj.get("error")
    if isinstance(error, dict):
        retry = error.get("retry_status")
        retry_type = string(retry.get("type")) if isinstance(retry, dict) else string(retry)
        return SessionError(
            error_type=string(error.get("type")) or string(error.get("code")) or "unknown_error",
            message=string(error.get("message")) or "",
            retry_status=_retry_status(retry_type),
            **base,
        )
    # §4.7 legacy {"error": "<message>", "code": "<code>"} → exhausted
    return SessionError(
        error_type=string(obj.get("code")) or "unknown_error",
        message=string(error) or string(obj.get("message")) or "",
        retry_status="exhausted",
        **base,
    )


def _terminated(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    deleted = kind == "session.deleted"
    return Terminated(
        reason=string(obj.get("reason")) or ("deleted" if deleted else ""), deleted=deleted, **base
    )


def _usage(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    usage = obj.get("usage")
    credits = None
    if isinstance(usage, dict):
        credits = number(usage.get("total_credits"))
        if credits is None:
            credits = number(usage.get("credits"))
    return Usage(credits=credits, **base)


# --- M-era raw incremental events (§3.7), keyed by their message_id ---------------------------------


def _raw_message_id(obj: Mapping[str, Any]) -> str:
    message = obj.get("message")
    nested = string(message.get("id")) if isinstance(message, dict) else None
    return string(obj.get("message_id")) or nested or ""


def _raw_message_start(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    return MessagePreviewStart(message_id=_raw_message_id(obj), **base)


def _raw_block_start(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    block = obj.get("content_block")
    block_type = block.get("type") if isinstance(block, dict) else None
    if block_type == "thinking":
        return ThinkingPreviewStart(**base)
    if block_type == "text" and isinstance(block, dict):
        return MessageDelta(
            message_id=_raw_message_id(obj), index=_index(obj), text=string(block.get("text")) or "", **base
        )
    return Unknown(type=kind, data=obj, **base)


def _raw_block_delta(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    delta = obj.get("delta")
    if isinstance(delta, dict) and delta.get("type") == "text_delta":
        return MessageDelta(
            message_id=_raw_message_id(obj), index=_index(obj), text=string(delta.get("text")) or "", **base
        )
    # thinking_delta, signature_delta, input_json_delta: nothing to show
    return Unknown(type=kind, data=obj, **base)


def _index(obj: Mapping[str, Any]) -> int:
    index = obj.get("index")
    return index if isinstance(index, int) and index >= 0 else 0


_PARSERS = {
    "user.message": _user_message,
    "user.interrupt": _user_interrupt,
    "user.tool_confirmation": _tool_confirmation,
    "user.custom_tool_result": _tool_result,
    "user.tool_result": _tool_result,
    "agent.message": _agent_message,
    "agent.thinking": _agent_thinking,
    "agent.tool_use": _tool_use,
    "agent.mcp_tool_use": _tool_use,
    "agent.custom_tool_use": _tool_use,
    "agent.tool_result": _tool_result,
    "agent.mcp_tool_result": _tool_result,
    "agent.artifact_delivered": _artifact_delivered,
    "span.model_request_end": _model_request_end,
    "session.status_running": _status_running,
    "session.status_rescheduled": _status_running,
    "rescheduled": _status_running,
    "session.status_idle": _status_idle,
    "session.error": _session_error,
    "session.status_terminated": _terminated,
    "terminated": _terminated,
    "session.deleted": _terminated,
    "session.usage": _usage,
    "agent.message_start": _raw_message_start,
    "agent.content_block_start": _raw_block_start,
    "agent.content_block_delta": _raw_block_delta,
    **OUTCOME_PARSERS,
}


# --- stream-only preview frames (§3.6): no event id of their own ------------------------------------


def _event_start(obj: Mapping[str, Any], sse_id: str | None) -> QoderEvent:
    inner = obj.get("event")
    inner = inner if isinstance(inner, dict) else {}
    message_id = string(inner.get("id")) or sse_id or ""
    cursor = sse_id or message_id or None
    if inner.get("type") == "agent.thinking":
        return ThinkingPreviewStart(cursor=cursor)
    if inner.get("type") == "agent.message":
        return MessagePreviewStart(message_id=message_id, cursor=cursor)
    return Unknown(type="event_start", data=obj, cursor=cursor)


def _event_delta(obj: Mapping[str, Any], sse_id: str | None) -> QoderEvent:
    message_id = string(obj.get("event_id")) or sse_id or ""
    delta = obj.get("delta")
    delta = delta if isinstance(delta, dict) else {}
    content = delta.get("content")
    text = string(content.get("text")) if isinstance(content, dict) else None
    index = delta.get("index")
    return MessageDelta(
        message_id=message_id,
        index=index if isinstance(index, int) and index >= 0 else 0,
        text=text or "",
        cursor=sse_id or message_id or None,
    )


def _stream_error(obj: Mapping[str, Any], sse_id: str | None) -> QoderEvent:
    error = obj.get("error")
    error = error if isinstance(error, dict) else {}
    return StreamError(
        error_type=string(error.get("type")) or "error",
        message=string(error.get("message")) or "",
        cursor=sse_id,
    )


def _retry_status(value: str | None) -> RetryStatus:
    if value == "retrying":
        return "retrying"
    if value == "terminal":
        return "terminal"
    return "exhausted"  # §7 #16: default when missing
