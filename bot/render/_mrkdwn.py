"""Markdown (what agents write) to Slack mrkdwn (what Slack renders), made safe to post.

Every piece of literal text goes through :func:`bot.render._safety.safe_text`, so nothing the agent writes
can form a ``<!channel>``/``<@U…>`` token, a broadcast or a code block. The only ``<`` in the output is the
start of a ``<url|label>`` link we build ourselves, and only for http(s), mailto and slack URLs.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markdown_it.tree import SyntaxTreeNode

from bot.render._cut import MRKDWN_FENCE, is_fence_line
from bot.render._safety import escape, neutralise_url, safe_text
from bot.render._tokenizer import normalized_lines, parse, parse_blocks

RULE = "─" * 12
_INDENT = "    "

_LINK_SCHEMES = ("http://", "https://", "mailto:", "slack://")


def markdown_to_mrkdwn(markdown: str) -> str:
    """Convert CommonMark (plus tables and strikethrough) to safe Slack mrkdwn.

    Blocks are separated by a blank line; code block contents are kept verbatim apart from
    :func:`bot.render._safety.safe_text`; the result has balanced fences and no leading or trailing newlines.
    """
    return _join(_top_level_blocks(markdown)).strip("\n")


def _top_level_blocks(markdown: str) -> list[_Block]:
    """The converted top-level blocks of ``markdown``, each converted on its own and remembered: a streamed
    answer re-renders every frame, and only its last block has changed since the previous one."""
    env: dict[str, Any] = {}
    tokens = parse_blocks(markdown, env)
    if env.get("references"):  # a reference link may use a definition from another block
        return _convert(markdown)
    lines = normalized_lines(markdown)
    spans = [token.map for token in tokens if token.level == 0 and token.nesting >= 0 and token.map]
    blocks: list[_Block] = []
    for number, (start, end) in enumerate(spans):
        source = "".join(f"{line}\n" for line in lines[start:end])
        # the last block is the one still growing: remembering it would only push out the others
        blocks.extend(_convert_block(source) if number < len(spans) - 1 else _convert(source))
    return blocks


@lru_cache(maxsize=16384)  # the closed blocks of a few thousand answers streaming at once
def _convert_block(source: str) -> tuple[_Block, ...]:
    return tuple(_convert(source))


def _convert(markdown: str) -> list[_Block]:
    return _blocks(SyntaxTreeNode(parse(markdown)).children)


@dataclass(frozen=True)
class _Block:
    text: str
    verbatim: bool = False  # code: not re-indented inside list items


def _join(blocks: list[_Block], sep: str = "\n\n") -> str:
    return sep.join(b.text for b in blocks if b.text)


def _blocks(nodes: list[SyntaxTreeNode]) -> list[_Block]:
    return [block for node in nodes for block in _block(node)]


def _block(node: SyntaxTreeNode) -> list[_Block]:
    kind = node.type
    if kind == "paragraph":
        return [_Block(_inline_of(node))]
    if kind == "heading":
        text = _inline_of(node, in_bold=True).strip()
        return [_Block(f"*{text}*")] if text else []
    if kind in ("fence", "code_block"):
        return [_Block(_code_block(node.content), verbatim=True)]
    if kind in ("bullet_list", "ordered_list"):
        return [_Block(_list(node))]
    if kind == "blockquote":
        inner = _join(_blocks(node.children))
        return [_Block("\n".join(f"> {line}" if line else ">" for line in inner.split("\n")))]
    if kind == "table":
        return [_Block(_table(node), verbatim=True)]
    if kind == "hr":
        return [_Block(RULE)]
    if kind == "html_block":
        return [_Block(safe_text(node.content.rstrip("\n")))]
    return _blocks(node.children)


def _code_block(content: str) -> str:
    body = safe_text(content)
    if body and not body.endswith("\n"):
        body += "\n"
    return f"{MRKDWN_FENCE}\n{body}{MRKDWN_FENCE}"


def _list(node: SyntaxTreeNode) -> str:
    ordered = node.type == "ordered_list"
    number = int(node.attrs.get("start", 1)) if ordered else 0
    tight = all(p.hidden for item in node.children for p in item.children if p.type == "paragraph")
    items = []
    for offset, item in enumerate(node.children):
        marker = f"{number + offset}{item.markup}" if ordered else "•"
        items.append(_list_item(marker, _blocks(item.children), tight))
    return ("\n" if tight else "\n\n").join(items)


def _list_item(marker: str, blocks: list[_Block], tight: bool) -> str:
    blocks = [block for block in blocks if block.text]
    parts = [block.text if block.verbatim else _indent(block.text) for block in blocks]
    text = ("\n" if tight else "\n\n").join(parts)
    if not blocks:
        return marker
    if blocks[0].verbatim or is_fence_line(parts[0].split("\n", 1)[0]):  # a fence must start its line
        return f"{marker}\n{text}"
    return f"{marker} {text.removeprefix(_INDENT)}"


def _indent(text: str) -> str:
    return "\n".join(_INDENT + line if line else line for line in text.split("\n"))


def _inline_of(node: SyntaxTreeNode, *, in_bold: bool = False) -> str:
    return "".join(_inline(child, in_bold) for inline in node.children for child in inline.children)


def _inline(node: SyntaxTreeNode, in_bold: bool) -> str:
    kind = node.type
    if kind == "text":
        return safe_text(node.content)
    if kind in ("softbreak", "hardbreak"):
        return "\n"
    if kind == "code_inline":
        code = safe_text(node.content.replace("`", "ˋ"))
        return f"`{code}`" if code.strip() else code
    if kind == "html_inline":
        return safe_text(node.content)
    inner = "".join(_inline(child, in_bold or kind == "strong") for child in node.children)
    if kind == "strong":
        return inner if in_bold or not inner else f"*{inner}*"
    if kind == "em":
        return f"_{inner}_" if inner else inner
    if kind == "s":
        return f"~{inner}~" if inner else inner
    if kind == "link":
        return _link(str(node.attrs.get("href", "")), _plain(node), inner)
    if kind == "image":
        return _link(str(node.attrs.get("src", "")), _plain(node), safe_text(_plain(node)))
    return inner


def _link(url: str, label: str, fallback: str) -> str:
    """``<url|label>`` for linkable schemes; otherwise the label as rendered text, so no token can form."""
    if not url.lower().startswith(_LINK_SCHEMES):
        return fallback
    target = escape(neutralise_url(url.replace("|", "%7C").replace(" ", "%20")))
    label = " ".join(label.split())
    if not label or label == url:
        return f"<{target}>"
    return f"<{target}|{safe_text(label).replace('|', '∣')}>"


def _plain(node: SyntaxTreeNode) -> str:
    """The text a reader sees in ``node``, without formatting."""
    if node.type in ("text", "code_inline", "html_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    return "".join(_plain(child) for child in node.children)


def _table(node: SyntaxTreeNode) -> str:
    rows: list[list[str]] = []
    aligns: list[str] = []
    for section in node.children:
        for row in section.children:
            rows.append([" ".join(_plain(cell).split()) for cell in row.children])
            if not aligns:
                aligns = [
                    str(cell.attrs.get("style", "")).removeprefix("text-align:") for cell in row.children
                ]
    columns = max(len(row) for row in rows)
    rows = [row + [""] * (columns - len(row)) for row in rows]
    aligns += [""] * (columns - len(aligns))
    widths = [max(1, *(_width(row[i]) for row in rows)) for i in range(columns)]
    lines = [_table_row(row, widths, aligns) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return f"{MRKDWN_FENCE}\n{safe_text(chr(10).join(lines))}\n{MRKDWN_FENCE}"


def _table_row(cells: list[str], widths: list[int], aligns: list[str]) -> str:
    padded = []
    for cell, width, align in zip(cells, widths, aligns, strict=True):
        room = width - _width(cell)
        if align == "right":
            padded.append(" " * room + cell)
        elif align == "center":
            padded.append(" " * (room // 2) + cell + " " * (room - room // 2))
        else:
            padded.append(cell + " " * room)
    return " | ".join(padded).rstrip()


def _width(text: str) -> int:
    """Columns ``text`` takes in a monospace font (wide East Asian characters count twice)."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )
