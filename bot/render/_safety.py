"""Everything that makes text from an agent, a tool or Slack safe to show in Slack: no mention, broadcast,
channel link or other ``<…>`` token can form from it, and it shows the characters that were written.

* mrkdwn (:func:`escape`, :func:`safe_text`): ``& < >`` become entities, ``@channel``/``@here``/
  ``@everyone`` get a word joiner after the ``@`` (:func:`neutralise`), and runs of three backticks get a
  zero-width space so they cannot open or close a code block.
* Markdown for markdown blocks (:func:`safe_markdown`): outside code, every ``<`` becomes ``&lt;``, so no
  raw HTML, autolink or Slack token is left (an autolink becomes a ``[url](url)`` link), and character
  references that spell a letter, digit or ``@`` are written out so they cannot hide a word. Inside code
  spans and blocks, where CommonMark shows entities literally, the code is kept as is. Then, everywhere, a
  word joiner follows any ``<`` (or reference to one) that is directly followed by ``!``, ``@`` or ``#``,
  and the ``@`` of a broadcast word: nothing can form even if entities were decoded first.
* streamed Markdown (:class:`StreamEscaper`): decided left to right from the text before each character,
  so what was streamed never changes; outside code ``<``/``>`` become entities, inside code a zero-width
  space follows each ``<``.
* plain text on stream task cards (:func:`safe_plain`) and link targets (:func:`neutralise_url`).
"""

from __future__ import annotations

import html
import re
import string
from functools import lru_cache

from bot.render._cut import fence_after
from bot.render._tokenizer import parse_blocks

WORD_JOINER = "\u2060"
ZERO_WIDTH_SPACE = "\u200b"

_BROADCAST_WORD = r"(?=(?:channel|here|everyone)\b)"
_BROADCAST = re.compile(rf"(?<!\w)@{_BROADCAST_WORD}", re.IGNORECASE)
_BACKTICK_RUN = re.compile(r"`(?=``)")
_BROKEN_LESS_THAN = "<" + ZERO_WIDTH_SPACE

_LESS_THAN = r"(?:<|&lt;|&#0*60;|&#x0*3c;)"
_SIGIL = r"\\?(?:[!@#]|&(?:excl|commat|num);|&#0*(?:33|64|35);|&#x0*(?:21|40|23);)"
_AT = r"\\?(?:@|&commat;|&#0*64;|&#x0*40;)"
_TOKEN_START = re.compile(rf"{_LESS_THAN}(?={_SIGIL})", re.IGNORECASE)
_MARKDOWN_BROADCAST = re.compile(rf"(?<!\w){_AT}{_BROADCAST_WORD}", re.IGNORECASE)

_SPECIAL = re.compile(r"[\\`<&]")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_URI_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9.+-]{1,31}:[^\x00-\x20<>]*)>")
_EMAIL_AUTOLINK = re.compile(
    r"<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>"
)
_BLANK = re.compile(r"[ \t>]*")
_LABEL_ESCAPES = set("\\`*_[]~|!#")
_LINES = re.compile(r"[^\n]*\n|[^\n]+")


# --- mrkdwn ---------------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Replace ``&``, ``<`` and ``>`` with Slack's entities; nothing else changes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise(text: str) -> str:
    """Put a word joiner after the ``@`` of ``@channel``, ``@here`` and ``@everyone`` so they never notify."""
    return _BROADCAST.sub("@" + WORD_JOINER, text)


def safe_text(text: str) -> str:
    """Literal text as mrkdwn: escaped, broadcasts neutralised, no ````` run left intact."""
    return _BACKTICK_RUN.sub("`" + ZERO_WIDTH_SPACE, neutralise(escape(text)))


def neutralise_url(url: str) -> str:
    """``url`` with the ``@`` of a broadcast word percent-encoded, so its text cannot notify anyone."""
    return _BROADCAST.sub("%40", url)


def safe_plain(text: str) -> str:
    """Plain text (task titles and output) that cannot form a Slack token or broadcast."""
    return neutralise(text.replace("<", _BROKEN_LESS_THAN))


# --- Markdown for markdown blocks -----------------------------------------------------------------------


def safe_markdown(markdown: str) -> str:
    """``markdown`` with nothing left that Slack could turn into a mention, broadcast or HTML (see the
    module docstring); it renders as the same text."""
    markdown = markdown.replace("\r\n", "\n").replace("\r", "\n")
    lines = markdown.split("\n")
    code = _code_lines(markdown)
    out: list[str] = []
    paragraph: list[str] = []
    for number, line in enumerate(lines):
        if number in code or _BLANK.fullmatch(line):
            if paragraph:
                out.append(_closed_inline("\n".join(paragraph)))
                paragraph = []
            out.append(line)
        else:
            paragraph.append(line)
    if paragraph:  # the last paragraph, the one still growing: not remembered
        out.append(_inline("\n".join(paragraph)))
    return neutralise_markdown("\n".join(out))


def neutralise_markdown(text: str) -> str:
    """Put a word joiner after every ``<`` (raw or as a reference) that starts a Slack token and after the
    ``@`` of every broadcast word; nothing else changes."""
    text = _TOKEN_START.sub(lambda match: match.group() + WORD_JOINER, text)
    return _MARKDOWN_BROADCAST.sub(lambda match: match.group() + WORD_JOINER, text)


