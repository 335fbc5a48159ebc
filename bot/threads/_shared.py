"""What the use cases share: the message they act on, their configuration, claims, background tasks and
the sentences they say in threads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot.models import QueuedMessage, SlackFile, ThreadKey
from bot.qoder import (
    AuthenticationError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QoderError,
    RateLimitedError,
    ServerError,
)
from bot.store import Store
from bot.turn import TurnState

DEDUPE_TTL_SECONDS = 24 * 3600.0
# Failures that may pass by themselves: the message is kept and retried with these pauses (about 30 minutes).
TRANSIENT = (RateLimitedError, ServerError, NetworkError)
RETRY_DELAYS = (5.0, 10.0, 20.0, 40.0, 60.0, *([120.0] * 14))

UNAVAILABLE_NOTICE = (
    "Qoder isn't answering right now. I'll keep trying and send your message as soon as it's back."
)
EMPTY_MESSAGE_NOTICE = "What should the agent do? Mention me with a task, e.g. “@Qoder why is CI red?”"
NOT_ALLOWED_NOTICE = "Sorry, I'm not enabled for you in this channel. Ask an admin to add you."
CONTEXT_LOST_NOTICE = (
    "The earlier Qoder session is no longer available, so I started a new one without its context."
)
GAVE_UP_NOTICE = (
    "I couldn't reach Qoder for half an hour, so your message was not sent. Please send it again."
)
CREDENTIALS_NOTICE = (
    "Qoder rejected my credentials, so I can't run the agent. An admin needs to check QODER_PAT."
)
NO_ACCESS_NOTICE = (
    "Qoder accepted my token but it has no access to this agent, environment or session. An admin needs to "
    "check the token's workspace and permissions, and QODER_AGENT_ID and QODER_ENVIRONMENT_ID."
)


@dataclass(frozen=True)
class Reactions:
    """Emoji names the bot puts on a user's message to tell its state at a glance."""

    received: str = "eyes"
    queued: str = "hourglass_flowing_sand"
    done: str = "white_check_mark"
    stopped: str = "octagonal_sign"
    failed: str = "warning"
    missed: str = "x"  # the turn ended without meeting its outcome


@dataclass
class ThreadsConfig:
    """What the use cases need to know of the deployment."""

    agent_id: str
    environment_id: str
    allowed_users: tuple[str, ...] = ()
    allowed_channels: tuple[str, ...] = ()
    reactions: Reactions = field(default_factory=Reactions)
    notify_after: float = (
        120.0  # seconds a turn must run before its end is announced with a mention; 0: never
    )
    max_message_chars: int = 16_000  # longest message passed to the agent; 0: no limit
    user_turns_per_minute: int = 0  # messages one person may send to the agent per minute; 0: no limit
    admin_users: tuple[str, ...] = ()  # who may change channel defaults; empty: everyone
    outcome_max_iterations: int = 3
    session_url: str = ""  # a link to a session, with {session_id} in it; empty: none
    approvers: tuple[str, ...] = ()  # who may decide tool calls besides a turn's starter (users, groups)
    approval_remind_after: float = 0.0  # seconds before a waiting approval is reminded of; 0: never

    def allows(self, user: str, channel: str) -> bool:
        """``ALLOWED_USERS`` / ``ALLOWED_CHANNELS`` let ``user`` use the agent in ``channel`` (DMs always)."""
        if self.allowed_users and user not in self.allowed_users:
            return False
        return not self.allowed_channels or channel.startswith("D") or channel in self.allowed_channels


@dataclass(frozen=True)
class IncomingMessage:
    """A user message addressed to the agent (mention, DM, or reply in a session thread)."""

    thread: ThreadKey
    ts: str
    user: str
    text: str
    event_id: str = ""
    addressed: bool = True  # a mention or a DM; False for a plain reply, which needs an existing session
    agent_id: str = ""  # what a session this message starts runs ("": the channel's defaults)
    environment_id: str = ""
    outcome: str = ""  # the criteria of an outcome whose task is ``text`` ("": none; see ``_opening.read``)
    quote_thread: bool = False  # asked in Slack mid-thread: the session it starts quotes the thread so far
    files: tuple[SlackFile, ...] = ()  # shared with the message; fetched when it is sent

    def queued(self) -> QueuedMessage:
        return QueuedMessage(
            self.thread,
            self.ts,
            self.user,
            self.text,
            self.agent_id,
            self.environment_id,
            self.outcome,
            self.files,
        )

    @classmethod
    def from_queued(cls, message: QueuedMessage) -> IncomingMessage:
        return cls(
            message.thread,
            message.message_ts,
            message.user,
            message.text,
            agent_id=message.agent_id,
            environment_id=message.environment_id,
            outcome=message.outcome,
            files=message.files,
        )


async def claim(store: Store, keys: list[str]) -> bool:
    """Claim every key (first time within the de-duplication window) or none of them."""
    claimed: list[str] = []
    for key in keys:
        if not await store.claim_event(key, DEDUPE_TTL_SECONDS):
            for done in claimed:
                await store.release_event(done)
            return False
        claimed.append(key)
    return True


class Background:
    """Tasks a use case runs after returning to its caller (retries, waits); cancelled on ``aclose``.
    ``sleep`` is how they wait (tests pass a fake clock's)."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.sleep = sleep
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def explain(error: QoderError) -> str:
    """One plain sentence for the thread about a Qoder failure the user can see or act on."""
    if isinstance(error, AuthenticationError):
        return CREDENTIALS_NOTICE
    if isinstance(error, PermissionDeniedError):
        return NO_ACCESS_NOTICE
    if isinstance(error, NotFoundError):
        return "Qoder couldn't find the agent, environment or session I was configured with."
    return f"Qoder didn't accept the request ({error.message}). Please try again in a moment."


def ran_longer_than(state: TurnState, seconds: float) -> bool:
    """The turn ran at least ``seconds`` (never, for 0 or a turn without both ends timed)."""
    if seconds <= 0 or state.started_at is None or state.ended_at is None:
        return False
    return state.ended_at - state.started_at >= seconds
