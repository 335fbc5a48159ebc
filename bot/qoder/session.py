"""The Qoder session as the bridge needs to see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SessionStatus = Literal["running", "idle", "canceling", "terminated"]

# §5.1: every status spelling of every era → the four states a client acts on; unknown → running (poll)
_STATUS: dict[str, SessionStatus] = {
    "running": "running",
    "processing": "running",
    "rescheduling": "running",
    "idle": "idle",
    "canceling": "canceling",
    "terminated": "terminated",
    "cancelled": "terminated",
}


@dataclass(frozen=True)
class Session:
    """A session: ``status`` normalised (§5.1), ``archived`` from ``archived_at``, ``credits`` from
    ``usage.total_credits`` and ``active_seconds`` from ``stats`` (None when not reported), and the ids of
    the outcomes defined on it (``outcome_evaluations``)."""

    id: str
    status: SessionStatus = "idle"
    title: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    archived: bool = False
    credits: float | None = None
    active_seconds: float | None = None
    outcome_ids: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Session:
        """Build from a Session object as returned by create/get (tolerant of missing fields)."""
        raw_metadata = data.get("metadata")
        metadata = (
            {str(k): str(v) for k, v in raw_metadata.items() if v is not None}
            if isinstance(raw_metadata, dict)
            else {}
        )
        usage = data.get("usage")
        credits = None
        if isinstance(usage, dict):
            credits = _number(usage.get("total_credits", usage.get("credits")))
        stats = data.get("stats")
        active = stats.get("active_seconds") if isinstance(stats, dict) else None
        evaluations = data.get("outcome_evaluations")
        outcome_ids = tuple(
            str(item["outcome_id"])
            for item in (evaluations if isinstance(evaluations, list) else [])
            if isinstance(item, dict) and isinstance(item.get("outcome_id"), str)
        )
        status = data.get("status")
        title = data.get("title")
        return cls(
            id=str(data.get("id") or ""),
            status=_STATUS.get(status, "running") if isinstance(status, str) else "running",
            title=title if isinstance(title, str) else "",
            metadata=metadata,
            archived=bool(data.get("archived_at")) or status == "archived",
            credits=credits,
            active_seconds=_number(active),
            outcome_ids=outcome_ids,
        )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
