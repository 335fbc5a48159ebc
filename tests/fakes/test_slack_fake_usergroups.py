"""Self-tests of the fake Slack's usergroups.users.list."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack


async def test_a_group_lists_its_members_and_an_unknown_one_is_refused() -> None:
    async with FakeSlack() as fake:
        fake.usergroups.add("S1", ["U2", "U3"])
        client = AsyncWebClient(token=fake.token, base_url=fake.api_url)
        answer = await client.usergroups_users_list(usergroup="S1")
        assert answer["users"] == ["U2", "U3"]
        with pytest.raises(SlackApiError) as refused:
            await client.usergroups_users_list(usergroup="S9")
        assert refused.value.response["error"] == "no_such_subteam"


async def test_a_disabled_group_has_no_members_unless_asked() -> None:
    async with FakeSlack() as fake:
        fake.usergroups.add("S1", ["U2"], disabled=True)
        client = AsyncWebClient(token=fake.token, base_url=fake.api_url)
        assert (await client.usergroups_users_list(usergroup="S1"))["users"] == []
        assert (await client.usergroups_users_list(usergroup="S1", include_disabled=True))["users"] == ["U2"]


async def test_the_call_needs_the_usergroups_read_scope() -> None:
    async with FakeSlack(scopes=frozenset({"chat:write"})) as fake:
        fake.usergroups.add("S1", ["U2"])
        client = AsyncWebClient(token=fake.token, base_url=fake.api_url)
        with pytest.raises(SlackApiError) as refused:
            await client.usergroups_users_list(usergroup="S1")
        assert refused.value.response["error"] == "missing_scope"
