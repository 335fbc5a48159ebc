"""User groups in the fake workspace: ``usergroups.users.list``.

Slack facts modelled (api.slack.com/methods/usergroups.users.list): the call needs ``usergroups:read``
(checked by the fake's scope rules) and a ``usergroup`` id; an id the workspace does not know answers
``no_such_subteam``; the answer lists the group's member user ids in ``users``. A disabled group answers its
members only with ``include_disabled``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UserGroup:
    """One user group (``S…``) and its members."""

    id: str
    users: list[str] = field(default_factory=list)
    disabled: bool = False


class UserGroups:
    """The workspace's user groups; ``users_list`` is the ``usergroups.users.list`` handler."""

    def __init__(self, fail: Callable[[str], Exception]) -> None:
        self.groups: dict[str, UserGroup] = {}
        self._fail = fail

    def add(self, group_id: str, users: list[str], *, disabled: bool = False) -> UserGroup:
        """Create (or replace) group ``group_id`` with ``users`` as its members."""
        group = UserGroup(group_id, list(users), disabled)
        self.groups[group_id] = group
        return group

    def users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.get(str(args.get("usergroup") or ""))
        if group is None:
            raise self._fail("no_such_subteam")
        include_disabled = str(args.get("include_disabled", "")).lower() in ("1", "true")
        if group.disabled and not include_disabled:
            return {"ok": True, "users": []}
        return {"ok": True, "users": list(group.users)}
