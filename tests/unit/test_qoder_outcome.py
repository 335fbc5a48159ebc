"""A session's first message may define the outcome the agent works towards (``user.define_outcome``)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.unit.test_qoder_client import client_for


@pytest.mark.parametrize(
    "echoes",
    [
        [{"id": "evt_outcome", "type": "user.define_outcome"}, {"id": "evt_echo", "type": "user.message"}],
        [{"id": "evt_echo", "type": "user.message"}],
    ],
)
async def test_send_message_with_an_outcome_defines_it_first(echoes: list[dict[str, str]]) -> None:
    client, seen = client_for(lambda r: httpx.Response(200, json={"data": echoes}))
    assert (
        await client.send_message("sess_1", "fix it", idempotency_key="k", outcome="CI is green")
        == "evt_echo"
    )
    assert json.loads(seen[0].content) == {
        "events": [
            {
                "type": "user.define_outcome",
                "description": "CI is green",
                "rubric": {"type": "text", "content": "CI is green"},
            },
            {"type": "user.message", "content": [{"type": "text", "text": "fix it"}]},
        ]
    }
