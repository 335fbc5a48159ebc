"""An outcome's evaluation in words: the lines a running turn shows, the verdict on a finished turn's summary
line, and the task card of a native stream. Every string returned is safe mrkdwn (or, for the card, safe
plain text)."""

from __future__ import annotations

from bot.render._limits import (
    OUTCOME_DESCRIPTION_LIMIT,
    OUTCOME_EXPLANATION_LIMIT,
    STOP_REASON_LIMIT,
    truncate,
)
from bot.render._safety import safe_plain, safe_text
from bot.turn_outcome import OutcomeState

OUTCOME_EMOJI = ":dart:"
GRADING_EMOJI = ":hourglass_flowing_sand:"

# result → (emoji, how the thread says it); anything else reads as the result's own name
VERDICTS = {
    "satisfied": (":white_check_mark:", "satisfied"),
    "needs_revision": (":repeat:", "needs revision"),
    "max_iterations_reached": (":x:", "not met: max iterations reached"),
    "failed": (":warning:", "failed"),
    "interrupted": (":octagonal_sign:", "interrupted"),
}


def iteration_text(outcome: OutcomeState) -> str:
    """``iteration 2 of 3`` (1-based), or ``iteration 2`` when the limit is unknown."""
    shown = outcome.iteration + 1
    return (
        f"iteration {shown} of {outcome.max_iterations}" if outcome.max_iterations else f"iteration {shown}"
    )


def running_lines(outcome: OutcomeState) -> list[str]:
    """What a running turn shows of its outcome: what it works toward, then how grading stands."""
    lines = [f"{OUTCOME_EMOJI} Outcome{_quoted(outcome)}"]
    if outcome.grading:
        lines.append(f"{GRADING_EMOJI} Grading ({iteration_text(outcome)})…")
    elif outcome.result == "needs_revision":
        lines.append(f"{VERDICTS['needs_revision'][0]} Needs revision ({iteration_text(outcome)}); revising…")
    elif outcome.result is not None:
        said = safe_text(_said(outcome.result).capitalize())
        lines.append(f"{_emoji(outcome.result)} {said} ({iteration_text(outcome)})")
    if outcome.explanation and not outcome.grading:
        lines.append(grader_line(outcome))
    return lines


def verdict(outcome: OutcomeState) -> str:
    """The outcome on a finished turn's summary line, e.g. ``:dart: Outcome “…” :white_check_mark: satisfied
    (iteration 2 of 3)``."""
    head = f"{OUTCOME_EMOJI} Outcome{_quoted(outcome)}"
    if outcome.result is None:
        return f"{head} not graded"
    return f"{head} {_emoji(outcome.result)} {safe_text(_said(outcome.result))} ({iteration_text(outcome)})"


def status_line(outcome: OutcomeState) -> str:
    """The outcome on one line wherever it is looked up: being graded, or its last verdict."""
    if outcome.grading:
        return (
            f"{OUTCOME_EMOJI} Outcome{_quoted(outcome)} {GRADING_EMOJI} grading ({iteration_text(outcome)})"
        )
    return verdict(outcome)


def grader_line(outcome: OutcomeState) -> str:
    """The grader's explanation of the last verdict, on one line (empty when there is none)."""
    if not outcome.explanation:
        return ""
    text = truncate(" ".join(outcome.explanation.split()), OUTCOME_EXPLANATION_LIMIT)
    return f"_Grader:_ {safe_text(text)}"


def card_title(outcome: OutcomeState) -> str:
    """The title of the native stream's outcome card (safe plain text)."""
    if outcome.grading:
        return safe_plain(f"Grading the outcome ({iteration_text(outcome)})")
    if outcome.result is None:
        return safe_plain("Outcome not graded yet")
    return safe_plain(f"Outcome {_said(outcome.result)} ({iteration_text(outcome)})")


def _quoted(outcome: OutcomeState) -> str:
    description = " ".join(outcome.description.split())
    return f" “{safe_text(truncate(description, OUTCOME_DESCRIPTION_LIMIT))}”" if description else ""


def _emoji(result: str) -> str:
    return VERDICTS.get(result, (":grey_question:", ""))[0]


def _said(result: str) -> str:
    """How the thread says ``result`` (raw text: escape it for where it goes)."""
    known = VERDICTS.get(result)
    return known[1] if known else truncate(" ".join(result.replace("_", " ").split()), STOP_REASON_LIMIT)
