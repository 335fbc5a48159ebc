"""Modals and the Home tab of the fake workspace: ``views.open`` and ``views.publish``.

Slack facts modelled here:

* ``views.open`` needs the ``trigger_id`` of an interaction (slash command, shortcut, button) that happened
  at most 3 seconds ago, and each trigger opens one view: an old one answers ``expired_trigger_id``, a
  second use ``exchanged_trigger_id``, anything unreadable ``invalid_trigger_id``;
* a view breaking a Block Kit rule (see ``block_kit``) answers ``invalid_arguments`` with the problems in
  ``response_metadata.messages``;
* ``views.publish`` sets a user's Home tab (``user_id`` + a ``home`` view); a ``hash`` that is not the
  current view's answers ``hash_conflict``.

Trigger ids are made by ``new_trigger_id`` (the signed-request sender uses it) and carry the time they
were issued, so the fake can tell their age without sharing state with the sender.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.block_kit import validate_view

TRIGGER_LIFETIME = 3.0


class ViewError(Exception):
    """Slack refuses the call with ``error`` (and, for invalid views, the ``messages`` saying why)."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


def new_trigger_id(seq: int, issued_at: float | None = None) -> str:
    """A trigger id shaped like Slack's (``"<n>.<n>.<hex>"``) whose middle part is when it was issued (ms)."""
    issued_ms = int((time.time() if issued_at is None else issued_at) * 1000)
    return f"{seq}.{issued_ms}.{uuid.uuid4().hex[:16]}"


@dataclass
class View:
    """A view as the fake keeps it; ``payload()`` is what Slack puts in ``view`` of later payloads."""

    id: str
    team_id: str
    definition: dict[str, Any]
    user: str = ""
    hash: str = field(default_factory=lambda: f"{time.time():.6f}.{uuid.uuid4().hex[:8]}")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.definition.get("blocks") or [])

    @property
    def private_metadata(self) -> str:
        return str(self.definition.get("private_metadata") or "")

    @property
    def callback_id(self) -> str:
        return str(self.definition.get("callback_id") or "")

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": self.team_id,
            "app_id": "A1",
            "bot_id": "BBOT",
            "type": self.definition.get("type"),
            "blocks": self.blocks,
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "external_id": str(self.definition.get("external_id") or ""),
            "title": self.definition.get("title"),
            "submit": self.definition.get("submit"),
            "close": self.definition.get("close"),
            "clear_on_close": bool(self.definition.get("clear_on_close")),
            "notify_on_close": bool(self.definition.get("notify_on_close")),
            "state": {"values": {}},
            "hash": self.hash,
            "root_view_id": self.id,
            "previous_view_id": None,
            "app_installed_team_id": self.team_id,
        }


class Views:
    """Opened modals (``modals``, in order) and each user's Home tab (``homes``)."""

    def __init__(self, team_id: str, *, clock: Any = time.time) -> None:
        self._team_id = team_id
        self._clock = clock
        self._ids = itertools.count(1)
        self._used_triggers: set[str] = set()
        self.modals: list[View] = []
        self.homes: dict[str, View] = {}
        self.publishes: list[tuple[str, View]] = []

    def open(self, args: dict[str, Any]) -> dict[str, Any]:
        """``views.open``."""
        view = _view_arg(args)
        self._use_trigger(str(args.get("trigger_id") or ""))
        problems = validate_view(view, "modal")
        if problems:
            raise ViewError("invalid_arguments", problems)
        opened = View(self._next_id(), self._team_id, view)
        self.modals.append(opened)
        return {"ok": True, "view": opened.payload()}

    def publish(self, args: dict[str, Any]) -> dict[str, Any]:
        """``views.publish``."""
        user = str(args.get("user_id") or "")
        if not user:
            raise ViewError("invalid_arguments", ["[ERROR] missing required field: user_id"])
        view = _view_arg(args)
        problems = validate_view(view, "home")
        if problems:
            raise ViewError("invalid_arguments", problems)
        current = self.homes.get(user)
        wanted_hash = args.get("hash")
        if wanted_hash and (current is None or current.hash != wanted_hash):
            raise ViewError("hash_conflict")
        published = View(current.id if current else self._next_id(), self._team_id, view, user=user)
        self.homes[user] = published
        self.publishes.append((user, published))
        return {"ok": True, "view": published.payload()}

    def _use_trigger(self, trigger_id: str) -> None:
        parts = trigger_id.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise ViewError("invalid_trigger_id")
        if trigger_id in self._used_triggers:
            raise ViewError("exchanged_trigger_id")
        if self._clock() - int(parts[1]) / 1000 > TRIGGER_LIFETIME:
            raise ViewError("expired_trigger_id")
        self._used_triggers.add(trigger_id)

    def _next_id(self) -> str:
        return f"V{next(self._ids):08d}"


def _view_arg(args: dict[str, Any]) -> Any:
    view = args.get("view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except json.JSONDecodeError:
            raise ViewError("invalid_arguments", ["[ERROR] view is not valid JSON"]) from None
    if view is None:
        raise ViewError("invalid_arguments", ["[ERROR] missing required field: view"])
    return view
