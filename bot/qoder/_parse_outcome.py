"""Outcome events on the wire → typed events: the ``user.define_outcome`` echo (§4.1) and the
``span.outcome_evaluation_*`` spans (§4.4). Pure; registered in ``_parse``'s table, which applies the
envelope rules of §7 (#31 extras ignored, #34 type and id from the SSE lines) before these run.

Tolerated variants, newest first:

* echo: ``{description, rubric, max_iterations, outcome_id}``; the older catalog's ``{"outcome": "..."}``
  and the O-era request shape ``{content}`` (§2 E1) for the description;
* ``iteration``: a 0-based integer (N-SDK); missing in older recordings — the fold counts then;
* ``result``: a string (N-SDK, N-SKILL) or an object ``{type}`` — read like ``stop_reason`` (§7 #14);
* ``explanation``: a string, or content in any shape §7 #2 allows;
* ``usage``: ``{credits}`` (as ``model_usage``, §7 #17), token counts (N-SDK) or absent — all optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.qoder._wire import content_text, count, number, string
from bot.qoder.events import OutcomeDefined, OutcomeGrading, OutcomeVerdict, QoderEvent

__all__ = ["OUTCOME_PARSERS"]


def _defined(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    description = (
        string(obj.get("description")) or content_text(obj.get("outcome")) or content_text(obj.get("content"))
    )
    return OutcomeDefined(
        outcome_id=string(obj.get("outcome_id")),
        description=description.strip(),
        max_iterations=count(obj.get("max_iterations")),
        **base,
    )


def _grading(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    return OutcomeGrading(
        outcome_id=string(obj.get("outcome_id")),
        iteration=count(obj.get("iteration")),
        first=kind == "span.outcome_evaluation_start",
        **base,
    )


def _verdict(obj: Mapping[str, Any], kind: str, base: dict[str, Any]) -> QoderEvent:
    raw = obj.get("result")
    result = string(raw) or (string(raw.get("type")) if isinstance(raw, dict) else None) or "unknown"
    usage = obj.get("usage")
    credits = number(usage.get("credits")) if isinstance(usage, dict) else None
    return OutcomeVerdict(
        outcome_id=string(obj.get("outcome_id")),
        iteration=count(obj.get("iteration")),
        result=result,
        explanation=content_text(obj.get("explanation")).strip(),
        credits=credits,
        **base,
    )


OUTCOME_PARSERS = {
    "user.define_outcome": _defined,
    "span.outcome_evaluation_start": _grading,
    "span.outcome_evaluation_ongoing": _grading,
    "span.outcome_evaluation_end": _verdict,
}
