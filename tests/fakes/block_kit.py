"""Block Kit rules, as Slack's reference pages state them: for messages and for app surfaces (modals and the
Home tab). The fake Slack refuses what these rules refuse, and the render tests check every payload with them.

Each block is first read by slack_sdk's Block Kit models (``Block.parse``, then ``to_dict``, which runs their
validators); a field the model does not know or an empty string it drops is a problem too. The rules the
models do not enforce are checked here.

``validate_view(view, surface)`` and ``validate_blocks(blocks, surface)`` return the problems Slack would
report, each as Slack words them in ``response_metadata.messages``: ``"[ERROR] <what> [json-pointer:<where>]"``.
An empty list means Slack accepts them. ``message_refusal(args, update=…)`` is Slack's answer to the content
of a ``chat.postMessage`` / ``chat.update`` / ``chat.postEphemeral``: ``None`` when it accepts it, else the
error (``no_text``, ``markdown_text_conflict``, ``invalid_blocks_format``, ``invalid_blocks``,
``msg_blocks_too_long``, ``msg_too_long``, ``invalid_attachments``) with the problems; ``chunk_refusal``
the same for a stream's ``chunks`` (``invalid_chunks``, ``msg_too_long``). ``house_problems``
adds what the bot itself promises beyond Slack (a non-empty top-level ``text`` beside blocks).

Messages: ≤ 50 blocks; ``markdown`` blocks (messages only) 1–12,000 characters, ≤ 12,000 in all
(``msg_blocks_too_long``); ``text`` over 4,000 is ``msg_too_long`` on ``chat.update``; ``markdown_text``
≤ 12,000, never with ``text`` or ``blocks``. Modal: ``title`` (plain_text, ≤ 24 chars) required; ``submit``
and ``close`` ≤ 24 chars; ``submit`` required when the view holds an input block; ``private_metadata``
≤ 3000 chars; ``callback_id``/``external_id`` ≤ 255. Both surfaces: ≤ 100 blocks. Everywhere: ``block_id``
≤ 255 and unique. Blocks: section (text ≤ 3000 or ≤ 10 fields of ≤ 2000; optional accessory), header
(plain_text ≤ 150), context (1–10 text or image elements), divider, actions (1–25 elements), input (label
≤ 2000, one element, hint ≤ 2000). Elements: button (text ≤ 75, value ≤ 2000, url ≤ 3000, style
primary|danger) and plain_text_input (placeholder ≤ 150, 0 ≤ min_length ≤ 3000, 1 ≤ max_length ≤ 3000,
initial_value no longer than max_length); ``action_id`` ≤ 255 and unique within its block.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.messages.chunk import Chunk
from slack_sdk.models.views import View

Surface = Literal["modal", "home", "message"]

MAX_BLOCKS = 100
MESSAGE_MAX_BLOCKS = 50
MARKDOWN_LIMIT = 12_000  # markdown blocks of one message together, and markdown_text
UPDATE_TEXT_LIMIT = 4_000  # chat.update's text
TITLE_LIMIT = 24
METADATA_LIMIT = 3000
ID_LIMIT = 255
SURFACE_BLOCKS = frozenset(
    {"section", "header", "context", "divider", "actions", "input", "image", "rich_text"}
)
MESSAGE_BLOCKS = SURFACE_BLOCKS | {"markdown", "table", "file", "video", "context_actions"}
CHUNK_TYPES = frozenset({"markdown_text", "task_update", "plan_update", "blocks"})
TASK_STATUSES = frozenset({"pending", "in_progress", "complete", "error"})


class _Check:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, what: str, where: str) -> None:
        self.problems.append(f"[ERROR] {what} [json-pointer:{where}]")

    def text(self, value: Any, where: str, *, limit: int, plain: bool = False, required: bool = True) -> None:
        if value is None:
            if required:
                self.fail("missing required field: text object", where)
            return
        if not isinstance(value, dict) or value.get("type") not in ("plain_text", "mrkdwn"):
            self.fail("must be a text object", where)
            return
        if plain and value["type"] != "plain_text":
            self.fail("must be a plain_text object", f"{where}/type")
        text = value.get("text")
        if not isinstance(text, str) or not text:
            self.fail("must be more than 0 characters", f"{where}/text")
        elif len(text) > limit:
            self.fail(f"must be less than {limit + 1} characters", f"{where}/text")

    def length(self, value: Any, where: str, limit: int) -> None:
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            self.fail(f"must be a string of at most {limit} characters", where)


@dataclass(frozen=True)
class Refusal:
    """Slack's ``error`` for a message's content, and the problems (``response_metadata.messages``)."""

    error: str
    messages: tuple[str, ...] = ()


def validate_view(view: Any, surface: Surface) -> list[str]:
    """Everything Slack would refuse in ``view`` published as a ``surface`` (``modal`` or ``home``)."""
    check = _Check()
    if not isinstance(view, dict):
        check.fail("must be a view object", "/view")
        return check.problems
    if view.get("type") != surface:
        check.fail(f"must be of type {surface}", "/view/type")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        check.fail("missing required field: blocks", "/view/blocks")
        blocks = []
    check.length(view.get("private_metadata"), "/view/private_metadata", METADATA_LIMIT)
    check.length(view.get("callback_id"), "/view/callback_id", ID_LIMIT)
    check.length(view.get("external_id"), "/view/external_id", ID_LIMIT)
    if surface == "modal":
        check.text(view.get("title"), "/view/title", limit=TITLE_LIMIT, plain=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        check.text(view.get("submit"), "/view/submit", limit=TITLE_LIMIT, plain=True, required=has_input)
        check.text(view.get("close"), "/view/close", limit=TITLE_LIMIT, plain=True, required=False)
    _view_model(check, view)
    check.problems += validate_blocks(blocks, surface, pointer="/view/blocks")
    return check.problems


def validate_blocks(blocks: Any, surface: Surface, *, pointer: str = "/blocks") -> list[str]:
    """Everything Slack would refuse in ``blocks`` on ``surface`` (a message: ≤ 50 blocks, markdown blocks
    ≤ 12,000 characters in all; a view: ≤ 100)."""
    check = _Check()
    if not isinstance(blocks, list):
        check.fail("must be an array of blocks", pointer)
        return check.problems
    limit = MESSAGE_MAX_BLOCKS if surface == "message" else MAX_BLOCKS
    if len(blocks) > limit:
        check.fail(f"no more than {limit} items allowed", pointer)
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        _block(check, block, f"{pointer}/{index}", block_ids, surface)
    return check.problems


def markdown_size(blocks: Any) -> int:
    """Characters of ``markdown`` blocks in ``blocks`` together (Slack allows 12,000 per message)."""
    if not isinstance(blocks, list):
        return 0
    return sum(
        len(block["text"])
        for block in blocks
        if isinstance(block, dict) and block.get("type") == "markdown" and isinstance(block.get("text"), str)
    )


def message_refusal(args: dict[str, Any], *, update: bool = False) -> Refusal | None:
    """Slack's answer to the content of a message (``text``, ``blocks``, ``markdown_text``,
    ``attachments``) in a ``chat.postMessage`` or, with ``update``, a ``chat.update``; ``None`` when
    Slack takes it. A ``text`` over 40,000 characters is not refused: Slack truncates it."""
    text = "" if args.get("text") is None else str(args["text"])
    blocks, markdown, attachments = args.get("blocks"), args.get("markdown_text"), args.get("attachments")
    if markdown is not None and (text or blocks is not None):
        return Refusal("markdown_text_conflict")
    if not text and blocks is None and markdown is None and not attachments:
        return Refusal("no_text")
    if markdown is not None and len(str(markdown)) > MARKDOWN_LIMIT:
        return Refusal("msg_too_long")
    if attachments is not None and not (
        isinstance(attachments, list) and all(isinstance(a, dict) for a in attachments)
    ):
        return Refusal("invalid_attachments")
    if blocks is not None:
        if not isinstance(blocks, list):
            return Refusal("invalid_blocks_format")
        if problems := validate_blocks(blocks, "message"):
            return Refusal("invalid_blocks", tuple(problems))
        if markdown_size(blocks) > MARKDOWN_LIMIT:
            return Refusal("msg_blocks_too_long")
    if update and len(text) > UPDATE_TEXT_LIMIT:
        return Refusal("msg_too_long")
    return None


def chunk_refusal(chunks: Any) -> Refusal | None:
    """Slack's answer to the ``chunks`` of a ``chat.startStream`` / ``appendStream`` / ``stopStream``:
    ``invalid_chunks`` for a chunk slack_sdk's models cannot read back unchanged, a task without id, title
    or known status, or invalid blocks; ``msg_too_long`` for more than 12,000 characters of Markdown."""
    if not isinstance(chunks, list):
        return Refusal("invalid_chunks")
    check = _Check()
    markdown = 0
    for index, chunk in enumerate(chunks):
        where = f"/chunks/{index}"
        if not isinstance(chunk, dict) or chunk.get("type") not in CHUNK_TYPES:
            check.fail("unsupported type", f"{where}/type")
            continue
        try:
            parsed = Chunk.parse(chunk)
            dumped = parsed.to_dict() if parsed is not None else None
        except (SlackObjectFormationError, TypeError, KeyError, ValueError, AttributeError) as error:
            check.fail(str(error), where)
            continue
        if dumped != chunk:
            check.fail("has an empty or unknown field", where)
        kind = chunk["type"]
        if kind == "markdown_text":
            text = chunk.get("text")
            if not isinstance(text, str):
                check.fail("must be a string", f"{where}/text")
            else:
                markdown += len(text)
        elif kind == "task_update":
            for key in ("id", "title"):
                if not isinstance(chunk.get(key), str) or not chunk[key]:
                    check.fail("must be more than 0 characters", f"{where}/{key}")
            if chunk.get("status") not in TASK_STATUSES:
                check.fail("must be pending, in_progress, complete or error", f"{where}/status")
        elif kind == "blocks":
            check.problems += validate_blocks(chunk.get("blocks"), "message", pointer=f"{where}/blocks")
    if check.problems:
        return Refusal("invalid_chunks", tuple(check.problems))
    if markdown > MARKDOWN_LIMIT:
        return Refusal("msg_too_long")
    return None


def house_problems(args: dict[str, Any]) -> list[str]:
    """What the bot promises beyond Slack's rules: every message has a non-empty top-level ``text`` (the
    notification, and what clients without blocks show)."""
    text = args.get("text")
    if args.get("markdown_text") is None and not (isinstance(text, str) and text.strip()):
        return ["[ERROR] a message with blocks needs a non-empty text [json-pointer:/text]"]
    return []


def _view_model(check: _Check, view: dict[str, Any]) -> None:
    """slack_sdk's ``View`` model must read ``view`` and accept it (its own validators)."""
    try:
        View(**view).validate_json()
    except (SlackObjectFormationError, TypeError, KeyError, ValueError, AttributeError) as error:
        check.fail(f"not a valid view: {error}", "/view")


