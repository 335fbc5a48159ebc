"""The "Ask Qoder" modal a message shortcut opens (the task, prefilled with a reference to the message,
and an optional outcome), and the modal asking why a tool call is denied. Pure; the ids below are the
contract with the listeners that read a submission (and, for ``ASK_SHORTCUT_ID``, with ``manifest.yml``).

Slack's modal limits: title and buttons ≤ 24 characters, ``private_metadata`` ≤ 3,000, a plain-text input's
``initial_value`` no longer than its ``max_length`` (≤ 3,000).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from bot.render import escape

ASK_SHORTCUT_ID = "qoder_ask"  # the message shortcut's callback_id (manifest.yml)
ASK_VIEW_ID = "qoder_ask_view"  # the modal's callback_id
TASK_BLOCK = "task"
OUTCOME_BLOCK = "outcome"
INPUT_ACTION = "value"
TASK_LIMIT = 3000
OUTCOME_LIMIT = 2000
METADATA_LIMIT = 3000
SNIPPET_LIMIT = 150


@dataclass(frozen=True)
class AskContext:
    """The message a shortcut was used on, carried through the modal in ``private_metadata``.

    ``text`` is the message as the agent should read it; ``response_url`` answers the person who asked.
    """

    channel: str
    ts: str
    thread_ts: str
    author: str
    text: str
    response_url: str = ""

    def to_metadata(self) -> str:
        """JSON within Slack's 3,000 characters: the message text is shortened as far as needed."""
        context = self
        while True:
            encoded = json.dumps(asdict(context), separators=(",", ":"), ensure_ascii=False)
            if len(encoded) <= METADATA_LIMIT or not context.text:
                return encoded
            keep = max(0, len(context.text) - (len(encoded) - METADATA_LIMIT) - 2)
            context = AskContext(**{**asdict(context), "text": context.text[:keep].rstrip() + "…"})

    @classmethod
    def from_metadata(cls, metadata: str) -> AskContext:
        """Inverse of ``to_metadata``; ``ValueError`` for anything else."""
        try:
            fields = json.loads(metadata)
            return cls(
                **{key: str(fields[key]) for key in ("channel", "ts", "thread_ts", "author", "text")},
                response_url=str(fields.get("response_url", "")),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError("not the metadata of an Ask Qoder modal") from error


def ask_modal(context: AskContext) -> dict[str, Any]:
    """The modal for asking about ``context``'s message."""
    snippet = _snippet(context.text)
    prefill = f"Help with this message: “{snippet}”" if snippet else "Help with this message."
    quote = escape(snippet) if snippet else "_(a message without text)_"
    about = f"<@{context.author}>'s message" if context.author else "this message"
    return {
        "type": "modal",
        "callback_id": ASK_VIEW_ID,
        "title": _plain("Ask Qoder"),
        "submit": _plain("Start"),
        "close": _plain("Cancel"),
        "private_metadata": context.to_metadata(),
        "blocks": [
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"About {about}: {quote}"}],
            },
            {
                "type": "input",
                "block_id": TASK_BLOCK,
                "label": _plain("What should Qoder do?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_ACTION,
                    "multiline": True,
                    "initial_value": prefill[:TASK_LIMIT],
                    "max_length": TASK_LIMIT,
                },
                "hint": _plain("The message, its author and a link to it go to the agent as quoted context."),
            },
            {
                "type": "input",
                "block_id": OUTCOME_BLOCK,
                "optional": True,
                "label": _plain("Done when… (optional)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_ACTION,
                    "max_length": OUTCOME_LIMIT,
                    "placeholder": _plain("e.g. the failing test passes and nothing else changed"),
                },
            },
        ],
    }


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_LIMIT else flat[: SNIPPET_LIMIT - 1].rstrip() + "…"


DENY_VIEW_ID = "qoder_deny_view"  # the "Deny with reason…" modal's callback_id
REASON_BLOCK = "reason"
REASON_LIMIT = 500


def deny_modal(approval: str, tool: str = "") -> dict[str, Any]:
    """The modal asking why a tool call is denied; ``approval`` is the button's value (see
    ``bot.interactive.approval_value``), carried back in ``private_metadata``; ``tool`` names the call."""
    about = f"Qoder will be told you denied *{escape(tool)}*, and why." if tool else "Qoder will be told why."
    return {
        "type": "modal",
        "callback_id": DENY_VIEW_ID,
        "title": _plain("Deny tool call"),
        "submit": _plain("Deny"),
        "close": _plain("Cancel"),
        "private_metadata": approval[:METADATA_LIMIT],
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": about}]},
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": _plain("Why not?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_ACTION,
                    "multiline": True,
                    "max_length": REASON_LIMIT,
                    "placeholder": _plain("e.g. not on the production cluster; use staging"),
                },
            },
        ],
    }
