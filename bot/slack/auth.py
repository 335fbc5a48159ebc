"""Bolt authorization for the one workspace the bot token belongs to, with ``auth.test`` asked once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.authorization import AuthorizeResult

Identity = Callable[[], Awaitable[dict[str, Any]]]


def single_workspace(token: str, identity: Identity) -> Callable[..., Awaitable[AuthorizeResult]]:
    """An ``authorize`` function for ``AsyncApp``: the bot's identity from ``identity()`` (which asks Slack
    once), so concurrent first events do not each call ``auth.test``."""

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult.from_auth_test_response(bot_token=token, auth_test_response=await identity())

    return authorize
