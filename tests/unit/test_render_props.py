"""Properties of conversion, splitting and rendering over generated Markdown."""

from __future__ import annotations

import html
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from bot.render import SlackMessage, render_turn
from bot.render._cut import is_fence_line, split_markdown, split_pieces
from bot.render._mrkdwn import _convert, _join, markdown_to_mrkdwn
from bot.render._safety import safe_markdown
from bot.turn import TextItem, ToolItem, TurnState, awaiting

SPECIAL_TOKEN = re.compile(r"<[!@#]")
BARE_BROADCAST = re.compile(r"(?<!\w)@(?:channel|here|everyone)\b", re.IGNORECASE)
OUR_LINK = re.compile(r"<(?:https?://|mailto:|slack://)[^<>\s]*(?:\|[^<>]*)?>")
ENTITY = re.compile(r"&(?:amp|lt|gt);")
ESCAPED = re.compile(r"\\\\([!-/:-@\\[-`{-~])")

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

words = st.sampled_from(
    [
        "word", "<", ">", "&", "&amp;", "<!channel>", "<!here>", "<@U123>", "<#C1>", "<!subteam^S1>",
        "@channel", "@here", "@everyone", "**bold**", "_it_", "~~s~~", "`code`", "``", "```", "日本語",
        "émoji 🎉", "[link](https://x.io/?a=1&b=<2>)", "[bad](javascript:x)", "<https://a.b>", "|", "*", "\\",
        "x" * 120, "https://example.com/@here",
    ]
)  # fmt: skip
line = st.lists(words, min_size=1, max_size=12).map(" ".join)
paragraph = st.lists(line, min_size=1, max_size=4).map("\n".join)
code_line = st.one_of(line, st.text(max_size=200), st.just(""), st.just("x" * 900))
fence = st.tuples(st.sampled_from(["", "python", "sh", "json"]), st.lists(code_line, max_size=30)).map(
    lambda t: f"```{t[0]}\n" + "\n".join(t[1]) + "\n```"
)
bullets = st.lists(line, min_size=1, max_size=5).map(lambda items: "\n".join(f"- {i}" for i in items))
numbered = st.lists(line, min_size=1, max_size=5).map(
    lambda items: "\n".join(f"{n}. {i}" for n, i in enumerate(items, 1))
)
quote = paragraph.map(lambda p: "\n".join(f"> {ln}" for ln in p.split("\n")))
heading = line.map(lambda text: f"## {text}")
long_line = st.integers(1, 400).map(lambda n: "lorem ipsum " * n)
table = st.lists(st.tuples(words, words), min_size=1, max_size=5).map(
    lambda rows: "| a | b |\n|---|---|\n" + "\n".join(f"| {x} | {y} |" for x, y in rows)
)
block = st.one_of(paragraph, fence, bullets, numbered, quote, heading, long_line, table, st.just("---"))
markdown = st.lists(block, max_size=12).map("\n\n".join)


def fence_count(text: str) -> int:
    return sum(is_fence_line(ln) for ln in text.split("\n"))