def _model(check: _Check, block: dict[str, Any], where: str) -> None:
    """slack_sdk's Block Kit model must read ``block``, accept it and give it back unchanged."""
    for what, suffix in _model_problems(json.dumps(block, sort_keys=True)):
        check.fail(what, where + suffix)


@functools.lru_cache(maxsize=4096)
def _model_problems(block_json: str) -> tuple[tuple[str, str], ...]:
    """What the model finds wrong with a block (as JSON): each problem and its pointer below the block.
    Remembered: a streamed answer's edits resend the same blocks, and reading them is most of the fake's work."""
    block = json.loads(block_json)
    try:
        parsed = Block.parse(block)
        dumped = parsed.to_dict() if parsed is not None else None
    except (SlackObjectFormationError, TypeError, KeyError, ValueError, AttributeError) as error:
        return ((str(error), ""),)
    if parsed is None:
        return ((f"unsupported type: {block.get('type')}", "/type"),)
    if dumped != block:
        return (("has an empty or unknown field (Block Kit's model drops it)", ""),)
    return ()


def _block(check: _Check, block: Any, where: str, block_ids: set[str], surface: Surface) -> None:
    allowed = MESSAGE_BLOCKS if surface == "message" else SURFACE_BLOCKS
    if not isinstance(block, dict) or block.get("type") not in allowed:
        kind = block.get("type") if isinstance(block, dict) else None
        check.fail(f"unsupported type: {kind}", f"{where}/type")
        return
    _model(check, block, where)
    block_id = block.get("block_id")
    if block_id is not None:
        check.length(block_id, f"{where}/block_id", ID_LIMIT)
        if block_id in block_ids:
            check.fail("block_id must be unique", f"{where}/block_id")
        block_ids.add(str(block_id))
    kind = block["type"]
    action_ids: set[str] = set()
    if kind == "section":
        fields = block.get("fields")
        if block.get("text") is None and not fields:
            check.fail("must provide either text or fields", where)
        check.text(block.get("text"), f"{where}/text", limit=3000, required=False)
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                check.fail("no more than 10 items allowed", f"{where}/fields")
            else:
                for i, item in enumerate(fields):
                    check.text(item, f"{where}/fields/{i}", limit=2000)
        if block.get("accessory") is not None:
            _element(check, block["accessory"], f"{where}/accessory", action_ids)
    elif kind == "header":
        check.text(block.get("text"), f"{where}/text", limit=150, plain=True)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            check.fail("must hold 1 to 10 elements", f"{where}/elements")
        else:
            for i, item in enumerate(elements):
                if not (isinstance(item, dict) and item.get("type") == "image"):
                    check.text(item, f"{where}/elements/{i}", limit=3000)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            check.fail("must hold 1 to 25 elements", f"{where}/elements")
        else:
            for i, item in enumerate(elements):
                _element(check, item, f"{where}/elements/{i}", action_ids)
    elif kind == "input":
        check.text(block.get("label"), f"{where}/label", limit=2000, plain=True)
        check.text(block.get("hint"), f"{where}/hint", limit=2000, plain=True, required=False)
        if block.get("element") is None:
            check.fail("missing required field: element", f"{where}/element")
        else:
            _element(check, block["element"], f"{where}/element", action_ids)


