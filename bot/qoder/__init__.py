"""Qoder Cloud Agents: the HTTP client, typed events and typed errors. All Qoder wire parsing lives here.

Callers import from this package only. Public modules: ``client`` (``QoderClient``), ``events`` (the typed
events), ``errors`` (the typed errors), ``session`` (``Session``), ``outcome`` (``OutcomeSpec``), ``presigned``
(``DownloadLink``, ``DownloadError``). Internals:
``_parse`` and ``_parse_outcome`` (wire frames to events, ``_wire`` reading single values), ``_previews``
(linking previews to the message that completes them), ``_stream`` (the resumable SSE stream), ``_history``
(List Events page by page) and ``_retry`` (what to retry and how long to wait).
"""

from bot.qoder._parse import parse_event, parse_frame
from bot.qoder._previews import StreamDecoder
from bot.qoder.client import QoderClient, idempotency_uuid
from bot.qoder.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QoderError,
    RateLimitedError,
    ServerError,
)
from bot.qoder.events import (
    AgentMessage,
    AgentThinking,
    ArtifactDelivered,
    MessageDelta,
    MessagePreviewStart,
    ModelRequestEnd,
    OutcomeDefined,
    OutcomeGrading,
    OutcomeVerdict,
    QoderEvent,
    SessionError,
    StatusIdle,
    StatusRunning,
    StreamError,
    StreamReconnecting,
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
from bot.qoder.outcome import OutcomeSpec
from bot.qoder.presigned import DownloadError, DownloadLink
from bot.qoder.session import Session, SessionStatus

__all__ = [
    "AgentMessage",
    "AgentThinking",
    "ArtifactDelivered",
    "AuthenticationError",
    "ConflictError",
    "DownloadError",
    "DownloadLink",
    "InvalidRequestError",
    "MessageDelta",
    "MessagePreviewStart",
    "ModelRequestEnd",
    "NetworkError",
    "NotFoundError",
    "OutcomeDefined",
    "OutcomeGrading",
    "OutcomeSpec",
    "OutcomeVerdict",
    "PermissionDeniedError",
    "QoderClient",
    "QoderError",
    "QoderEvent",
    "RateLimitedError",
    "ServerError",
    "Session",
    "SessionError",
    "SessionStatus",
    "StatusIdle",
    "StatusRunning",
    "StreamDecoder",
    "StreamError",
    "StreamReconnecting",
    "Terminated",
    "ThinkingPreviewStart",
    "ToolConfirmation",
    "ToolResult",
    "ToolUse",
    "Unknown",
    "Usage",
    "UserInterrupt",
    "UserMessage",
    "idempotency_uuid",
    "parse_event",
    "parse_frame",
]
