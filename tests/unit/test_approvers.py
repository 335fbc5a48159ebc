"""Who may decide a tool call: the turn's starter, users in APPROVERS, members of groups in it (cached)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from bot.outbox import Outbox, SlackError
from bot.threads.approvals import Approvers
from tests.unit.fake_time import FakeClock
from tests.unit.outbox_fakes import RecordingTransport


class GroupsTransport(RecordingTransport):
    """Answers ``usergroups.users.list`` from ``groups``; an unknown group answers ``no_such_subteam``."""

    groups: dict[str, list[str]]

    async def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        answer = await super().__call__(method, params)
        if method == "usergroups.users.list":
            if params["usergroup"] not in self.groups:
                raise SlackError(method, "no_such_subteam")
            return {"ok": True, "users": self.groups[params["usergroup"]]}
        return answer


@pytest.fixture
async def slack() -> AsyncIterator[GroupsTransport]:
    transport = GroupsTransport(FakeClock())
    transport.groups = {"S1": ["U9"]}
    yield transport


async def test_the_starter_listed_users_and_group_members_may_decide(slack: GroupsTransport) -> None:
    clock = FakeClock()
    outbox = Outbox(slack, clock=clock, sleep=clock.sleep)
    approvers = Approvers(outbox, ("U8", "S1", "S404"), clock=clock)
    assert await approvers.allows("T1", "U1", "U1"), "who started the turn"
    assert await approvers.allows("T1", "U8", "U1")
    assert await approvers.allows("T1", "U9", "U1"), "a member of S1"
    assert not await approvers.allows("T1", "U7", "U1")
    assert not await approvers.allows("T1", "", ""), "nobody is not the starter of a turn without one"
    asked = len(slack.calls_to("usergroups.users.list"))
    assert await approvers.allows("T1", "U9", "U1")
    assert len(slack.calls_to("usergroups.users.list")) == asked, "members are cached"
    slack.groups["S1"] = []
    await clock.advance(61.0)
    assert not await approvers.allows("T1", "U9", "U1"), "and read again after a minute"
    await outbox.aclose()


async def test_without_approvers_only_the_starter_decides_and_slack_is_not_asked(
    slack: GroupsTransport,
) -> None:
    clock = FakeClock()
    outbox = Outbox(slack, clock=clock, sleep=clock.sleep)
    approvers = Approvers(outbox, (), clock=clock)
    assert await approvers.allows("T1", "U1", "U1")
    assert not await approvers.allows("T1", "U2", "U1")
    assert slack.calls == []
    await outbox.aclose()
