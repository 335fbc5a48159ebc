"""A turn as native stream content: safe Markdown that only grows, task cards, and the footer."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render._cut import closing_fence, open_fence, stream_cut
from bot.render._limits import STREAM_MARKDOWN_LIMIT
from bot.render._safety import safe_plain, safe_stream_markdown
from bot.render._stream import (
    TaskChunk,
    render_stream,
    stream_footer,
)
from bot.turn import TextItem, ToolItem, TurnState

WJ = "\u2060"
ZWSP = "\u200b"
SPECIAL_TOKEN = re.compile(r"<[!@#]")
BARE_BROADCAST = re.compile(r"(?<!\w)@(?:channel|here|everyone)\b", re.IGNORECASE)
NASTY = "<!channel> <!here> <!everyone> <@U123> <#C1> <!subteam^S1> @channel @here @everyone"


def assert_harmless(text: str) -> None:
    assert not SPECIAL_TOKEN.search(text), text
    assert not BARE_BROADCAST.search(text), text


# --- safe_stream_markdown --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "markdown",
    [
        NASTY,
        f"`{NASTY}`",
        f"```\n{NASTY}\n```",
        f"~~~sh\n{NASTY}\n~~~",
        f"> {NASTY}",
        f"- {NASTY}\n  ```\n  {NASTY}\n  ```",
        f"`` {NASTY}",  # a backtick run that is never closed
    ],
)
def test_nothing_pings(markdown: str) -> None:
    assert_harmless(safe_stream_markdown(markdown))


def test_outside_code_angle_brackets_become_entities() -> None:
    assert safe_stream_markdown("a <b> c") == "a &lt;b&gt; c"


def test_inside_code_a_zero_width_space_follows_each_angle_bracket() -> None:
    assert safe_stream_markdown("see `<@U1>`") == f"see `<{ZWSP}@U1>`"
    assert safe_stream_markdown("```\nif a<b>c:\n```") == f"```\nif a<{ZWSP}b>c:\n```"


def test_quote_markers_stay() -> None:
    assert safe_stream_markdown("> quoted <x>\n>> deeper") == "> quoted &lt;x&gt;\n>> deeper"


def test_broadcasts_get_a_word_joiner() -> None:
    assert safe_stream_markdown("hi @here and @channel, mail a@here.com") == (
        f"hi @{WJ}here and @{WJ}channel, mail a@here.com"
    )


def test_text_after_a_closed_code_block_is_text_again() -> None:
    assert safe_stream_markdown("```\n<a>\n```\n<b>") == f"```\n<{ZWSP}a>\n```\n&lt;b&gt;"


def test_safe_plain_breaks_tokens_without_entities() -> None:
    assert safe_plain("<@U1> & @everyone") == f"<{ZWSP}@U1> & @{WJ}everyone"


# --- render_stream: markdown ----------------------------------------------------------------------------


def test_texts_are_joined_by_blank_lines() -> None:
    state = TurnState(items=(TextItem(id="a", text="First."), TextItem(id="b", text="\nSecond.\n")))
    assert render_stream(state).markdown == "First.\n\nSecond."


def test_the_last_word_of_a_preview_is_held_back() -> None:
    state = TurnState(items=(TextItem(id="a", text="Hello @her", partial=True),))
    assert render_stream(state).markdown == "Hello"


def test_a_finished_turn_shows_its_last_word() -> None:
    state = TurnState(items=(TextItem(id="a", text="Hello @here", partial=True),), phase="stopped")
    assert render_stream(state).markdown == f"Hello @{WJ}here"


def test_an_aborted_text_is_marked_and_its_code_block_closed() -> None:
    state = TurnState(items=(TextItem(id="a", text="```py\nx = 1", aborted=True),))
    assert render_stream(state).markdown == "```py\nx = 1\n```\n\n_(cut off)_"


def test_a_finished_turn_without_anything_says_so() -> None:
    assert render_stream(TurnState(phase="done")).markdown == "_No answer._"
    assert render_stream(TurnState()).markdown == ""


# The property a streaming publisher relies on: the markdown of a preview is a prefix of every later one.
words = st.sampled_from(
    [
        "word", "<", ">", "&", "&lt;", "<!channel>", "<@U1>", "@channel", "@here", "@her", "@everyone",
        "@channels", "`", "``", "```", "`code`", "**b**", "> q", "日本語", "a@here.com", "~~~",
    ]
)  # fmt: skip
separators = st.sampled_from([" ", " ", "\n", "\n\n", "\n```\n", "\n> "])
texts = st.lists(st.tuples(words, separators), max_size=40).map(
    lambda parts: "".join(a + b for a, b in parts)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.data())
def test_previews_only_ever_grow(text: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
    views = [
        render_stream(TurnState(items=(TextItem(id="a", text=text[:cut], partial=True),))).markdown
        for cut in cuts
    ]
    views.append(render_stream(TurnState(items=(TextItem(id="a", text=text),), phase="done")).markdown)
    for earlier, later in pairwise(views):
        assert later.startswith(earlier), (earlier, later)
    for view in views:
        assert_harmless(view)


# --- render_stream: tasks and footer --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [("running", "in_progress"), ("done", "complete"), ("failed", "error"), ("waiting", "pending")],
)
def test_tool_status_maps_to_task_status(status: str, expected: str) -> None:
    tool = ToolItem(id="t1", name="Bash", input={"command": "pytest -q"}, status=status, result="42 passed")  # type: ignore[arg-type]
    [task] = render_stream(TurnState(items=(tool,))).tasks
    assert task == TaskChunk(id="t1", title="Bash: pytest -q", status=expected, output="42 passed")  # type: ignore[arg-type]
    assert task.chunk() == {
        "type": "task_update",
        "id": "t1",
        "title": "Bash: pytest -q",
        "status": expected,
        "output": "42 passed",
    }


def test_tasks_know_how_much_text_precedes_them() -> None:
    state = TurnState(
        items=(
            TextItem(id="a", text="Look."),
            ToolItem(id="t1", name="Read", input={"file_path": "a.py"}),
            TextItem(id="b", text="Done."),
            ToolItem(id="t2", name="mcp_tool", server="github", input={}),
        )
    )
    view = render_stream(state)
    assert [(task.title, task.position) for task in view.tasks] == [
        ("Read: a.py", len("Look.")),
        ("github · mcp_tool", len("Look.\n\nDone.")),
    ]
    assert "output" not in view.tasks[0].chunk()


def test_task_fields_are_safe_and_short() -> None:
    tool = ToolItem(id="t1", name=f"x {NASTY}", input={"q": NASTY}, result=NASTY * 20)
    [task] = render_stream(TurnState(items=(tool,))).tasks
    assert_harmless(task.title)
    assert_harmless(task.output)
    assert len(task.title) <= 200
    assert len(task.output) <= 500


def test_footer_only_once_finished() -> None:
    state = TurnState(items=(TextItem(id="a", text="hi"),), started_at=100.0, credits=1.5)
    assert render_stream(state).footer == ""
    ended = state.model_copy(update={"phase": "done", "stop_reason": "end_turn", "ended_at": 172.0})
    assert render_stream(ended).footer == "1m 12s · 1.50 credits"


def test_footer_says_how_an_unusual_turn_ended() -> None:
    stopped = TurnState(phase="stopped", stop_reason="cancelled")
    assert stream_footer(stopped) == ":octagonal_sign: _Stopped._ · stop reason: cancelled"
    failed = TurnState(phase="failed", error=f"Boom {NASTY}")
    assert_harmless(stream_footer(failed))
    assert stream_footer(failed).startswith(":warning: Boom")


# --- helpers for publishers -----------------------------------------------------------------------------


def test_open_fence_and_its_closing_line() -> None:
    assert open_fence("a\n~~~~sh\nx") == "~~~~sh"
    assert open_fence("a\n```py\nx\n```") is None
    assert open_fence("```a`b`") is None  # inline code, not a fence
    assert closing_fence("~~~~sh") == "~~~~"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("aaaa\n\nbbbb\ncc", 12, len("aaaa\n\nbbbb\n")),
        ("aaaa\n\nbbbb cc", 12, len("aaaa\n\nbbbb ")),
        ("x" * 20, 10, 10),
        ("x" * 8 + "&lt;", 10, 8),
        ("abc", 0, 0),
    ],
)
def test_stream_cut(text: str, limit: int, expected: int) -> None:
    assert stream_cut(text, limit) == expected


def test_markdown_limit_is_slacks() -> None:
    assert STREAM_MARKDOWN_LIMIT == 12_000
