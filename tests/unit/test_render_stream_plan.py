"""The stream planner: a turn's growing Markdown and task cards laid out over native stream messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import Streamed, TaskChunk, closing_chunks, footer_blocks, plan_appends
from bot.render._cut import open_fence
from bot.render._limits import STREAM_MARKDOWN_LIMIT, STREAM_MESSAGE_LIMIT

WHITESPACE = re.compile(r"\s")


@dataclass
class Message:
    """One stream message: the chunks appended to it, and those it was ended with."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    closing: list[dict[str, Any]] = field(default_factory=list)

    def markdown(self, *, closed: bool = True) -> str:
        chunks = self.chunks + (self.closing if closed else [])
        return "".join(chunk["text"] for chunk in chunks if chunk["type"] == "markdown_text")


@dataclass
class Stream:
    """Does with the plan what the native-stream writer does: append, and end a full message."""

    limit: int
    streamed: Streamed = field(default_factory=Streamed)
    messages: list[Message] = field(default_factory=lambda: [Message()])
    sent_tasks: list[TaskChunk] = field(default_factory=list)

    def show(self, markdown: str, tasks: list[TaskChunk]) -> None:
        """Stream ``markdown`` and the cards among ``tasks`` not sent yet."""
        tasks = [task for task in tasks if task not in self.sent_tasks]
        for append in plan_appends(self.streamed, markdown, tasks, limit=self.limit):
            before = self.streamed
            self.check_append(before, append.streamed, list(append.chunks))
            self.messages[-1].chunks += append.chunks
            self.sent_tasks += append.tasks
            self.streamed = append.streamed
            assert self.streamed.in_message == len(self.messages[-1].markdown(closed=False))
            if append.full:
                self.messages[-1].closing = closing_chunks(self.streamed)
                self.messages.append(Message())
                self.streamed = self.streamed.ended()

    def check_append(self, before: Streamed, after: Streamed, chunks: list[dict[str, Any]]) -> None:
        """The chunks carry the Markdown the append adds, apart from blank space dropped at the top of a new
        message and the line reopening a code block the previous message cut."""
        assert after.markdown.startswith(before.markdown)
        added = after.markdown[len(before.markdown) :]
        text = "".join(chunk["text"] for chunk in chunks if chunk["type"] == "markdown_text")
        opening = open_fence(before.markdown) if before.markdown and not before.in_message else None
        if opening is not None and text:
            assert text.startswith(opening + "\n"), (opening, text)
            text = text.removeprefix(opening + "\n")
        assert WHITESPACE.sub("", text) == WHITESPACE.sub("", added)
        if not before.in_message and text:  # the top of a new message: no blank space, code keeps its indent
            assert not (text.startswith("\n") if opening is not None else text[:1].isspace()), text


@st.composite
def growing(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` as it arrives: a few ever longer prefixes, then all of it."""
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=4)))
    return [text[:cut] for cut in cuts] + [text]


# Lines stay shorter than the smallest limit, so a code block's opening line always fits in a new message.
lines = st.lists(st.text(alphabet="ab `~<>&;", max_size=40), max_size=60)
texts = lines.map("\n".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.integers(48, 300), st.data())
def test_what_is_streamed_is_the_text_within_the_limit(text: str, limit: int, data: st.DataObject) -> None:
    positions = data.draw(st.lists(st.integers(0, len(text)), max_size=4))
    tasks = [
        TaskChunk(id=f"t{n}", title="Bash", status="complete", position=p) for n, p in enumerate(positions)
    ]
    stream = Stream(limit)
    for markdown in data.draw(growing(text)):
        stream.show(markdown, [task for task in tasks if task.position <= len(markdown)])
    assert stream.streamed.markdown == text
    for message in stream.messages:
        assert len(message.markdown(closed=False)) <= limit
        for chunk in message.chunks:
            assert chunk["type"] in ("markdown_text", "task_update")
            assert chunk["type"] != "markdown_text" or 0 < len(chunk["text"]) <= limit
    assert sorted(task.id for task in stream.sent_tasks) == sorted(task.id for task in tasks)  # each once


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 79), max_size=6), st.integers(20, 100))
def test_a_task_card_follows_the_text_before_its_position(positions: list[int], limit: int) -> None:
    text = " ".join(f"w{n:02d}" for n in range(20))
    tasks = [
        TaskChunk(id=f"t{n}", title="Read", status="complete", position=p) for n, p in enumerate(positions)
    ]
    stream = Stream(limit)
    stream.show(text, tasks)
    before = ""
    for chunk in (chunk for message in stream.messages for chunk in message.chunks):
        if chunk["type"] == "markdown_text":
            before += chunk["text"]
        else:
            position = next(task.position for task in tasks if task.id == chunk["id"])
            assert WHITESPACE.sub("", before) == WHITESPACE.sub("", text[:position]), (position, before)


code_line = st.text(alphabet="ab <>&;*#", max_size=50)
paragraph = st.lists(st.sampled_from(["word", "<b>", "&", "*x*", "a" * 30]), min_size=1, max_size=8).map(
    " ".join
)


