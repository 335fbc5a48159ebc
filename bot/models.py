"""Plain data shared across layers: thread keys, sessions, persisted turn progress, queued messages and
channel defaults.

These dataclasses are also the one description of what the stores persist: their JSON and table columns
are derived from the fields (see ``bot.store.serialize``). A new field needs a default, so that records
written before it existed still load, and a schema step in ``bot.store.sqlite_schema``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema


@dataclass(frozen=True, order=True)
class ThreadKey:
    """A Slack thread: workspace, channel and the ts of the thread's root message."""

    team: str
    channel: str
    thread_ts: str

    def __str__(self) -> str:
        return f"{self.team}:{self.channel}:{self.thread_ts}"

    @classmethod
    def parse(cls, value: str) -> ThreadKey:
        """Inverse of ``str(key)``; raises ``ValueError`` on anything else."""
        team, channel, thread_ts = value.split(":")
        if not (team and channel and thread_ts):
            raise ValueError(f"not a thread key: {value!r}")
        return cls(team, channel, thread_ts)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Persisted as ``str(key)``, read back with ``parse``."""
        return core_schema.no_info_after_validator_function(
            cls.parse, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )


@dataclass(frozen=True)
class SessionRecord:
    """The Qoder session that serves one Slack thread: who started it (a Slack user id, "" when unknown)
    and the agent and environment it runs ("" for sessions from before these were recorded)."""

    thread: ThreadKey
    session_id: str
    created_at: float
    title: str = ""
    started_by: str = ""
    agent_id: str = ""
    environment_id: str = ""


@dataclass
class TurnRecord:
    """Durable progress of the turn a session is running (or last ran).

    ``cursor`` is the id of the last Qoder event whose effect is visible in Slack, ``state_json`` the turn
    state serialised at that same moment, and ``reply_ts`` the Slack ts of the bot replies of this turn in
    order. Together they let a restarted bot continue the same replies without losing or repeating output.
    ``user_ts``/``user_id`` name the Slack message and person that started the turn, and ``start_event_id``
    the Qoder echo of that message (where the turn's events begin).
    """

    session_id: str
    thread: ThreadKey
    cursor: str | None
    reply_ts: list[str] = field(default_factory=list)
    state_json: str = ""
    active: bool = True
    user_ts: str = ""
    updated_at: float = 0.0
    user_id: str = ""
    start_event_id: str = ""


@dataclass(frozen=True)
class SlackFile:
    """A file shared with a message, as Slack described it: ``url`` is its private download
    (``url_private_download``, "" when Slack gives none) and ``mode`` Slack's (``hosted``, ``external``, …)."""

    id: str
    name: str
    mimetype: str = ""
    size: int = 0
    url: str = ""
    mode: str = ""


@dataclass(frozen=True)
class QueuedMessage:
    """A Slack message on its way to the agent (in a thread's inbox, or queued behind a running turn).

    A message that starts a session may choose its agent and environment ("" for the channel's defaults).
    ``outcome`` holds the criteria of an outcome the message defines, its text being the outcome's task
    ("" for none; an outcome may also be typed as ``!outcome`` in the text). ``files`` are the files
    shared with it, fetched only when it is sent.
    """

    thread: ThreadKey
    message_ts: str
    user: str
    text: str
    agent_id: str = ""
    environment_id: str = ""
    outcome: str = ""
    files: tuple[SlackFile, ...] = ()


@dataclass(frozen=True)
class ChannelDefaults:
    """What new sessions in a channel run, set with ``/qoder config``; "" falls back to the deployment's
    ``QODER_AGENT_ID`` / ``QODER_ENVIRONMENT_ID``. ``updated_by``/``updated_at`` say who set it and when."""

    team: str
    channel: str
    agent_id: str = ""
    environment_id: str = ""
    updated_by: str = ""
    updated_at: float = 0.0

    @property
    def empty(self) -> bool:
        """Nothing set: the channel uses the deployment's defaults."""
        return not (self.agent_id or self.environment_id)


@dataclass(frozen=True)
class PendingQuestion:
    """A question an agent's custom tool asked in a thread (``ask_thread``), waiting for a person's reply:
    the answer goes back as the result of tool use ``tool_use_id`` of ``session_id``. ``asked_of`` is the
    person the question mentions, ``asked_at`` when it was asked (epoch seconds; the oldest is answered first).
    ``answer`` is the reply taken as its answer (``answer_ts`` that message), kept until Qoder has it, so a
    restart passes it on; "" while the question waits.
    """

    thread: ThreadKey
    session_id: str
    tool_use_id: str
    asked_of: str = ""
    asked_at: float = 0.0
    answer: str = ""
    answer_ts: str = ""
