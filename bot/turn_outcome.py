"""The outcome a turn works toward, as the thread shows it, and the pure fold of outcome events into it.

A turn started by ``user.define_outcome`` carries an ``OutcomeState`` from the start (the bridge knows what it
asked for); the stream then reports grading (``OutcomeGrading``) and verdicts (``OutcomeVerdict``). Events
of another outcome than the one held start a fresh state; events without an ``iteration`` (older streams)
are numbered by counting verdicts.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bot.qoder import OutcomeDefined, OutcomeGrading, OutcomeVerdict

OutcomeEvent = OutcomeDefined | OutcomeGrading | OutcomeVerdict


class OutcomeState(BaseModel):
    """An outcome and its evaluation so far.

    ``iteration`` is the 0-based evaluation under way (``grading``) or last judged; ``verdicts`` counts the
    evaluations that ended; ``result`` is the last verdict (None before the first), ``explanation`` the
    grader's words for it. ``max_iterations`` is None when neither the bridge nor the stream said.
    """

    model_config = ConfigDict(frozen=True)
    description: str = ""
    outcome_id: str | None = None
    max_iterations: int | None = None
    iteration: int = 0
    verdicts: int = 0
    grading: bool = False
    result: str | None = None
    explanation: str = ""

    @property
    def final(self) -> bool:
        """A verdict after which no further evaluation follows (anything but ``needs_revision``)."""
        return self.result is not None and self.result != "needs_revision"

    def as_defined(self) -> OutcomeState:
        """This outcome before any evaluation: what was asked, without what the grader said."""
        return OutcomeState(
            description=self.description, outcome_id=self.outcome_id, max_iterations=self.max_iterations
        )


def advance(outcome: OutcomeState | None, event: OutcomeEvent) -> OutcomeState:
    """The outcome after ``event``. Pure."""
    current = _same(outcome, event.outcome_id)
    if isinstance(event, OutcomeDefined):
        return current.model_copy(
            update={
                "description": current.description or event.description,
                "outcome_id": current.outcome_id or event.outcome_id,
                "max_iterations": current.max_iterations or event.max_iterations,
            }
        )
    if isinstance(event, OutcomeGrading):
        iteration = event.iteration
        if iteration is None:
            iteration = current.iteration if current.grading else current.verdicts
        return current.model_copy(update={"iteration": iteration, "grading": True, **_id(current, event)})
    iteration = event.iteration
    if iteration is None:
        iteration = current.iteration if current.grading else current.verdicts
    return current.model_copy(
        update={
            "iteration": iteration,
            "verdicts": current.verdicts + 1,
            "grading": False,
            "result": event.result,
            "explanation": event.explanation,
            **_id(current, event),
        }
    )


def _same(outcome: OutcomeState | None, outcome_id: str | None) -> OutcomeState:
    """``outcome`` if ``outcome_id`` can be its own, else a fresh state for that other outcome."""
    if outcome is None:
        return OutcomeState(outcome_id=outcome_id)
    if outcome_id is not None and outcome.outcome_id is not None and outcome_id != outcome.outcome_id:
        return OutcomeState(outcome_id=outcome_id)
    return outcome


def _id(current: OutcomeState, event: OutcomeGrading | OutcomeVerdict) -> dict[str, str | None]:
    return {"outcome_id": current.outcome_id or event.outcome_id}
