"""The little state needed on top of ``parse_frame``: linking previews to the message that completes them.

Current streams key a preview and its final ``agent.message`` by the same id, so they need nothing here.
Two legacy shapes do not: M-era raw streams (§3.7) key the preview by ``message_id`` while the final
``agent.message`` has only its own event id, and CLI-era ``delta:true`` chunks (§3.8) each have an id of
their own. ``StreamDecoder`` remembers the open legacy preview and stamps the next complete
``agent.message`` with ``preview_id``, so the fold can replace the preview instead of adding a second copy.
"""

from __future__ import annotations

from dataclasses import replace

from bot.qoder.events import (
    AgentMessage,
    MessageDelta,
    MessagePreviewStart,
    QoderEvent,
    StatusIdle,
    Terminated,
    ToolUse,
)


class StreamDecoder:
    """Feed events in stream order; get them back, legacy previews linked. One instance per event sequence."""

    def __init__(self) -> None:
        self._open: str | None = None  # key of the open legacy preview (raw message id or first chunk id)

    def feed(self, event: QoderEvent) -> QoderEvent:
        """Return ``event``, with ``preview_id`` / a missing raw ``message_id`` filled in where needed."""
        if isinstance(event, MessagePreviewStart):
            # Only raw M-era starts are events of their own (id set); current event_start frames are not.
            self._open = event.message_id if event.id is not None else None
        elif isinstance(event, MessageDelta):
            if not event.message_id and self._open:  # §3.7: index/message_id may be missing; use the open one
                return replace(event, message_id=self._open)
        elif isinstance(event, AgentMessage):
            if event.delta:
                if self._open is None:
                    self._open = event.id
            else:
                preview, self._open = self._open, None
                if preview and preview != event.id:
                    return replace(event, preview_id=preview)
        elif isinstance(event, ToolUse | StatusIdle | Terminated):
            self._open = None
        return event
