"""The persisted form of the records, derived from their dataclass fields with pydantic.

``Codec(Record)`` turns a record into compact JSON with sorted keys (equal records give equal strings, and
the text is what earlier versions wrote field by field) and into plain field values for table columns,
and reads both back. Reading raises ``ValueError`` on anything malformed; a missing field that has a
default takes it, and unknown keys (fields since removed) are ignored.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from bot.models import ChannelDefaults, PendingQuestion, QueuedMessage, SessionRecord, TurnRecord

__all__ = ["CHANNEL_DEFAULTS", "MESSAGE", "QUESTION", "SESSION", "TURN", "Codec"]

R = TypeVar("R")

# JSON-schema types of fields that a table keeps as JSON text rather than as a plain column value.
_STRUCTURED = frozenset({"array", "object"})


class Codec(Generic[R]):
    """JSON and column values of one record dataclass."""

    def __init__(self, record_type: type[R]) -> None:
        if not dataclasses.is_dataclass(record_type):
            raise TypeError(f"{record_type!r} is not a dataclass")
        self._adapter: TypeAdapter[R] = TypeAdapter(record_type)
        self.fields: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(record_type))
        properties: dict[str, Any] = self._adapter.json_schema()["properties"]
        self.structured: frozenset[str] = frozenset(
            name for name, schema in properties.items() if schema.get("type") in _STRUCTURED
        )

    def to_json(self, record: R) -> str:
        return json.dumps(self.to_values(record), separators=(",", ":"), sort_keys=True, ensure_ascii=False)

    def from_json(self, text: str | bytes) -> R:
        """Strict: every value must already have its field's JSON type (a number for a float, and so on)."""
        return self._adapter.validate_json(text, strict=True)

    def to_values(self, record: R) -> dict[str, Any]:
        """Field name → JSON-compatible value (a thread key as its string, a list as a list)."""
        values: dict[str, Any] = self._adapter.dump_python(record, mode="json")
        return values

    def from_values(self, values: Mapping[str, object]) -> R:
        """Inverse of ``to_values``, lenient where a database column is: 0/1 for a boolean, an int for a float."""
        return self._adapter.validate_python(dict(values))


SESSION = Codec(SessionRecord)
TURN = Codec(TurnRecord)
MESSAGE = Codec(QueuedMessage)
CHANNEL_DEFAULTS = Codec(ChannelDefaults)
QUESTION = Codec(PendingQuestion)
