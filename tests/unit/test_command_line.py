"""``/qoder`` text → commands, and the short answers bad input gets."""

from __future__ import annotations

import pytest

from bot.slack.command_line import (
    Help,
    ListSessions,
    New,
    SetConfig,
    ShowConfig,
    Status,
    Stop,
    UsageError,
    parse,
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("  HELP ", Help()),
        ("list", ListSessions()),
        ("status", Status()),
        ("stop 2", Stop(2)),
        ("stop #12", Stop(12)),
        ("config", ShowConfig()),
        ("config agent agent_9", SetConfig(agent_id="agent_9")),
        ("config env env_1", SetConfig(environment_id="env_1")),
        ("config environment default", SetConfig(environment_id="")),
        ("config reset", SetConfig(agent_id="", environment_id="")),
        ("config --agent agent_a --env=env_b", SetConfig(agent_id="agent_a", environment_id="env_b")),
        ("new fix the flaky test", New("fix the flaky test")),
        ("NEW   fix it", New("fix it")),
        ("new fix it --agent agent_a", New("fix it", agent_id="agent_a")),
        ("new --env env_b fix it", New("fix it", environment_id="env_b")),
        ("new fix --agent=agent_a it", New("fix it", agent_id="agent_a")),
        (
            'new fix the login test --outcome "CI is green and nothing else changed" --env env_x',
            New("fix the login test", environment_id="env_x", outcome="CI is green and nothing else changed"),
        ),
        ("new fix it --outcome 'tests pass'", New("fix it", outcome="tests pass")),
        (
            "new fix it —outcome “tests pass” –agent agent_a",
            New("fix it", agent_id="agent_a", outcome="tests pass"),
        ),
        ('new --outcome="all green" fix it', New("fix it", outcome="all green")),
        ('new "don\'t touch the --agent flag docs"', New("don't touch the --agent flag docs")),
        ("new don't break the build", New("don't break the build")),
        ("new run pytest --lf and fix what fails", New("run pytest --lf and fix what fails")),
        (
            "new --agent agent_a -- --outcome is a word here",
            New("--outcome is a word here", agent_id="agent_a"),
        ),
        ("new first line\nsecond  line", New("first line\nsecond  line")),
        ('new say "hi" and "bye"', New('say "hi" and "bye"')),
    ],
)
def test_commands(text: str, command: object) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("frobnicate now", "`/qoder frobnicate` isn't a command"),
        ("new", "Tell me what to do"),
        ("new   --agent agent_a", "Tell me what to do"),
        ("new fix it --agent", "`--agent` needs a value"),
        ("new fix it --agent --env env_b", "`--agent` needs a value"),
        ('new fix it --outcome "never closed', "opens a quote that never closes"),
        ("new fix it --agent a b --agent c", "`--agent` is given twice"),
        ("new fix it --agent 'not an id'", "`not an id` doesn't look like an agent id"),
        ("new fix it --env ../etc", "doesn't look like an environment id"),
        ("new fix it --outcome ''", "`--outcome` needs a text"),
        ("new fix it --outcome " + "x" * 2001, "at most 2000 characters"),
        ("stop", "Which one?"),
        ("stop two", "`two` isn't a session number"),
        ("stop 0", "`0` isn't a session number"),
        ("stop 1 2", "isn't a session number"),
        ("config agent", "Give one value"),
        ("config colour blue", "Use `/qoder config`"),
        ("config --outcome x", "Use `/qoder config`"),
        ("config agent bad/id", "doesn't look like an agent id"),
    ],
)
def test_bad_input_gets_a_short_answer(text: str, answer: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse(text)
    assert answer in str(raised.value)
    assert len(str(raised.value)) < 220
