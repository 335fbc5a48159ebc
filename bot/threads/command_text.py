"""The ``!`` commands people type in a thread or a DM, read from a message's text. Pure.

A message is a command when it starts with ``!`` and a word (case does not matter; punctuation right after
the word is allowed): ``!stop``, ``!status``, ``!new [task]``, ``!outcome <what done looks like>`` and
``!help``. Any other ``!word`` asks for the help: it never reaches the agent. ``!!text`` is no command: the
agent gets ``!text``. Everything else — including ``!`` followed by a space or a digit — is a message for
the agent, unchanged.

``!outcome "<criteria>" <task>`` (straight or curly quotes) gives the criteria and, after them, the task the
outcome's turn starts with; without quotes all of the text is the criteria, and the task is the criteria.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORDS = ("stop", "status", "new", "outcome", "help")

_COMMAND = re.compile(r"!(?P<word>[A-Za-z][A-Za-z0-9_-]*)[.!?,;:]*(?P<rest>\s.*)?", re.DOTALL)
_QUOTED = re.compile(r"[\"“”](?P<criteria>[^\"“”]*)[\"“”](?P<task>.*)", re.DOTALL)


@dataclass(frozen=True)
class Stop:
    """``!stop``: interrupt the thread's running turn."""


@dataclass(frozen=True)
class Status:
    """``!status``: how the thread's session is doing."""


@dataclass(frozen=True)
class New:
    """``!new [task]``: archive the thread's session and start afresh (with ``task``, when given)."""

    task: str = ""


@dataclass(frozen=True)
class Help:
    """``!help``, or a ``!word`` that is no command (``unknown``)."""

    unknown: str = ""


@dataclass(frozen=True)
class Outcome:
    """``!outcome``: work until a grader finds ``criteria`` met. ``task`` is what the turn starts with."""

    criteria: str
    task: str = ""

    @property
    def description(self) -> str:
        """What the agent is asked to produce: the task, or the criteria when no task was given."""
        return self.task or self.criteria


@dataclass(frozen=True)
class ForAgent:
    """Not a command: ``text`` goes to the agent."""

    text: str


Command = Stop | Status | New | Help
Parsed = Command | Outcome | ForAgent


def parse(text: str) -> Parsed:
    """What ``text`` (a message as the agent would read it) asks for."""
    stripped = text.strip()
    if stripped.startswith("!!"):
        return ForAgent(stripped[1:])
    match = _COMMAND.fullmatch(stripped)
    if match is None:
        return ForAgent(text)
    word, rest = match["word"].lower(), (match["rest"] or "").strip()
    if word == "stop":
        return Stop()
    if word == "status":
        return Status()
    if word == "new":
        return New(rest)
    if word == "outcome":
        quoted = _QUOTED.fullmatch(rest)
        if quoted is not None:
            return Outcome(quoted["criteria"].strip(), quoted["task"].strip())
        return Outcome(rest)
    if word == "help":
        return Help()
    return Help(unknown=match["word"])


def outcome_text(criteria: str, task: str = "") -> str:
    """The message text that ``parse`` reads as ``Outcome(criteria, task)``, both stripped, with the
    criteria's double quotes made single."""
    criteria = criteria.replace('"', "'").replace("“", "'").replace("”", "'").strip()
    task = task.strip()
    return f'!outcome "{criteria}" {task}' if task else f"!outcome {criteria}"


def as_message(text: str) -> str:
    """The message text that ``parse`` reads as ``ForAgent(text)`` (stripped, when it starts with ``!``): a
    text that would read as a command or an outcome gets its ``!`` doubled."""
    if parse(text) == ForAgent(text):
        return text
    return "!" + text.strip()
