"""Many turns at once: every active turn holds an event stream open, and Qoder calls must still go through."""

from __future__ import annotations

import asyncio
import contextlib

from bot.qoder import QoderClient
from tests.e2e.harness import eventually
from tests.fakes.qoder_api import FakeQoder

STREAMS = 110  # more than httpx's default pool of 100 connections


async def test_messages_reach_qoder_while_more_than_a_pool_of_streams_is_open() -> None:
    async with FakeQoder() as qoder:
        client = QoderClient(qoder.base_url, qoder.token)
        session = await client.create_session(
            agent="agent_test", environment_id="env_test", title="", metadata={}, idempotency_key="k"
        )

        async def follow() -> None:
            async for _ in client.stream(session.id, last_event_id=None):
                pass

        streams = [asyncio.create_task(follow()) for _ in range(STREAMS)]
        try:
            await eventually(lambda: qoder.open_streams() == STREAMS, timeout=30)
            sent = await asyncio.wait_for(
                client.send_message(session.id, "still heard", idempotency_key="m1"), timeout=10
            )
            assert sent
            assert qoder.user_messages(session.id) == ["still heard"]
        finally:
            for task in streams:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*streams, return_exceptions=True)
            await client.aclose()
