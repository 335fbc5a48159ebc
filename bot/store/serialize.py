"""JSON (de)serialisation of the records the stores keep as opaque strings.

Each ``*_to_json`` produces compact JSON with sorted keys, so equal records give equal strings;
each ``*_from_json`` is its inverse and raises ``ValueError`` on anything it did not produce.
"""

from __future__ import annotations

import json
from typing import Any

from bot.models import QueuedMessage, SessionRecord, ThreadKey, TurnRecord


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _loads(text: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON record: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError("not a JSON record: expected an object")
    return value


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"record field {name!r} must be a string")
    return value


def _opt_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"record field {name!r} must be a string or null")
    return value


def _float(data: dict[str, Any], name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"record field {name!r} must be a number")
    return float(value)


def _bool(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise ValueError(f"record field {name!r} must be a boolean")
    return value


def _str_list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"record field {name!r} must be a list of strings")
    return list(value)


def session_to_json(record: SessionRecord) -> str:
    return _dumps(
        {
            "thread": str(record.thread),
            "session_id": record.session_id,
            "created_at": record.created_at,
            "title": record.title,
        }
    )


def session_from_json(text: str | bytes) -> SessionRecord:
    data = _loads(text)
    return SessionRecord(
        thread=ThreadKey.parse(_str(data, "thread")),
        session_id=_str(data, "session_id"),
        created_at=_float(data, "created_at"),
        title=_str(data, "title"),
    )


def turn_to_json(turn: TurnRecord) -> str:
    return _dumps(
        {
            "session_id": turn.session_id,
            "thread": str(turn.thread),
            "cursor": turn.cursor,
            "reply_ts": list(turn.reply_ts),
            "state_json": turn.state_json,
            "active": turn.active,
            "user_ts": turn.user_ts,
            "updated_at": turn.updated_at,
            "user_id": turn.user_id,
            "start_event_id": turn.start_event_id,
        }
    )


def turn_from_json(text: str | bytes) -> TurnRecord:
    data = _loads(text)
    return TurnRecord(
        session_id=_str(data, "session_id"),
        thread=ThreadKey.parse(_str(data, "thread")),
        cursor=_opt_str(data, "cursor"),
        reply_ts=_str_list(data, "reply_ts"),
        state_json=_str(data, "state_json"),
        active=_bool(data, "active"),
        user_ts=_str(data, "user_ts"),
        updated_at=_float(data, "updated_at"),
        user_id=str(data.get("user_id") or ""),
        start_event_id=str(data.get("start_event_id") or ""),
    )


def reply_ts_to_json(reply_ts: list[str]) -> str:
    return json.dumps(list(reply_ts), separators=(",", ":"))


def reply_ts_from_json(text: str) -> list[str]:
    return _str_list({"reply_ts": json.loads(text)}, "reply_ts")


def message_to_json(message: QueuedMessage) -> str:
    return _dumps(
        {
            "thread": str(message.thread),
            "message_ts": message.message_ts,
            "user": message.user,
            "text": message.text,
        }
    )


def message_from_json(text: str | bytes) -> QueuedMessage:
    data = _loads(text)
    return QueuedMessage(
        thread=ThreadKey.parse(_str(data, "thread")),
        message_ts=_str(data, "message_ts"),
        user=_str(data, "user"),
        text=_str(data, "text"),
    )