def _element(check: _Check, element: Any, where: str, action_ids: set[str]) -> None:
    if not isinstance(element, dict):
        check.fail("must be an element object", where)
        return
    action_id = element.get("action_id")
    if action_id is not None:
        check.length(action_id, f"{where}/action_id", ID_LIMIT)
        if action_id in action_ids:
            check.fail("action_id must be unique within the block", f"{where}/action_id")
        action_ids.add(str(action_id))
    kind = element.get("type")
    if kind == "button":
        check.text(element.get("text"), f"{where}/text", limit=75, plain=True)
        check.length(element.get("value"), f"{where}/value", 2000)
        check.length(element.get("url"), f"{where}/url", 3000)
        if element.get("style") not in (None, "primary", "danger"):
            check.fail("must be primary or danger", f"{where}/style")
    elif kind == "plain_text_input":
        check.text(element.get("placeholder"), f"{where}/placeholder", limit=150, plain=True, required=False)
        min_length, max_length = element.get("min_length", 0), element.get("max_length", 3000)
        if not isinstance(min_length, int) or not 0 <= min_length <= 3000:
            check.fail("must be between 0 and 3000", f"{where}/min_length")
        if not isinstance(max_length, int) or not 1 <= max_length <= 3000:
            check.fail("must be between 1 and 3000", f"{where}/max_length")
            max_length = 3000
        initial = element.get("initial_value")
        if initial is not None and (not isinstance(initial, str) or len(initial) > max_length):
            check.fail(f"must be a string of at most {max_length} characters", f"{where}/initial_value")
    elif kind not in ("image", "static_select", "overflow", "users_select", "conversations_select"):
        check.fail(f"unsupported element type: {kind}", f"{where}/type")


def input_elements(view: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], bool]]:
    """``block_id`` → (``action_id``, element, optional) of every input block in ``view``."""
    found: dict[str, tuple[str, dict[str, Any], bool]] = {}
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            element = block["element"]
            found[str(block["block_id"])] = (str(element["action_id"]), element, bool(block.get("optional")))
    return found
