"""Slash-command and shortcut ``response_url``s: what the app posted to them, and Slack's rules for them.

A ``response_url`` takes at most 5 answers within 30 minutes of the interaction (later ones: HTTP 404
``used_url`` / ``expired_url``), and each answer needs ``text`` or ``blocks`` that are valid (HTTP 400
``no_text`` / ``invalid_blocks``). The fake's URLs end in ``<n>-<issued ms>``, so their age is known.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.fakes.slack_content import SlackApiError, blocks_text, validate_blocks

RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60.0


@dataclass
class ResponseUrlPost:
    """A POST the app made to a ``response_url`` served by the fake (``status`` 200 when Slack took it)."""

    path: str
    body: dict[str, Any]
    at: float
    status: int = 200

    @property
    def text(self) -> str:
        """What the person reads: the blocks' text, else ``text``."""
        blocks = self.body.get("blocks")
        return blocks_text(blocks) if isinstance(blocks, list) and blocks else str(self.body.get("text", ""))


def response_path(kind: str, team: str, seq: int, issued_at: float | None = None) -> str:
    """The path (under the fake's ``response_url_base``) of a new response_url."""
    issued_ms = int((time.time() if issued_at is None else issued_at) * 1000)
    return f"{kind}/{team}/{seq}-{issued_ms}"


def check_response(taken: Sequence[ResponseUrlPost], path: str, body: Any) -> tuple[int, str]:
    """Slack's answer (HTTP status, body text) to posting ``body`` to ``path``, given earlier posts."""
    issued = path.rsplit("/", 1)[-1].partition("-")[2]
    if issued.isdigit() and time.time() - int(issued) / 1000 > RESPONSE_URL_LIFETIME:
        return 404, "expired_url"
    if sum(1 for r in taken if r.path == path and r.status == 200) >= RESPONSE_URL_USES:
        return 404, "used_url"
    if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
        return 400, "no_text"
    if body.get("blocks") is not None:
        try:
            validate_blocks(body["blocks"])
        except SlackApiError as error:
            return 400, error.error
    return 200, "ok"