def strings(value: Any) -> list[str]:
    """Every string Slack shows in a payload: all but a button's value, which only comes back on a click."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        button = value.get("type") == "button"
        return [s for k, v in value.items() if not (button and k == "value") for s in strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


def assert_cannot_ping_as_markdown(text: str) -> None:
    """No token or broadcast in the Markdown, nor in what it shows once entities and escapes are decoded."""
    for view in (text, ESCAPED.sub(r"\1", html.unescape(text))):
        assert not SPECIAL_TOKEN.search(view), text
        assert not BARE_BROADCAST.search(view), text


def assert_valid_messages(messages: list[SlackMessage]) -> None:
    assert messages
    for message in messages:
        assert 0 < len(message.text) <= 3900
        assert len(message.blocks) <= 50
        assert fence_count(message.text) % 2 == 0
        markdown = [b["text"] for b in message.blocks if b["type"] == "markdown"]
        assert sum(map(len, markdown)) <= 11_000
        for text in markdown:
            assert text.strip()
            assert_cannot_ping_as_markdown(text)
        for block in message.blocks:
            if block["type"] == "section":
                assert 0 < len(block["text"]["text"]) <= 3000
                assert fence_count(block["text"]["text"]) % 2 == 0
        mrkdwn = strings([message.text, [b for b in message.blocks if b["type"] != "markdown"]])
        for text in mrkdwn:
            assert not SPECIAL_TOKEN.search(text), text
            assert not BARE_BROADCAST.search(text), text
            assert "<" not in OUR_LINK.sub("", text), text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdown, st.integers(80, 1500))
def test_split_keeps_everything_within_limits(source: str, limit: int) -> None:
    mrkdwn = markdown_to_mrkdwn(source)
    pieces = split_pieces(mrkdwn, limit)
    assert "".join(p.body for p in pieces) == mrkdwn  # nothing lost or repeated
    position = 0
    for index, piece in enumerate(pieces):
        assert len(piece.text) <= limit
        assert fence_count(piece.text) % 2 == 0
        assert piece.reopen == "" or is_fence_line(piece.reopen.removesuffix("\n"))
        assert piece.close == "" or is_fence_line(piece.close.removeprefix("\n"))
        # Removing the added fence lines gives the body back, less the newlines the cut fell on.
        assert piece.text.removeprefix(piece.reopen).removesuffix(piece.close) == piece.body.rstrip("\n")
        assert bool(piece.reopen) == (index > 0 and bool(pieces[index - 1].close))
        if index < len(pieces) - 1:
            assert piece.text.strip()
        position += len(piece.body)
        for token in (*ENTITY.finditer(mrkdwn), *OUR_LINK.finditer(mrkdwn)):
            if len(token.group()) < limit // 4:
                assert not token.start() < position < token.end(), (token.group(), position)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab `>\n&<;é", max_size=3000), st.integers(16, 400))
def test_split_any_text(text: str, limit: int) -> None:
    pieces = split_pieces(text, limit)
    assert "".join(p.body for p in pieces) == text
    for piece in pieces:
        assert len(piece.text) <= limit
        assert fence_count(piece.text) % 2 == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdown)
def test_conversion_is_safe(source: str) -> None:
    out = markdown_to_mrkdwn(source)
    assert fence_count(out) % 2 == 0
    assert not SPECIAL_TOKEN.search(out)
    assert not BARE_BROADCAST.search(out)
    assert "<" not in OUR_LINK.sub("", out)


markdownish = st.text(alphabet="ab -*_>#`~|\n\r\t1.[]():=\\<", max_size=400)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(markdown, markdownish))
def test_converting_block_by_block_is_converting_the_whole(source: str) -> None:
    assert markdown_to_mrkdwn(source) == _join(_convert(source)).strip("\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdown)
def test_markdown_for_blocks_cannot_ping(source: str) -> None:
    assert_cannot_ping_as_markdown(safe_markdown(source))


plain_words = st.sampled_from(
    ["word", "**bold**", "_it_", "`code`", "[link](https://x.io)", "日本語", "|", "*"]
)
plain_block = st.one_of(
    st.lists(plain_words, min_size=1, max_size=8).map(" ".join),
    st.lists(st.text(alphabet="ab {}();=", max_size=40), max_size=5).map(
        lambda lines: "```py\n" + "\n".join(lines) + "\n```"
    ),
    st.lists(plain_words, min_size=1, max_size=3).map(lambda w: "- " + "\n- ".join(w)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(plain_block, max_size=8).map("\n\n".join))
def test_markdown_with_nothing_to_neutralise_is_kept(source: str) -> None:
    assert safe_markdown(source) == source


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdown, st.integers(80, 1500))
def test_markdown_split_keeps_everything_within_limits(source: str, limit: int) -> None:
    source = source.replace("\r\n", "\n").replace("\r", "\n")  # as the renderer passes it
    pieces = split_markdown(source, limit)
    assert "".join(p.body for p in pieces) == source  # nothing lost or repeated
    for index, piece in enumerate(pieces):
        assert len(piece.text) <= limit
        assert piece.text.removeprefix(piece.reopen).removesuffix(piece.close) == piece.body.rstrip("\n")
        assert bool(piece.reopen) <= (index > 0)
        if index < len(pieces) - 1:
            assert piece.text.strip()
    # A cut inside a code block closes and reopens it: the pieces show the same code as the whole (unless
    # a fence's opening line is too long to repeat).
    lines = source.split("\n")
    fences = [t for t in MD.parse(source) if t.type == "fence" and t.map]
    if all(len(lines[t.map[0]]) <= limit // 4 for t in fences if t.map):
        assert "".join(code_shown(p.text) for p in pieces) == code_shown(source)


def code_shown(markdown: str) -> str:
    return "".join(t.content for t in MD.parse(markdown) if t.type == "fence").replace("\n", "")


code_line_text = st.text(alphabet="ab <>&`~*#\t", max_size=60).filter(
    lambda ln: ln.strip()[:3] not in ("```", "~~~")
)
code_lines = st.lists(code_line_text, min_size=1, max_size=80)


FENCES = [("```", "", "```"), ("~~~~ sh", "", "~~~~"), ("> ```", "> ", "> ```"), ("- ```", "  ", "  ```")]


@settings(max_examples=200, deadline=None)
@given(code_lines, st.sampled_from([*FENCES, ("1. ```js", "   ", "   ```")]), st.integers(40, 400))
def test_code_cut_anywhere_stays_code(lines: list[str], fence: tuple[str, str, str], limit: int) -> None:
    opener, indent, closer = fence
    source = f"{opener}\n" + "".join(f"{indent}{line}\n" for line in lines) + f"{closer}\n"
    shown = []
    for piece in split_markdown(source, limit):
        fences = [t for t in MD.parse(piece.text) if t.type == "fence"]
        assert len(fences) <= 1, piece.text  # no stray fence opened by a cut
        shown.append(fences[0].content if fences else "")
    # Cuts fall between lines or, in a line longer than the room, inside it: the code reads the same.
    assert "".join(shown).replace("\n", "") == "".join(lines).replace("\n", "")


tools = st.builds(
    ToolItem,
    id=st.text(min_size=1, max_size=5),
    name=st.sampled_from(["Bash", "Read", "Grep", "WebFetch", "mystery", "@channel <!here>"]),
    input=st.dictionaries(st.sampled_from(["command", "file_path", "pattern", "url", "x"]), line, max_size=3),
    server=st.sampled_from([None, "github", "<!channel>"]),
    status=st.sampled_from(["running", "done", "failed", "waiting"]),
)
texts = st.builds(
    TextItem, id=st.text(min_size=1, max_size=5), text=markdown, partial=st.booleans(), aborted=st.booleans()
)


def _with_pending(state: TurnState) -> TurnState:
    """A paused turn waits on its waiting tools, as the stream's pause names them."""
    if state.phase != "needs_action":
        return state
    waiting = tuple(i.id for i in state.items if isinstance(i, ToolItem) and i.status == "waiting")
    return state.model_copy(update={"pending_action_ids": waiting})


