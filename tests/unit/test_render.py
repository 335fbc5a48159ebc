"""Markdown → mrkdwn conversion, neutralisation of pings, turn rendering, and golden payloads."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from bot.render import SlackMessage, escape, render_notice, render_turn
from bot.render._cut import split_markdown, split_mrkdwn
from bot.render._mrkdwn import markdown_to_mrkdwn
from bot.render._safety import safe_markdown
from bot.render._timeline import format_duration, tool_summary
from bot.turn import TextItem, ToolItem, TurnState

WJ = "\u2060"
GOLDEN = Path(__file__).parent.parent / "golden"

# Anything Slack would turn into a ping or command, and bare broadcasts without the word joiner.
SPECIAL_TOKEN = re.compile(r"<[!@#]")
BARE_BROADCAST = re.compile(r"(?<!\w)@(?:channel|here|everyone)\b", re.IGNORECASE)
NASTY = "<!channel> <!here> <!everyone> <@U123> <#C1> <!subteam^S1> @channel @here @everyone"


def strings(value: Any) -> list[str]:
    """Every string inside a payload."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


def assert_harmless(messages: list[SlackMessage]) -> None:
    for message in messages:
        for text in strings(message.payload()):
            assert not SPECIAL_TOKEN.search(text), text
            assert not BARE_BROADCAST.search(text), text
        for block in message.blocks:
            if block["type"] == "markdown":  # and in what it shows, even if Slack decoded entities first
                assert not SPECIAL_TOKEN.search(html.unescape(block["text"])), block
                assert not BARE_BROADCAST.search(html.unescape(block["text"])), block


# --- escape / conversion -------------------------------------------------------------------------------


def test_escape_only_touches_control_characters() -> None:
    assert escape("a & b < c > d \"'*_`") == "a &amp; b &lt; c &gt; d \"'*_`"


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("*it* and _it_", "_it_ and _it_"),
        ("~~gone~~", "~gone~"),
        ("***both***", "_*both*_"),
        ("[label](https://example.com/a?b=1&c=2)", "<https://example.com/a?b=1&amp;c=2|label>"),
        ("[a|b > c](https://x.io)", "<https://x.io|a∣b &gt; c>"),
        ("[x](https://x.io/?q=<y>)", "<https://x.io/?q=%3Cy%3E|x>"),
        ("![diagram](https://x.io/d.png)", "<https://x.io/d.png|diagram>"),
        ("![](https://x.io/d.png)", "<https://x.io/d.png>"),
        ("<https://x.io/page>", "<https://x.io/page>"),
        ("<me@x.io>", "<mailto:me@x.io|me@x.io>"),
        ("[open](slack://channel?id=C1&team=T1)", "<slack://channel?id=C1&amp;team=T1|open>"),
        ("# Title **bold**", "*Title bold*"),
        ("intro\n\n## Sub\ntext", "intro\n\n*Sub*\n\ntext"),
        ("- a\n- b\n  - c\n- d", "• a\n• b\n    • c\n• d"),
        ("1. one\n2. two", "1. one\n2. two"),
        ("3) three\n4) four", "3) three\n4) four"),
        ("- a\n\n- b", "• a\n\n• b"),
        ("> quoted\n> more\n>\n> next", "> quoted\n> more\n>\n> next"),
        ("> outer\n>> inner", "> outer\n>\n> > inner"),
        ("use `x < y` here", "use `x &lt; y` here"),
        ("``a`b``", "`aˋb`"),
        (
            "```python\nif a < b && c:\n    print('>')\n```",
            "```\nif a &lt; b &amp;&amp; c:\n    print('&gt;')\n```",
        ),
        ("    indented\n      code", "```\nindented\n  code\n```"),
        ("```\n```", "```\n```"),
        ("a\n\n---\n\nb", "a\n\n────────────\n\nb"),
        ("<b>bold</b> text", "&lt;b&gt;bold&lt;/b&gt; text"),
        ("<div>\nblock\n</div>", "&lt;div&gt;\nblock\n&lt;/div&gt;"),
        ("line one  \nline two", "line one\nline two"),
        ("soft\nbreak", "soft\nbreak"),
        ("para one\n\npara two", "para one\n\npara two"),
        ("AT&T &amp; 1 < 2", "AT&amp;T &amp; 1 &lt; 2"),
        ("\\*not italic\\*", "*not italic*"),
        ("héllo — 日本語 ✓", "héllo — 日本語 ✓"),
    ],
)
def test_markdown_to_mrkdwn(markdown: str, expected: str) -> None:
    assert markdown_to_mrkdwn(markdown) == expected


