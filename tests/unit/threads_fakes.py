"""In-memory stand-ins for what the use cases call: a Qoder client and a relay, recording every call."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.models import TurnRecord
from bot.qoder import OutcomeSpec, QoderError, QoderEvent, Session


@dataclass
class Sent:
    session_id: str
    text: str
    attachments: tuple[dict[str, Any], ...] = ()


@dataclass
class FakeQoderSessions:
    """Answers like Qoder from memory. ``fail(method, *errors)`` makes the next calls of ``method`` raise
    the given errors, in order."""

    sessions: dict[str, Session] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    interrupts: list[str] = field(default_factory=list)
    confirmations: list[tuple[str, str, bool]] = field(default_factory=list)
    tool_results: list[tuple[str, str, str, bool]] = field(default_factory=list)  # session, use, text, error
    deny_messages: list[str] = field(default_factory=list)  # what each denial said, in order
    outcomes: list[tuple[str, OutcomeSpec]] = field(default_factory=list)  # (session id, outcome) defined
    _failures: dict[str, list[QoderError]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _keys: dict[str, str] = field(default_factory=dict)  # idempotency key → what it created

    def fail(self, method: str, *errors: QoderError) -> None:
        self._failures.setdefault(method, []).extend(errors)

    def _maybe_fail(self, method: str) -> None:
        failures = self._failures.get(method)
        if failures:
            raise failures.pop(0)

    async def ping(self) -> None:
        self._maybe_fail("ping")

    async def create_session(
        self,
        *,
        agent: str,
        environment_id: str,
        title: str,
        metadata: dict[str, str],
        idempotency_key: str,
        outcome: OutcomeSpec | None = None,
    ) -> Session:
        """A new idle session; ``outcome`` is ignored, as by a server that does not know ``initial_events``."""
        self._maybe_fail("create_session")
        if idempotency_key in self._keys:
            return self.sessions[self._keys[idempotency_key]]
        session = Session(id=f"sesn_{next(self._ids)}", title=title, metadata=metadata)
        self.sessions[session.id] = session
        self._keys[idempotency_key] = session.id
        return session

    async def get_session(self, session_id: str) -> Session:
        self._maybe_fail("get_session")
        return self.sessions[session_id]

    async def archive(self, session_id: str) -> Session:
        self._maybe_fail("archive")
        self.sessions[session_id] = replace(self.sessions[session_id], archived=True)
        return self.sessions[session_id]

    async def define_outcome(self, session_id: str, outcome: OutcomeSpec, *, idempotency_key: str) -> str:
        self._maybe_fail("define_outcome")
        if idempotency_key in self._keys:
            return self._keys[idempotency_key]
        self.outcomes.append((session_id, outcome))
        echo = f"sevt_{next(self._ids)}"
        self._keys[idempotency_key] = echo
        return echo

    async def list_events(
        self, session_id: str, *, after_id: str | None = None, limit: int = 100
    ) -> AsyncIterator[QoderEvent]:
        """No history is kept here."""
        self._maybe_fail("list_events")
        history: tuple[QoderEvent, ...] = ()
        for event in history:
            yield event

    async def send_message(
        self,
        session_id: str,
        text: str,
        *,
        idempotency_key: str,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> str:
        self._maybe_fail("send_message")
        if idempotency_key in self._keys:
            return self._keys[idempotency_key]
        self.sent.append(Sent(session_id, text, tuple(dict(a) for a in attachments)))
        echo = f"sevt_{next(self._ids)}"
        self._keys[idempotency_key] = echo
        return echo

    async def interrupt(self, session_id: str, *, idempotency_key: str) -> None:
        self._maybe_fail("interrupt")
        self.interrupts.append(session_id)

    async def confirm_tool(
        self, session_id: str, tool_use_id: str, *, allow: bool, idempotency_key: str, deny_message: str = ""
    ) -> str:
        self._maybe_fail("confirm_tool")
        self.confirmations.append((session_id, tool_use_id, allow))
        if not allow:
            self.deny_messages.append(deny_message)
        return f"sevt_{next(self._ids)}"

    async def custom_tool_result(
        self, session_id: str, tool_use_id: str, *, text: str, is_error: bool, idempotency_key: str
    ) -> str:
        """Records each answer once per idempotency key, as Qoder replays a repeated key."""
        self._maybe_fail("custom_tool_result")
        if idempotency_key in self._keys:
            return self._keys[idempotency_key]
        self.tool_results.append((session_id, tool_use_id, text, is_error))
        echo = f"sevt_{next(self._ids)}"
        self._keys[idempotency_key] = echo
        return echo


@dataclass
class FakeRelay:
    """Records the turns it is asked to follow; ``finish`` ends one as the real relay would report it."""

    started: list[TurnRecord] = field(default_factory=list)
    continued: list[TurnRecord] = field(default_factory=list)
    running: set[str] = field(default_factory=set)

    @property
    def active_sessions(self) -> list[str]:
        return sorted(self.running)

    def is_relaying(self, session_id: str) -> bool:
        return session_id in self.running

    def start(self, turn: TurnRecord) -> None:
        self.started.append(turn)
        self.running.add(turn.session_id)

    async def continue_paused(self, turn: TurnRecord) -> None:
        self.continued.append(turn)
        self.running.add(turn.session_id)
