"""Block parsing of a growing answer from its remembered closed blocks gives the tokens a parse of the
whole text gives, whatever the text grows by, and whatever other answer begins the same way."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it.token import Token

from bot.render import _tokenizer
from bot.render._tokenizer import parse_blocks

# Lines that open, continue, interrupt or end every kind of block markdown-it knows here.
LINES = [
    "", " ", "word and more", "text", "-", "- item", "* item", "+ item", "1. one", "2. two", "1) x", "10.",
    "1", "2", "  indented two", "   three", "    code four", "\tcode tab", "```", "```py", "~~~", "> quote",
    ">", "# heading", "#", "#x", "---", "***", "===", "___", "| a | b |", "|---|---|", "| 1 | 2 |",
    "<div>", "</div>", "<!-- c", "-->", "<pre>", "</pre>", "[ref]: https://x.io", "[ref]", "- [ ] task",
]  # fmt: skip

documents = st.lists(st.sampled_from(LINES), min_size=1, max_size=25).map("\n".join)


def shape(tokens: list[Token]) -> list[tuple[object, ...]]:
    return [
        (t.type, t.tag, t.nesting, t.level, t.map, t.content, t.markup, t.info, t.block, t.hidden, t.attrs)
        for t in tokens
    ]


def whole(markdown: str) -> list[Token]:
    return _tokenizer._blocks.parse(markdown, {})


@pytest.fixture(autouse=True)
def forget() -> Iterator[None]:
    _tokenizer._parsed_blocks.cache_clear()
    _tokenizer._closed.clear()
    yield
    _tokenizer._parsed_blocks.cache_clear()
    _tokenizer._closed.clear()


def frames(markdown: str, steps: int) -> list[str]:
    """The texts a stream of ``markdown`` shows as it grows, in ``steps`` deltas."""
    size = max(1, len(markdown) // steps)
    return [markdown[:end] for end in range(size, len(markdown) + size, size)]


@settings(max_examples=400, deadline=None)
@given(documents, st.integers(min_value=1, max_value=40))
def test_a_growing_answer_parses_as_the_whole_does(markdown: str, steps: int) -> None:
    for text in frames(markdown, steps):
        assert shape(parse_blocks(text)) == shape(whole(text)), repr(text)


@settings(max_examples=400, deadline=None)
@given(documents, documents, documents)
def test_answers_that_begin_alike_do_not_borrow_each_others_blocks(head: str, one: str, other: str) -> None:
    """Two answers with the same first characters: what one remembered must not mislead the other."""
    first, second = f"{head}\n\n{one}", f"{head}\n\n{other}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_tokenizer, "_HEAD", 1)  # every answer here begins alike
        for text in [*frames(first, 7), *frames(second, 5), first, second]:
            assert shape(parse_blocks(text)) == shape(whole(text)), repr(text)


def test_a_long_answer_is_parsed_from_its_closed_blocks_on() -> None:
    """The point of remembering: the next frame parses only its last block, not the whole answer."""
    closed = "".join(f"Paragraph {i} of the answer, which is closed.\n\n" for i in range(50))
    parse_blocks(closed + "The last paragraph, still")
    parsed: list[str] = []
    real = _tokenizer._blocks.parse

    def spy(markdown: str, env: MutableMapping[str, Any] | None = None) -> list[Token]:
        parsed.append(markdown)
        return real(markdown, env)

    _tokenizer._blocks.parse = spy  # type: ignore[method-assign,assignment]
    try:
        tokens = parse_blocks(closed + "The last paragraph, still growing.")
    finally:
        _tokenizer._blocks.parse = real  # type: ignore[method-assign]
    assert parsed == ["The last paragraph, still growing."]
    assert tokens[-3].map == [100, 101] and len(tokens) == 51 * 3