def test_fenced_code_is_kept_exactly_and_language_dropped() -> None:
    code = "def f(x):\n\treturn x  # trailing  \n\n\n  weird   spacing*_~\n"
    assert markdown_to_mrkdwn(f"```python\n{code}```") == f"```\n{code}```"


def test_code_inside_list_item_is_not_reindented() -> None:
    assert markdown_to_mrkdwn("- step\n\n  ```sh\n  make\n  ```") == "• step\n\n```\nmake\n```"


def test_code_inside_quote_is_quoted() -> None:
    assert markdown_to_mrkdwn("> ```\n> x\n> ```") == "> ```\n> x\n> ```"


def test_triple_backticks_in_text_cannot_open_a_code_block() -> None:
    out = markdown_to_mrkdwn("~~~\nhas ``` inside\n~~~")
    assert out.count("```") == 2
    assert out.replace("\u200b", "") == "```\nhas ``` inside\n```"


def test_table_becomes_aligned_monospace_block() -> None:
    markdown = "| Name | Qty | Note |\n|:--|--:|:-:|\n| apple | 3 | `<ok>` |\n| kiwi | 12 | x |"
    assert markdown_to_mrkdwn(markdown) == (
        "```\nName  | Qty | Note\n------+-----+-----\napple |   3 | &lt;ok&gt;\nkiwi  |  12 |  x\n```"
    )


def test_table_counts_wide_characters_twice() -> None:
    lines = markdown_to_mrkdwn("| a | b |\n|---|---|\n| 日本 | x |").split("\n")
    assert lines[1:4] == ["a    | b", "-----+--", "日本 | x"]


@pytest.mark.parametrize(
    "markdown",
    [
        "[click](javascript:alert(1))",
        "[click](<!channel>)",
        "[click](data:text/html,hi)",
        "[click](relative/path.py)",
        "[click](ftp://x.io/file)",
    ],
)
def test_only_web_mail_and_slack_urls_become_links(markdown: str) -> None:
    out = markdown_to_mrkdwn(markdown)
    assert "<" not in out
    assert "click" in out


# --- neutralising pings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "markdown",
    [
        NASTY,
        f"`{NASTY}`",
        f"```\n{NASTY}\n```",
        f"[{NASTY}](https://x.io)",
        f"# {NASTY}",
        f"> {NASTY}",
        f"- {NASTY}",
        f"| h |\n|---|\n| {NASTY} |",
        f"<div>{NASTY}</div>",
        "[x](https://x.io/@channel)",
    ],
)
def test_agent_text_cannot_ping(markdown: str) -> None:
    out = markdown_to_mrkdwn(markdown)
    assert not SPECIAL_TOKEN.search(out), out
    assert not BARE_BROADCAST.search(out), out


def test_broadcast_words_get_a_word_joiner() -> None:
    assert markdown_to_mrkdwn("hey @channel, @Here and @everyone!") == (
        f"hey @{WJ}channel, @{WJ}Here and @{WJ}everyone!"
    )
    assert markdown_to_mrkdwn("@channels and me@here.com stay") == "@channels and me@here.com stay"


def test_mentions_are_shown_as_text() -> None:
    assert markdown_to_mrkdwn("<!channel> <@U123>") == "&lt;!channel&gt; &lt;@U123&gt;"


