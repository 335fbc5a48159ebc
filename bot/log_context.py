"""Which thread, session and turn the current task works for, for the log lines it writes.

The use cases and the relay ``bind`` what they know as soon as they know it; every log record made in the
same task (and in tasks it starts afterwards, which copy the context) carries those ids. A task that lives
longer than one piece of work (a planner, a reader loop) calls ``clear`` first so it carries none.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType

from bot.models import ThreadKey

FIELDS = ("team", "channel", "thread", "session", "turn")

_EMPTY: Mapping[str, str] = MappingProxyType({})
_bound: ContextVar[Mapping[str, str]] = ContextVar("qoder_slack_log_fields", default=_EMPTY)


def bind(**fields: str) -> None:
    """Add ``fields`` (names from ``FIELDS``; empty values are skipped) to the current task's log ids."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log fields: {sorted(unknown)}")
    merged = {**_bound.get(), **{name: value for name, value in fields.items() if value}}
    _bound.set(MappingProxyType(merged))


def bind_thread(thread: ThreadKey) -> None:
    """The current task works for ``thread``; ids of another thread bound earlier are dropped."""
    _bound.set(MappingProxyType({"team": thread.team, "channel": thread.channel, "thread": thread.thread_ts}))


def clear() -> None:
    """The current task works for no thread in particular."""
    _bound.set(_EMPTY)


def current() -> Mapping[str, str]:
    """The ids bound in the current task."""
    return _bound.get()
