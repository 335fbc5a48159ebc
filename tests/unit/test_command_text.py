"""Reading ``!`` commands from a message's text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.threads.command_text import (
    ForAgent,
    Help,
    New,
    Outcome,
    Parsed,
    Status,
    Stop,
    as_message,
    outcome_text,
    parse,
)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("!stop", Stop()),
        ("  !STOP  ", Stop()),
        ("!stop please, now", Stop()),
        ("!stop.", Stop()),
        ("!status", Status()),
        ("!Status?", Status()),
        ("!new", New()),
        ("!new  fix the login bug\nand add a test ", New("fix the login bug\nand add a test")),
        ("!help", Help()),
        ("!help me", Help()),
        ("!frobnicate", Help(unknown="frobnicate")),
        ("!Frob-nicate the thing", Help(unknown="Frob-nicate")),
        ("!outcome", Outcome("")),
        ("!outcome   ", Outcome("")),
        ("!outcome all tests pass", Outcome("all tests pass")),
        ("!outcome: all tests pass", Outcome("all tests pass")),
        ("!outcome\n- tests pass\n- PR open", Outcome("- tests pass\n- PR open")),
        ('!outcome "tests pass" fix the flaky test', Outcome("tests pass", "fix the flaky test")),
        ("!outcome “tests pass” fix it", Outcome("tests pass", "fix it")),
        ('!outcome "tests pass"', Outcome("tests pass")),
        ('!outcome "unclosed quote', Outcome('"unclosed quote')),
    ],
)
def test_commands(text: str, parsed: Parsed) -> None:
    assert parse(text) == parsed


@pytest.mark.parametrize(
    ("text", "for_agent"),
    [
        ("!!stop", "!stop"),
        ("!!hello there", "!hello there"),
        ("  !!outcome x", "!outcome x"),
        ("!!", "!"),
        ("why is CI red?", "why is CI red?"),
        ("! not a command", "! not a command"),
        ("!", "!"),
        ("!123", "!123"),
        ("!?", "!?"),
        ("say !stop", "say !stop"),
        ("*!stop*", "*!stop*"),
        ("!stop-it-now!x", "!stop-it-now!x"),
    ],
)
def test_messages_for_the_agent(text: str, for_agent: str) -> None:
    assert parse(text) == ForAgent(for_agent)


def test_an_outcome_describes_the_task_or_else_its_criteria() -> None:
    assert Outcome("tests pass", "fix it").description == "fix it"
    assert Outcome("tests pass").description == "tests pass"


@given(
    criteria=st.text(min_size=1).filter(lambda s: s.strip()),
    task=st.text(),
)
def test_outcome_text_reads_back_as_the_same_outcome(criteria: str, task: str) -> None:
    parsed = parse(outcome_text(criteria, task))
    assert isinstance(parsed, Outcome)
    expected = criteria.replace('"', "'").replace("“", "'").replace("”", "'").strip()
    assert parsed == Outcome(expected, task.strip())


@given(text=st.text())
def test_as_message_reads_back_as_a_message_with_the_same_text(text: str) -> None:
    parsed = parse(as_message(text))
    assert isinstance(parsed, ForAgent) and parsed.text.strip() == text.strip()
    if not text.lstrip().startswith("!"):
        assert as_message(text) == text, "only a text that starts with ! changes"