def test_nothing_in_a_rendered_turn_can_ping() -> None:
    state = TurnState(
        items=(
            ToolItem(id="t1", name="Bash", input={"command": f"echo '{NASTY}'"}, status="done"),
            ToolItem(id="t2", name=f"weird {NASTY}", input={"x": NASTY}, status="waiting"),
            TextItem(id="m1", text=f"{NASTY}\n\n`{NASTY}`\n\n[{NASTY}](https://x.io)"),
        ),
        notice=NASTY,
    )
    assert_harmless(render_turn(state, stop_value="s"))
    for phase in ("failed", "terminated", "needs_action", "stopped", "done"):
        finished = state.model_copy(update={"phase": phase, "error": NASTY, "stop_reason": NASTY})
        assert_harmless(render_turn(finished))
    assert_harmless([render_notice(NASTY)])


# --- Markdown for markdown blocks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("## Title\n\n**bold** _it_ ~~s~~ `x` [l](https://x.io)\n\n- a\n  - b\n1. c", None),
        ("| a | b |\n|:--|--:|\n| 1 | 2 |", None),
        ("> quoted\n\n---\n\nAT&T &amp; a * b", None),
        ("```python\nif a < b && c:\n    print('>')\n```", None),
        ("`a < b` and ``x`<y``", None),
        ("a < b > c", "a &lt; b > c"),
        ("<b>bold</b>", "&lt;b>bold&lt;/b>"),
        ("<div>\nblock\n</div>", "&lt;div>\nblock\n&lt;/div>"),
        ("\\<tag> and \\*lit\\*", "&lt;tag> and \\*lit\\*"),
        ("<https://x.io/a_b>", "[https://x.io/a\\_b](https://x.io/a_b)"),
        ("<me@x.io>", "[me@x.io](mailto:me@x.io)"),
        ("&#99;hannel &#x40;x &lt; &#60; &copy;", "channel @x &lt; &lt; &copy;"),
        ("\\`<b>`", "\\`&lt;b>`"),
        ("line\r\nnext", "line\nnext"),
    ],
)
def test_safe_markdown_shows_what_was_written(source: str, expected: str | None) -> None:
    assert safe_markdown(source) == (source if expected is None else expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<!channel> <@U1>", f"&lt;{WJ}!channel> &lt;{WJ}@U1>"),
        ("`<!here> <#C1>`", f"`<{WJ}!here> <{WJ}#C1>`"),
        ("```\n<!subteam^S1>\n```", f"```\n<{WJ}!subteam^S1>\n```"),
        ("hey @channel, @Here and \\@everyone", f"hey @{WJ}channel, @{WJ}Here and \\@{WJ}everyone"),
        ("`@here`", f"`@{WJ}here`"),
        (
            "&lt;!channel&gt; &#60;&#64;U1&#62; &lt;\\!here>",
            f"&lt;{WJ}!channel&gt; &lt;{WJ}@U1&#62; &lt;{WJ}\\!here>",
        ),
        ("&commat;channel &#64;here", f"@{WJ}channel @{WJ}here"),
        ("`&lt;!channel&gt;`", f"`&lt;{WJ}!channel&gt;`"),
        ("<https://x.io/@here>", f"[https://x.io/@{WJ}here](https://x.io/%40here)"),
        ("me@here.com and @channels stay", "me@here.com and @channels stay"),
    ],
)
def test_markdown_blocks_cannot_ping(source: str, expected: str) -> None:
    assert safe_markdown(source) == expected


def test_answer_text_goes_into_markdown_blocks() -> None:
    text = "## Plan\n\n1. **Read** `app.py`\n2. Fix <!here> & [docs](https://x.io)"
    [message] = render_turn(TurnState(items=(TextItem(id="m", text=text),), phase="done"))
    assert message.blocks == (
        markdown(f"## Plan\n\n1. **Read** `app.py`\n2. Fix &lt;{WJ}!here> & [docs](https://x.io)"),
    )
    assert message.text == "*Plan*\n\n1. *Read* `app.py`\n2. Fix &lt;!here&gt; &amp; <https://x.io|docs>"


