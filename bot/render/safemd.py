"""Agent Markdown made safe for Slack's ``markdown`` block while showing the characters the agent wrote.

Outside code, every ``<`` becomes ``&lt;``, so no raw HTML, autolink or Slack ``<…>`` token is left (an
autolink becomes a ``[url](url)`` link), and character references that spell a letter, digit or ``@`` are
written out so they cannot hide a word. Inside code spans and blocks, where CommonMark shows entities
literally, the code is kept as is. Then, everywhere, a word joiner follows any ``<`` (or reference to one)
that is directly followed by ``!``, ``@`` or ``#``, and the ``@`` of ``@channel``/``@here``/``@everyone``:
no mention or broadcast can form even if entities were decoded first.
"""

from __future__ import annotations

import html
import re
import string

from bot.render._tokenizer import parse_blocks
from bot.render.mrkdwn import WORD_JOINER

_LESS_THAN = r"(?:<|&lt;|&#0*60;|&#x0*3c;)"
_SIGIL = r"\\?(?:[!@#]|&(?:excl|commat|num);|&#0*(?:33|64|35);|&#x0*(?:21|40|23);)"
_AT = r"\\?(?:@|&commat;|&#0*64;|&#x0*40;)"
_TOKEN_START = re.compile(rf"{_LESS_THAN}(?={_SIGIL})", re.IGNORECASE)
_BROADCAST = re.compile(rf"(?<!\w){_AT}(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_URL_BROADCAST = re.compile(r"(?<!\w)@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)

_SPECIAL = re.compile(r"[\\`<&]")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_URI_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9.+-]{1,31}:[^\x00-\x20<>]*)>")
_EMAIL_AUTOLINK = re.compile(
    r"<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>"
)
_BLANK = re.compile(r"[ \t>]*")
_LABEL_ESCAPES = set("\\`*_[]~|!#")


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
                out.append(_inline("\n".join(paragraph)))
                paragraph = []
            out.append(line)
        else:
            paragraph.append(line)
    if paragraph:
        out.append(_inline("\n".join(paragraph)))
    return neutralise_markdown("\n".join(out))


def neutralise_markdown(text: str) -> str:
    """Put a word joiner after every ``<`` (raw or as a reference) that starts a Slack token and after the
    ``@`` of every broadcast word; nothing else changes."""
    text = _TOKEN_START.sub(lambda match: match.group() + WORD_JOINER, text)
    return _BROADCAST.sub(lambda match: match.group() + WORD_JOINER, text)


def _code_lines(markdown: str) -> set[int]:
    """Numbers of the lines that belong to fenced or indented code blocks (fence lines included)."""
    lines: set[int] = set()
    for token in parse_blocks(markdown):
        if token.type in ("fence", "code_block") and token.map is not None:
            lines.update(range(*token.map))
    return lines


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
    href = _URL_BROADCAST.sub("%40", href)
    href = href.replace("&", "&amp;").replace("\\", "%5C").replace("(", "%28").replace(")", "%29")
    return f"[{label}]({href})"