states = st.builds(
    TurnState,
    items=st.lists(st.one_of(tools, texts), max_size=6, unique_by=lambda item: item.id).map(tuple),
    thinking=st.booleans(),
    phase=st.sampled_from(["running", "done", "stopped", "failed", "needs_action", "terminated"]),
    stop_reason=st.sampled_from([None, "end_turn", "max_tokens", "<!channel>"]),
    error=st.sampled_from([None, "It broke @here & <!everyone>."]),
    notice=st.sampled_from([None, "Retrying <@U1>"]),
    credits=st.sampled_from([None, 0.0, 4.63]),
    started_at=st.sampled_from([None, 0.0]),
    ended_at=st.sampled_from([None, 130.0]),
).map(_with_pending)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states, st.sampled_from([None, "stop-value"]))
def test_rendered_turns_are_valid_and_harmless(state: TurnState, stop_value: str | None) -> None:
    messages = render_turn(state, stop_value=stop_value, now=10.0)
    assert_valid_messages(messages)
    actions = [b for m in messages for b in m.blocks if b["type"] == "actions"]
    if stop_value and state.phase == "needs_action" and awaiting(state):
        assert len(actions) == len(awaiting(state))  # one prompt per call a person may decide
    elif stop_value and not state.finished:
        assert len(actions) == 1 and actions[0] in messages[-1].blocks  # the Stop button
    else:
        assert actions == []


# Blocks that never merge with what follows them, so the text grows by appending only.
appendable = st.one_of(paragraph, fence, heading, long_line)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(appendable, min_size=2, max_size=40))
def test_appending_text_keeps_earlier_messages(blocks: list[str]) -> None:
    previous: list[SlackMessage] = []
    for count in range(1, len(blocks) + 1):
        state = TurnState(items=(TextItem(id="m", text="\n\n".join(blocks[:count]), partial=True),))
        messages = render_turn(state, stop_value="v")
        stable = max(0, len(previous) - 2)
        assert messages[:stable] == previous[:stable]
        previous = messages
