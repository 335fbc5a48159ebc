"""Properties of conversion, splitting and rendering over generated Markdown."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import SlackMessage, markdown_to_mrkdwn, render_turn, split_pieces
from bot.render.mrkdwn import is_fence_line
from bot.turn import TextItem, ToolItem, TurnState

SPECIAL_TOKEN = re.compile(r"<[!@#]")
BARE_BROADCAST = re.compile(r"(?<!\w)@(?:channel|here|everyone)\b", re.IGNORECASE)
OUR_LINK = re.compile(r"<(?:https?://|mailto:|slack://)[^<>\s]*(?:\|[^<>]*)?>")
ENTITY = re.compile(r"&(?:amp|lt|gt);")

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
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


def assert_valid_messages(messages: list[SlackMessage]) -> None:
    assert messages
    for message in messages:
        assert 0 < len(message.text) <= 3900
        assert len(message.blocks) <= 50
        assert fence_count(message.text) % 2 == 0
        for block in message.blocks:
            if block["type"] == "section":
                assert 0 < len(block["text"]["text"]) <= 3000
                assert fence_count(block["text"]["text"]) % 2 == 0
        for text in strings(message.payload()):
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
states = st.builds(
    TurnState,
    items=st.lists(st.one_of(tools, texts), max_size=6).map(tuple),
    thinking=st.booleans(),
    phase=st.sampled_from(["running", "done", "stopped", "failed", "needs_action", "terminated"]),
    stop_reason=st.sampled_from([None, "end_turn", "max_tokens", "<!channel>"]),
    error=st.sampled_from([None, "It broke @here & <!everyone>."]),
    notice=st.sampled_from([None, "Retrying <@U1>"]),
    credits=st.sampled_from([None, 0.0, 4.63]),
    started_at=st.sampled_from([None, 0.0]),
    ended_at=st.sampled_from([None, 130.0]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states, st.sampled_from([None, "stop-value"]))
def test_rendered_turns_are_valid_and_harmless(state: TurnState, stop_value: str | None) -> None:
    messages = render_turn(state, stop_value=stop_value, now=10.0)
    assert_valid_messages(messages)
    actions = [b for m in messages for b in m.blocks if b["type"] == "actions"]
    if stop_value and not state.finished:
        assert len(actions) == 1 and actions[0] in messages[-1].blocks
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