def test_markdown_split_reopens_code_and_tables() -> None:
    code = "```sh\n" + "".join(f"echo {i}\n" for i in range(40)) + "```\n"
    pieces = split_markdown(code, 200)
    assert len(pieces) > 1
    assert all(p.text.startswith("```sh\n") and p.text.endswith("\n```") for p in pieces)
    assert "".join(p.body for p in pieces) == code
    table = "| n | square |\n|---|---|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(40))
    pieces = split_markdown(table, 200)
    assert len(pieces) > 1
    assert all(p.text.startswith("| n | square |\n|---|---|\n") for p in pieces)
    assert [p.reopen for p in pieces] == ["", *["| n | square |\n|---|---|\n"] * (len(pieces) - 1)]


def test_code_in_a_list_item_is_reopened_at_top_level() -> None:
    source = "1. Run:\n\n   ```\n" + "".join(f"   step {i}\n" for i in range(30)) + "   ```\n2. Done"
    pieces = split_markdown(source, 160)
    assert pieces[0].close == "\n   ```"
    assert pieces[1].reopen == "   ```\n"


def test_markdown_escaping_that_outgrows_a_message_is_cut_again() -> None:
    text = "<" * 3000  # three times longer as mrkdwn (&lt;), four as Markdown (&lt;)
    messages = render_turn(TurnState(items=(TextItem(id="m", text=text),), phase="done"))
    assert len(messages) >= 3
    assert all(len(m.text) <= 3900 for m in messages)
    assert "".join(m.text for m in messages).count("&lt;") == 3000
    shown = [b["text"] for m in messages for b in m.blocks if b["type"] == "markdown"]
    assert "".join(shown) == "&lt;" * 3000


# --- tools ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (ToolItem(id="1", name="Bash", input={"command": "pytest -q\n  tests/"}), "pytest -q tests/"),
        (ToolItem(id="1", name="bash", input={"command": "echo `date`"}), "echo date"),
        (ToolItem(id="1", name="Read", input={"file_path": "/src/app.py"}), "/src/app.py"),
        (ToolItem(id="1", name="Edit", input={"file_path": "a.py", "old_string": "x"}), "a.py"),
        (ToolItem(id="1", name="Write", input={"file_path": "b.py", "content": "..."}), "b.py"),
        (ToolItem(id="1", name="NotebookEdit", input={"notebook_path": "n.ipynb"}), "n.ipynb"),
        (ToolItem(id="1", name="Grep", input={"pattern": "TODO", "path": "src"}), "TODO in src"),
        (ToolItem(id="1", name="Glob", input={"pattern": "**/*.py"}), "**/*.py"),
        (ToolItem(id="1", name="WebFetch", input={"url": "https://x.io"}), "https://x.io"),
        (ToolItem(id="1", name="WebSearch", input={"query": "slack limits"}), "slack limits"),
        (
            ToolItem(id="1", name="create_issue", server="github", input={"title": "x"}),
            "github · create_issue",
        ),
        (ToolItem(id="1", name="Custom", input={"n": 3, "long": "y" * 300, "short": "hi"}), "hi"),
        (ToolItem(id="1", name="Custom", input={"n": 3}), ""),
        (ToolItem(id="1", name="Bash", input={"command": "x" * 200}), "x" * 79 + "…"),
    ],
)
def test_tool_summary(tool: ToolItem, expected: str) -> None:
    assert tool_summary(tool) == expected


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 8.4, 60, 130, 3600, 3725)] == [
        "0s",
        "8s",
        "1m",
        "2m 10s",
        "1h",
        "1h 2m",
    ]


# --- render_turn ---------------------------------------------------------------------------------------

