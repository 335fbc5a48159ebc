"""What the use cases need of the layers below them: the Qoder calls and the relay, as protocols.

``QoderClient`` and ``Relay`` implement them; unit tests pass in-memory fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from bot.models import TurnRecord
from bot.qoder import OutcomeSpec, QoderEvent, Session


class QoderSessions(Protocol):
    """The Qoder calls of the use cases; each raises the typed ``QoderError`` subclasses."""

    async def ping(self) -> None: ...

    async def create_session(
        self,
        *,
        agent: str,
        environment_id: str,
        title: str,
        metadata: dict[str, str],
        idempotency_key: str,
        outcome: OutcomeSpec | None = None,
    ) -> Session: ...

    async def get_session(self, session_id: str) -> Session: ...

    async def archive(self, session_id: str) -> Session: ...

    async def send_message(
        self,
        session_id: str,
        text: str,
        *,
        idempotency_key: str,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> str: ...

    async def define_outcome(self, session_id: str, outcome: OutcomeSpec, *, idempotency_key: str) -> str: ...

    def list_events(
        self, session_id: str, *, after_id: str | None = None, limit: int = 100
    ) -> AsyncIterator[QoderEvent]: ...

    async def interrupt(self, session_id: str, *, idempotency_key: str) -> None: ...

    async def confirm_tool(
        self, session_id: str, tool_use_id: str, *, allow: bool, idempotency_key: str, deny_message: str = ""
    ) -> str: ...

    async def custom_tool_result(
        self, session_id: str, tool_use_id: str, *, text: str, is_error: bool, idempotency_key: str
    ) -> str: ...


class QoderFiles(Protocol):
    """Qoder's Files API and session resources, for the files people share."""

    async def upload_file(
        self, filename: str, data: bytes, mime_type: str, *, idempotency_key: str
    ) -> str: ...

    async def add_resource(self, session_id: str, file_id: str, *, idempotency_key: str) -> str: ...


class TurnRelay(Protocol):
    """Follows running turns into Slack."""

    @property
    def active_sessions(self) -> list[str]: ...

    def is_relaying(self, session_id: str) -> bool: ...

    def start(self, turn: TurnRecord) -> None: ...

    async def continue_paused(self, turn: TurnRecord) -> None: ...
