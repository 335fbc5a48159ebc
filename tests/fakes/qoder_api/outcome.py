"""Outcomes in the fake: ``user.define_outcome`` checked as Qoder checks it, the outcome a session then works
toward, and the ``span.outcome_evaluation_*`` events grading emits (the :class:`Grade` script step).

From Qoder's outcomes page (docs.qoder.com/cloud-agents/api/sessions/outcomes) and qoder-api.md §2 E1 and
§4.4: ``description`` and ``rubric`` (text ``content`` or a ``file_id``) are required, ``max_iterations`` is
1–20 (default 3); the echo carries a server-made ``outcome_id``; defining an outcome starts a turn with the
description as its input and the session stays running while the grader works; ``needs_revision`` makes the
agent revise without a client event; ``satisfied``, ``failed``, ``max_iterations_reached`` and
``interrupted`` are final; one outcome at a time per session. ``iteration`` is 0-based (the Managed Agents
reference Qoder's wire model copies).

Undocumented choices: a ``user.define_outcome`` while the session runs or another outcome is active is a 409
(as for ``user.message``); the O-era ``outcome`` field is accepted for ``description`` (test doubles accept
older request shapes, §2 E1); a ``needs_revision`` verdict on the last allowed iteration is reported as
``max_iterations_reached``; an interrupt ends an evaluation under way with ``interrupted``, and an outcome
interrupted before any grading gets no span.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from tests.fakes.qoder_api.errors import conflict, invalid
from tests.fakes.qoder_api.session import FakeOutcome, FakeSession, now

DEFAULT_MAX_ITERATIONS = 3
MAX_ITERATIONS = 20
FINAL_RESULTS = frozenset({"satisfied", "failed", "max_iterations_reached", "interrupted"})

Wire = Literal["current", "legacy"]


@dataclass(frozen=True)
class Grade:
    """The grader evaluates the work so far: ``span.outcome_evaluation_start``, ``ongoing`` heartbeats
    ``delay`` apart, then ``span.outcome_evaluation_end`` with ``result`` and ``explanation``.

    ``wire="legacy"`` sends the spans in older frame shapes: JSON without ``id``/``type`` (they stay on the
    SSE lines), the O-era envelope with ``created_at``, no ``iteration``, ``result`` as ``{type}``, the
    explanation as content blocks and token-count usage.
    """

    result: str = "satisfied"
    explanation: str = "Every criterion of the rubric is met."
    ongoing: int = 1
    delay: float | None = None
    wire: Wire = "current"


def check_define_outcome(session: FakeSession, event: dict[str, Any], *, running: bool) -> None:
    """Reject a ``user.define_outcome`` the way Qoder would (400 for its shape, 409 for the session's state)."""
    description = event.get("description", event.get("outcome"))
    if not isinstance(description, str) or not description.strip():
        raise invalid("user.define_outcome needs a non-empty description.")
    rubric = event.get("rubric")
    if not isinstance(rubric, dict):
        raise invalid("user.define_outcome needs a rubric object.")
    if rubric.get("type") == "text":
        if not isinstance(rubric.get("content"), str) or not rubric["content"].strip():
            raise invalid("A text rubric needs non-empty content.")
    elif rubric.get("type") == "file":
        if not isinstance(rubric.get("file_id"), str) or not rubric["file_id"]:
            raise invalid("A file rubric needs a file_id.")
    else:
        raise invalid("rubric.type must be 'text' or 'file'.")
    limit = event.get("max_iterations", DEFAULT_MAX_ITERATIONS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ITERATIONS:
        raise invalid(f"max_iterations must be an integer from 1 to {MAX_ITERATIONS}.")
    if running or session.outcome is not None:
        raise conflict("An outcome is already in progress on this session; wait until it ends.")


def begin_outcome(session: FakeSession, event: dict[str, Any]) -> FakeOutcome:
    """Record an accepted ``user.define_outcome``: its echo and the outcome the session now works toward."""
    description = str(event.get("description", event.get("outcome"))).strip()
    limit = int(event.get("max_iterations", DEFAULT_MAX_ITERATIONS))
    outcome_id = f"outc_{uuid.uuid4().hex}"
    session.append(
        "user.define_outcome",
        description=description,
        rubric=event["rubric"],
        max_iterations=limit,
        outcome_id=outcome_id,
    )
    record: dict[str, Any] = {
        "type": "outcome_evaluation",
        "outcome_id": outcome_id,
        "description": description,
        "iteration": 0,
        "result": None,
        "explanation": None,
        "completed_at": None,
    }
    session.outcome_evaluations.append(record)
    session.outcome = FakeOutcome(outcome_id, description, limit, record)
    return session.outcome


async def grade(session: FakeSession, step: Grade, pace: Callable[[float | None], Awaitable[None]]) -> None:
    """Play one evaluation of the session's outcome (a no-op when none is active)."""
    outcome = session.outcome
    if outcome is None:
        return
    await pace(None)
    start = _span(session, "span.outcome_evaluation_start", step.wire)
    outcome.open_start = start["id"]
    for _ in range(step.ongoing):
        await pace(step.delay)
        _span(session, "span.outcome_evaluation_ongoing", step.wire)
    await pace(step.delay)
    result = step.result
    if result == "needs_revision" and outcome.iteration + 1 >= outcome.max_iterations:
        result = "max_iterations_reached"
    finish(session, result, step.explanation, step.wire)


def finish(session: FakeSession, result: str, explanation: str, wire: Wire = "current") -> None:
    """End the open evaluation (or, with none open, the outcome itself) with ``result``."""
    outcome = session.outcome
    if outcome is None:
        return
    if outcome.open_start is not None:
        usage: dict[str, Any] = {"credits": 0.1}
        if wire == "legacy":
            usage = {"input_tokens": 900, "output_tokens": 120}
        _span(
            session,
            "span.outcome_evaluation_end",
            wire,
            outcome_evaluation_start_id=outcome.open_start,
            result=result,
            explanation=explanation,
            usage=usage,
        )
        outcome.open_start = None
    outcome.record.update(iteration=outcome.iteration, result=result, explanation=explanation)
    if result in FINAL_RESULTS:
        outcome.record["completed_at"] = now()
        session.outcome = None
    else:
        outcome.iteration += 1


def _span(session: FakeSession, type_: str, wire: Wire, **fields: Any) -> dict[str, Any]:
    outcome = session.outcome
    assert outcome is not None
    event: dict[str, Any] = {"outcome_id": outcome.id, "iteration": outcome.iteration, **fields}
    event_id, at = session.new_id(), now()
    legacy: dict[str, Any] | None = None
    if wire == "legacy":
        legacy = {k: v for k, v in event.items() if k != "iteration"}
        if "result" in legacy:
            legacy["result"] = {"type": legacy["result"]}
            legacy["explanation"] = [{"type": "text", "text": legacy["explanation"]}]
        legacy.update(
            created_at=at, session_id=session.id, turn_id=f"turn_{outcome.id[5:]}", schema_version="1.0"
        )
    return session.append_as(type_, legacy, id=event_id, processed_at=at, **event)