TOOLS = (
    ToolItem(id="t1", name="Bash", input={"command": "pytest -q"}, status="done"),
    ToolItem(id="t2", name="Read", input={"file_path": "src/app.py"}, status="failed"),
    ToolItem(id="t3", name="Grep", input={"pattern": "TODO"}, status="running"),
)


def buttons(messages: list[SlackMessage]) -> list[dict[str, Any]]:
    return [b for m in messages for b in m.blocks if b["type"] == "actions"]


def test_empty_running_turn_shows_status_only() -> None:
    assert render_turn(TurnState()) == [SlackMessage(text="_Working…_", blocks=(context("_Working…_"),))]
    assert render_turn(TurnState(thinking=True))[0].text == "_Thinking…_"


def test_running_turn_shows_timeline_in_stream_order() -> None:
    state = TurnState(
        items=(
            TOOLS[0],
            TextItem(id="m1", text="Tests **fail**."),
            *TOOLS[1:],
            TextItem(id="m2", text="So", partial=True),
        ),
        notice="Retrying the model request.",
    )
    [message] = render_turn(state)
    assert message.text == (
        ":white_check_mark: *Bash* `pytest -q`\n\n"
        "Tests *fail*.\n\n"
        ":x: *Read* `src/app.py`\n"
        ":hourglass_flowing_sand: *Grep* `TODO`\n\n"
        "So\n\n"
        "_Retrying the model request._\n"
        "_Working…_"
    )


def test_aborted_text_is_marked_cut_off() -> None:
    state = TurnState(items=(TextItem(id="m", text="Half a sent", aborted=True),), phase="stopped")
    [message] = render_turn(state)
    assert message.text == "Half a sent\n\n_(cut off)_\n\n:octagonal_sign: _Stopped._"
    assert message.blocks[:2] == (markdown("Half a sent"), context("_(cut off)_"))
    code = TurnState(items=(TextItem(id="m", text="```\nx", aborted=True),))
    assert render_turn(code)[0].text.startswith("```\nx\n```\n\n_(cut off)_")


def test_stop_button_only_while_running() -> None:
    running = TurnState(items=TOOLS)
    [button] = buttons(render_turn(running, stop_value="T1:C1:123"))
    assert button["elements"] == [
        {
            "type": "button",
            "action_id": "qoder_stop",
            "text": {"type": "plain_text", "text": "Stop"},
            "style": "danger",
            "value": "T1:C1:123",
        }
    ]
    assert buttons(render_turn(running)) == []
    for phase in ("done", "stopped", "failed", "needs_action", "terminated"):
        assert buttons(render_turn(running.model_copy(update={"phase": phase}), stop_value="x")) == []


def test_stop_button_is_on_the_last_message_only() -> None:
    long = TurnState(items=(TextItem(id="m", text="word " * 2000),))
    messages = render_turn(long, stop_value="v")
    assert len(messages) > 1
    assert [bool(buttons([m])) for m in messages] == [False] * (len(messages) - 1) + [True]


def test_done_turn_collapses_tools_and_has_footer() -> None:
    state = TurnState(
        items=(*TOOLS[:1], TextItem(id="m1", text="First."), TOOLS[0], TextItem(id="m2", text="Done.")),
        phase="done",
        stop_reason="end_turn",
        credits=4.63,
        started_at=1000.0,
        ended_at=1130.0,
    )
    [message] = render_turn(state)
    assert (
        message.text == ":white_check_mark: Ran 2 tools in 2m 10s\n\nFirst.\n\nDone.\n\n2m 10s · 4.63 credits"
    )
    assert message.blocks == (
        context(":white_check_mark: Ran 2 tools in 2m 10s"),
        markdown("First."),
        markdown("Done."),
        context("2m 10s · 4.63 credits"),
    )


