"""Block Kit rules for app surfaces (modals and the Home tab), as Slack's reference pages state them.

``validate_view(view, surface)`` returns the problems Slack would report, each as Slack words them in
``response_metadata.messages`` of an ``invalid_arguments`` answer: ``"[ERROR] <what> [json-pointer:<where>]"``.
An empty list means Slack accepts the view.

Modal: ``title`` (plain_text, ≤ 24 chars) required; ``submit`` and ``close`` ≤ 24 chars; ``submit`` required
when the view holds an input block; ``private_metadata`` ≤ 3000 chars; ``callback_id``/``external_id`` ≤ 255.
Both surfaces: ≤ 100 blocks, ``block_id`` ≤ 255 and unique. Blocks: section (text ≤ 3000 or ≤ 10 fields of
≤ 2000; optional accessory), header (plain_text ≤ 150), context (1–10 text or image elements), divider,
actions (1–25 elements), input (label ≤ 2000, one element, hint ≤ 2000). ``markdown`` blocks are for
messages only. Elements: button (text ≤ 75, value ≤ 2000, url ≤ 3000, style primary|danger) and
plain_text_input (placeholder ≤ 150, 0 ≤ min_length ≤ 3000, 1 ≤ max_length ≤ 3000, initial_value no longer
than max_length); ``action_id`` ≤ 255 and unique within its block.
"""

from __future__ import annotations

from typing import Any, Literal

Surface = Literal["modal", "home"]

MAX_BLOCKS = 100
TITLE_LIMIT = 24
METADATA_LIMIT = 3000
ID_LIMIT = 255
SURFACE_BLOCKS = frozenset(
    {"section", "header", "context", "divider", "actions", "input", "image", "rich_text"}
)


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


def validate_view(view: Any, surface: Surface) -> list[str]:
    """Everything Slack would refuse in ``view`` published as a ``surface``."""
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
    if len(blocks) > MAX_BLOCKS:
        check.fail(f"no more than {MAX_BLOCKS} items allowed", "/view/blocks")
    check.length(view.get("private_metadata"), "/view/private_metadata", METADATA_LIMIT)
    check.length(view.get("callback_id"), "/view/callback_id", ID_LIMIT)
    check.length(view.get("external_id"), "/view/external_id", ID_LIMIT)
    if surface == "modal":
        check.text(view.get("title"), "/view/title", limit=TITLE_LIMIT, plain=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        check.text(view.get("submit"), "/view/submit", limit=TITLE_LIMIT, plain=True, required=has_input)
        check.text(view.get("close"), "/view/close", limit=TITLE_LIMIT, plain=True, required=False)
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        _block(check, block, f"/view/blocks/{index}", block_ids)
    return check.problems


def _block(check: _Check, block: Any, where: str, block_ids: set[str]) -> None:
    if not isinstance(block, dict) or block.get("type") not in SURFACE_BLOCKS:
        kind = block.get("type") if isinstance(block, dict) else None
        check.fail(f"unsupported type: {kind}", f"{where}/type")
        return
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