def fenced(opener: str, lines: list[str]) -> str:
    prefix = "> " if opener.startswith(">") else ""
    marker = opener.lstrip("> ")
    closing = marker[0] * (len(marker) - len(marker.lstrip(marker[0])))
    return "\n".join([opener, *(prefix + line for line in lines), prefix + closing])


fence = st.tuples(
    st.sampled_from(["```", "```py", "~~~", "````sh", "> ```"]), st.lists(code_line, max_size=20)
)
blocks = st.one_of(paragraph, fence.map(lambda f: fenced(*f)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(blocks, max_size=12).map("\n\n".join), st.integers(140, 600))
def test_every_message_closes_the_code_blocks_it_opens(markdown: str, limit: int) -> None:
    # Code lines are shorter than half a message, so a cut falls between them or in a paragraph.
    stream = Stream(limit)
    stream.show(markdown, [])
    for message in stream.messages:
        assert open_fence(message.markdown()) is None, message.markdown()
        assert len(message.markdown()) <= limit + len("\n````")


def test_a_code_block_cut_by_a_full_message_is_closed_and_reopened() -> None:
    code = "\n".join(f"line {n:03d} <x>" for n in range(40))
    markdown = f"Intro.\n\n```py\n{code}\n```\n\nAfter."
    stream = Stream(200)
    stream.show(markdown, [])
    first, second, *_ = stream.messages
    assert first.markdown(closed=False).startswith("Intro.\n\n```py\nline 000")
    assert first.closing == [{"type": "markdown_text", "text": "```"}]  # the cut fell after a newline
    assert second.markdown().startswith("```py\nline ")
    assert stream.messages[-1].markdown().endswith("```\n\nAfter.")


def test_the_default_limit_leaves_room_for_the_closing_line() -> None:
    markdown = "```\n" + "x = 1\n" * 5_000
    appends = plan_appends(Streamed(), markdown, [])
    assert len(appends) > 1 and appends[0].full and not appends[-1].full
    message = "".join(chunk["text"] for chunk in appends[0].chunks)
    assert len(message) <= STREAM_MESSAGE_LIMIT
    assert len(message + closing_chunks(appends[0].streamed)[0]["text"]) <= STREAM_MARKDOWN_LIMIT


def test_a_new_message_does_not_start_with_blank_space() -> None:
    [fresh] = plan_appends(Streamed("Done."), "Done.\n\n  Next.", [])
    assert fresh.chunks == ({"type": "markdown_text", "text": "Next."},)
    assert fresh.streamed == Streamed("Done.\n\n  Next.", len("Next."))
    [going_on] = plan_appends(Streamed("Done.", 5), "Done.\n\n  Next.", [])
    assert going_on.chunks == ({"type": "markdown_text", "text": "\n\n  Next."},)
    [in_code] = plan_appends(Streamed("```\nx\n"), "```\nx\n\n\n  y", [])
    assert in_code.chunks == ({"type": "markdown_text", "text": "```\n  y"},)  # indentation is code


def test_an_open_message_is_continued() -> None:
    [append] = plan_appends(Streamed("Hello", 5), "Hello world", [])
    assert append.chunks == ({"type": "markdown_text", "text": " world"},)
    assert append.streamed == Streamed("Hello world", 11)
    assert not append.full


def test_tasks_alone_are_appended() -> None:
    task = TaskChunk(id="t1", title="Bash: ls", status="in_progress", position=5)
    [append] = plan_appends(Streamed("Hello", 5), "Hello", [task])
    assert append.chunks == (task.chunk(),)
    assert append.tasks == (task,)


def test_markdown_that_does_not_extend_what_was_streamed_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_appends(Streamed("Hello"), "Help", [])


def test_closing_chunks_only_for_a_code_block_open_in_the_message() -> None:
    assert closing_chunks(Streamed("```py\nx = 1", 11)) == [{"type": "markdown_text", "text": "\n```"}]
    assert closing_chunks(Streamed("~~~~\nx\n", 7)) == [{"type": "markdown_text", "text": "~~~~"}]
    assert closing_chunks(Streamed("```py\nx = 1")) == []  # nothing of it in the open message
    assert closing_chunks(Streamed("```py\nx = 1\n```", 15)) == []


def test_footer_blocks() -> None:
    assert footer_blocks("") == []
    assert footer_blocks("8s · 1.00 credits") == [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "8s · 1.00 credits"}]}
    ]


@pytest.mark.timeout(10)
def test_a_code_block_whose_opening_line_fills_a_message_still_streams_to_the_end() -> None:
    opening = "```" + "x" * (STREAM_MESSAGE_LIMIT + 100)
    markdown = f"{opening}\n" + "line\n" * 3000
    appends = plan_appends(Streamed(), markdown, [])
    sent = "".join(
        chunk["text"] for append in appends for chunk in append.chunks if chunk["type"] == "markdown_text"
    )
    assert sent.count("line") == 3000
    assert appends[-1].streamed.markdown == markdown