def test_failed_tools_and_unusual_stop_reason() -> None:
    state = TurnState(items=TOOLS, phase="done", stop_reason="max_tokens", started_at=0.0, ended_at=8.0)
    [message] = render_turn(state)
    assert message.text == ":x: Ran 3 tools (1 failed) in 8s\n\n8s · stop reason: max_tokens"


def test_no_tools_no_summary_and_now_stands_in_for_end() -> None:
    state = TurnState(items=(TextItem(id="m", text="Hi"),), phase="done", started_at=0.0)
    assert render_turn(state)[0].text == "Hi"
    assert render_turn(state, now=61.0)[0].text == "Hi\n\n1m 1s"
    assert render_turn(TurnState(phase="done"))[0].text == "_No answer._"


def test_one_tool_is_singular() -> None:
    assert render_turn(TurnState(items=TOOLS[:1], phase="done"))[0].text == ":white_check_mark: Ran 1 tool"


def test_stopped_turn() -> None:
    state = TurnState(items=(*TOOLS, TextItem(id="m", text="Partial")), phase="stopped", interrupted=True)
    [message] = render_turn(state)
    assert message.text == ":x: Ran 3 tools (1 failed)\n\nPartial\n\n:octagonal_sign: _Stopped._"


@pytest.mark.parametrize(
    ("phase", "error", "line"),
    [
        (
            "failed",
            "The model is overloaded & retries ran out.",
            ":warning: The model is overloaded &amp; retries ran out.",
        ),
        ("failed", None, ":warning: The run failed."),
        ("terminated", "The session was deleted.", ":warning: The session was deleted."),
        ("terminated", None, ":warning: The session has ended."),
    ],
)
def test_failed_and_terminated_turns(phase: str, error: str | None, line: str) -> None:
    state = TurnState(items=(TextItem(id="m", text="Trying"),), phase=phase, error=error)  # type: ignore[arg-type]
    assert render_turn(state)[0].text == f"Trying\n\n{line}"


def test_needs_action_names_the_waiting_tools() -> None:
    state = TurnState(
        items=(
            TOOLS[0],
            ToolItem(id="w1", name="Bash", input={"command": "git push"}, status="waiting"),
            ToolItem(id="w2", name="Write", input={"file_path": "x.py"}, status="waiting"),
        ),
        phase="needs_action",
        pending_action_ids=("w1", "w2"),
        stop_reason="requires_action",
    )
    [message] = render_turn(state)
    assert message.text == (
        ":white_check_mark: Ran 1 tool\n\n"
        ":raised_hand: Waiting for your approval to run *Bash* and *Write*.\n\n"
        ":raised_hand: *Bash* wants to run:\n```\ngit push\n```\n\n"
        ':raised_hand: *Write* wants to run:\n```\n{"file_path":"x.py"}\n```\n\n'
        "stop reason: requires_action"
    )


def test_long_turn_is_split_within_limits() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "lorem ipsum " * 40 for i in range(30))
    text += "\n\n```\n" + "\n".join(f"line {i} <x> & y" for i in range(600)) + "\n```"
    state = TurnState(items=(TextItem(id="m", text=text),), phase="done", started_at=0.0, ended_at=5.0)
    messages = render_turn(state)
    assert len(messages) > 3
    for message in messages:
        assert len(message.text) <= 3900
        assert len(message.blocks) <= 50
        blocks = [b["text"] for b in message.blocks if b["type"] == "markdown"]
        assert sum(map(len, blocks)) <= 11_000
        assert all(b.count("```") % 2 == 0 for b in blocks)
        assert message.text.count("```") % 2 == 0
    assert messages[-1].text.endswith("\n\n5s")
    assert all(m.blocks[-1]["type"] != "context" for m in messages[:-1])


def test_split_respects_entities_and_links() -> None:
    text = "&amp;" * 100 + "<https://x.io|" + "y" * 30 + ">" + "&lt;" * 100
    for piece in split_mrkdwn(text, 61):
        assert not re.search(r"&[a-z]*$", piece.rstrip("\n"))
        assert piece.count("<") == piece.count(">")


