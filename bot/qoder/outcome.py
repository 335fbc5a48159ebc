"""What the bridge asks Qoder to grade a session's work against: ``OutcomeSpec`` and its wire shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_ITERATIONS_DEFAULT = 3  # §2 E1: the documented default
MAX_ITERATIONS_LIMIT = 20  # §2 E1: the documented maximum


@dataclass(frozen=True)
class OutcomeSpec:
    """An outcome: ``description`` (what the agent should produce; defining the outcome starts a turn with it
    as the input), ``rubric`` (the criteria the grader applies, as text) and ``max_iterations`` (evaluations
    before Qoder gives up, 1–20)."""

    description: str
    rubric: str
    max_iterations: int = MAX_ITERATIONS_DEFAULT

    def event(self) -> dict[str, Any]:
        """The ``user.define_outcome`` event (§2 E1), for Send Events or a session's ``initial_events``."""
        return {
            "type": "user.define_outcome",
            "description": self.description,
            "rubric": {"type": "text", "content": self.rubric},
            "max_iterations": max(1, min(self.max_iterations, MAX_ITERATIONS_LIMIT)),
        }
