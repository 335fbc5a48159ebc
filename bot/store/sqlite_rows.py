"""Table rows of the records: one column per dataclass field, named after it, in field order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Generic, TypeVar

from bot.store.serialize import CHANNEL_DEFAULTS, MESSAGE, QUESTION, SESSION, TURN, Codec

__all__ = [
    "CHANNEL_DEFAULTS_COLUMNS",
    "MESSAGE_COLUMNS",
    "QUESTION_COLUMNS",
    "SESSION_COLUMNS",
    "TURN_COLUMNS",
    "Columns",
]

R = TypeVar("R")


class Columns(Generic[R]):
    """How a record is written to and read from the columns named after its fields.

    Plain values (text, numbers, null, booleans as 0/1) are stored as they are; lists and objects as
    compact JSON text. A table may have further columns (keys, or values derived for indexing), which
    the queries name themselves.
    """

    def __init__(self, codec: Codec[R]) -> None:
        self._codec = codec
        self.names: tuple[str, ...] = codec.fields
        self.sql = ", ".join(self.names)
        self.marks = ", ".join("?" for _ in self.names)

    def values(self, record: R) -> tuple[object, ...]:
        """The column values of ``record``, in the order of ``names``."""
        fields = self._codec.to_values(record)
        return tuple(
            json.dumps(fields[name], separators=(",", ":"))
            if name in self._codec.structured
            else fields[name]
            for name in self.names
        )

    def record(self, row: Sequence[object]) -> R:
        """Inverse of ``values``; ``ValueError`` when the row does not hold a valid record."""
        fields = dict(zip(self.names, row, strict=True))
        for name in self._codec.structured:
            text = fields[name]
            if not isinstance(text, str):
                raise ValueError(f"column {name!r} must hold JSON text")
            fields[name] = json.loads(text)
        return self._codec.from_values(fields)


SESSION_COLUMNS = Columns(SESSION)
TURN_COLUMNS = Columns(TURN)
MESSAGE_COLUMNS = Columns(MESSAGE)
CHANNEL_DEFAULTS_COLUMNS = Columns(CHANNEL_DEFAULTS)
QUESTION_COLUMNS = Columns(QUESTION)