def test_notice_is_escaped_text() -> None:
    assert render_notice("Queued — I'll send this when the current run ends.").payload() == {
        "text": "Queued — I'll send this when the current run ends."
    }
    assert render_notice("a < b & c").text == "a &lt; b &amp; c"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def markdown(text: str) -> dict[str, Any]:
    return {"type": "markdown", "text": text}


# --- golden payloads -----------------------------------------------------------------------------------

LONG_CODE = (
    "Here is the log:\n\n```text\n"
    + "\n".join(f"{i:04d} INFO worker <{i}> ok & ready" for i in range(160))
    + "\n```\n\nAll fine."
)

GOLDEN_STATES: dict[str, tuple[TurnState, str | None]] = {
    "running": (
        TurnState(
            items=(
                TextItem(id="m1", text="Let me look at the failing test."),
                ToolItem(
                    id="t1", name="Bash", input={"command": "pytest tests/test_pay.py -x"}, status="done"
                ),
                ToolItem(id="t2", name="Read", input={"file_path": "src/pay.py"}, status="running"),
            ),
            thinking=True,
            started_at=1000.0,
        ),
        "T1:C1:1700000000.000100",
    ),
    "done": (
        TurnState(
            items=(
                ToolItem(id="t1", name="Bash", input={"command": "pytest"}, status="done"),
                ToolItem(id="t2", name="Edit", input={"file_path": "src/pay.py"}, status="done"),
                TextItem(
                    id="m1",
                    text="## Fixed\n\nThe refund timed out because `timeout=30` was too low:\n\n"
                    "- raised it to **120s**\n- added a retry\n\n| test | result |\n|---|---|\n| refund | pass |\n",
                ),
            ),
            phase="done",
            stop_reason="end_turn",
            credits=4.63,
            started_at=1000.0,
            ended_at=1130.0,
        ),
        None,
    ),
    "needs_action": (
        TurnState(
            items=(
                ToolItem(id="t1", name="Bash", input={"command": "git push origin fix"}, status="waiting"),
            ),
            phase="needs_action",
            stop_reason="requires_action",
            pending_action_ids=("t1",),
            started_at=1000.0,
            ended_at=1008.0,
        ),
        "T1:C1:1.0",
    ),
    "split_code": (TurnState(items=(TextItem(id="m1", text=LONG_CODE, partial=True),)), "v"),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_STATES))
def test_golden(name: str) -> None:
    state, stop_value = GOLDEN_STATES[name]
    actual = [m.payload() for m in render_turn(state, stop_value=stop_value)]
    path = GOLDEN / f"render_{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert actual == json.loads(path.read_text(encoding="utf-8")), f"regenerate with UPDATE_GOLDEN=1 ({path})"


def test_a_turn_waiting_for_approval_offers_approve_and_deny_for_each_waiting_tool() -> None:
    state = TurnState(
        items=(
            ToolItem(id="t1", name="Bash", input={"command": "rm -rf build"}, status="waiting"),
            ToolItem(id="t2", name="lookup_oncall", input={}, status="running", custom=True),
        ),
        phase="needs_action",
        pending_action_ids=("t1", "t2"),
    )
    messages = render_turn(state, stop_value="T1:C1:1.0")
    actions = [b for m in messages for b in m.blocks if b["type"] == "actions"]
    assert len(actions) == 1, "the custom tool is the bridge's to answer"
    assert [(e["action_id"], e["value"]) for e in actions[0]["elements"]] == [
        ("qoder_approve", "T1:C1:1.0|t1"),
        ("qoder_deny", "T1:C1:1.0|t1"),
        ("qoder_deny_reason", "T1:C1:1.0|t1"),
    ]
    assert (
        render_turn(state.model_copy(update={"phase": "done"}), stop_value="T1:C1:1.0")[-1].blocks[-1]["type"]
        != "actions"
    )