def _code_lines(markdown: str) -> set[int]:
    """Numbers of the lines that belong to fenced or indented code blocks (fence lines included)."""
    lines: set[int] = set()
    for token in parse_blocks(markdown):
        if token.type in ("fence", "code_block") and token.map is not None:
            lines.update(range(*token.map))
    return lines


@lru_cache(maxsize=16384)  # a streamed answer's earlier paragraphs come back unchanged in every frame
def _closed_inline(text: str) -> str:
    return _inline(text)


def _inline(text: str) -> str:
    """Lines of one paragraph-like block: code spans kept, ``<`` and references rewritten elsewhere."""
    out: list[str] = []
    at = 0
    while (match := _SPECIAL.search(text, at)) is not None:
        index = match.start()
        out.append(text[at:index])
        char = text[index]
        if char == "\\":
            escaped = text[index + 1 : index + 2]
            punctuation = escaped != "" and escaped in string.punctuation
            out.append("&lt;" if escaped == "<" else text[index : index + 1 + punctuation])
            at = index + 1 + punctuation
        elif char == "`":
            run_end = index + len(text[index:]) - len(text[index:].lstrip("`"))
            closer = re.compile(rf"(?<!`){text[index:run_end]}(?!`)").search(text, run_end)
            at = closer.end() if closer else run_end
            out.append(text[index:at])
        elif char == "&":
            entity = _ENTITY.match(text, index)
            out.append(_reference(entity.group()) if entity else char)
            at = entity.end() if entity else index + 1
        else:
            link = _URI_AUTOLINK.match(text, index) or _EMAIL_AUTOLINK.match(text, index)
            out.append(_autolink(link.group(1), link.re is _EMAIL_AUTOLINK) if link else "&lt;")
            at = link.end() if link else index + 1
    out.append(text[at:])
    return "".join(out)


def _reference(entity: str) -> str:
    """A character reference outside code: spelled out when it stands for a letter, digit or ``@``."""
    char = html.unescape(entity)
    if char == "<":
        return "&lt;"
    if len(char) == 1 and char.isascii() and (char.isalnum() or char == "@"):
        return char
    return entity


def _autolink(target: str, email: bool) -> str:
    """``<target>`` as an inline link that shows ``target``, with no ``<`` left."""
    label = "".join(f"\\{c}" if c in _LABEL_ESCAPES else "&amp;" if c == "&" else c for c in target)
    href = f"mailto:{target}" if email else target
    href = neutralise_url(href)
    href = href.replace("&", "&amp;").replace("\\", "%5C").replace("(", "%28").replace(")", "%29")
    return f"[{label}]({href})"


# --- streamed Markdown ----------------------------------------------------------------------------------


def safe_stream_markdown(text: str) -> str:
    """``text`` as Markdown that cannot ping anyone: outside code ``<``/``>`` become ``&lt;``/``&gt;``
    (quote markers stay), inside code (or after a backtick that may open a code span) a zero-width space
    follows each ``<``; ``@channel``/``@here``/``@everyone`` get a word joiner after the ``@``."""
    return StreamEscaper().feed(text)


class StreamEscaper:
    """Makes Markdown safe left to right, remembering whether it is inside a code block or span.

    Each character's treatment depends only on the text before it, so feeding more text never changes
    what was already returned.
    """

    def __init__(self) -> None:
        self._fence_line: str | None = None  # opening line of the open code block
        self._tick = 0  # length of the backtick run that may have opened a code span, else 0
        self._line = ""  # the current line so far

    def feed(self, text: str) -> str:
        """``text``, which continues what was fed before, made safe."""
        out = [self._piece(piece) for piece in _LINES.findall(text)]
        return neutralise("".join(out))

    def _piece(self, piece: str) -> str:
        """Part of one line, ending with its newline if it has one."""
        before = self._line
        self._line += piece.rstrip("\n")
        if self._fence_line is not None:
            out = piece.replace("<", _BROKEN_LESS_THAN)
        else:
            # a fence's opening line goes through here too: its backticks open a "span", so it is code
            out = self._text(piece, quoting=not before.lstrip(" >"))
        if piece.endswith("\n"):
            self._end_line()
        return out

    def _text(self, piece: str, *, quoting: bool) -> str:
        out: list[str] = []
        index = 0
        while index < len(piece):
            char = piece[index]
            if char == "`":
                run = len(piece) - index - len(piece[index:].lstrip("`"))
                if self._tick == 0:
                    self._tick = run
                elif run == self._tick:
                    self._tick = 0
                out.append("`" * run)
                index += run
                quoting = False
                continue
            if char == "<":
                out.append(_BROKEN_LESS_THAN if self._tick else "&lt;")
            elif char == ">":
                out.append(">" if self._tick or quoting else "&gt;")
            else:
                out.append(char)
            quoting = quoting and char in " >"
            index += 1
        return "".join(out)

    def open_at_end(self) -> str | None:
        """The opening line of the code block open after the text so far, its last line taken as complete."""
        return fence_after(self._fence_line, self._line)

    def _end_line(self) -> None:
        line, self._line = self._line, ""
        fence = fence_after(self._fence_line, line)
        if fence != self._fence_line or not line.strip():
            self._tick = 0  # a fence or a blank line ends the paragraph, and any code span with it
        self._fence_line = fence
