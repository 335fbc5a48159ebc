"""Settings: every environment variable the bot reads, validated once at startup.

The variable names are a public interface (operators' deployment files depend on them): add, never rename.
``load_settings`` turns validation failures into one readable line per variable (``ConfigError``).
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# How to obtain each required value, shown when it is missing or malformed.
HINTS: dict[str, str] = {
    "SLACK_BOT_TOKEN": "the Bot User OAuth Token (xoxb-…) from your Slack app's 'OAuth & Permissions' page",
    "SLACK_APP_TOKEN": "an App-Level Token (xapp-…) with connections:write, from 'Basic Information' → App-Level Tokens",
    "SLACK_SIGNING_SECRET": "the Signing Secret from your Slack app's 'Basic Information' page (required in HTTP mode)",
    "SLACK_MODE": "'socket' or 'http'",
    "QODER_PAT": "a personal access token (pt-…) from https://qoder.com/cloud/pat-keys",
    "QODER_AGENT_ID": "the id (agent_…) of the Qoder agent new sessions run, from GET /agents or the Qoder console",
    "QODER_ENVIRONMENT_ID": "the id (env_…) of the Qoder environment, from GET /environments or the Qoder console",
    "STORE_URL": "sqlite:///path/to/file.db or redis://host:6379/0",
    "PORT": "a TCP port number, e.g. 3000",
    "UPDATE_INTERVAL": "seconds between edits of one Slack message, e.g. 1.0",
    "STREAM_MODE": "'edit' (a self-editing reply) or 'native' (Slack's chat streaming)",
    "STREAM_ROLLOVER_SECONDS": "seconds after which a native stream continues in a new message, e.g. 240",
    "SLACK_UPDATES_PER_MINUTE": "the workspace-wide budget for chat.update calls per minute, e.g. 50",
    "SLACK_POSTS_PER_SECOND": "the per-channel budget for chat.postMessage calls per second, e.g. 1",
    "SLACK_POSTS_PER_MINUTE": "the workspace-wide budget for chat.postMessage calls per minute, e.g. 600",
    "RELAY_LEASE_SECONDS": "seconds after which another replica adopts the turns of one that died, e.g. 15",
    "NOTIFY_AFTER": "seconds a turn must run before its end is announced with a mention, e.g. 120 (0: never)",
    "SLACK_UPDATES_BURST": "how many chat.update calls may go back to back after a quiet spell, e.g. 10",
    "LOG_LEVEL": "a Python logging level: DEBUG, INFO, WARNING or ERROR",
    "LOG_FORMAT": "'text' (lines for people) or 'json' (one JSON object per line)",
    "ALLOWED_BOTS": "comma-separated bot ids (B…) or bot user ids (U…) whose messages the agent may receive",
    "USER_TURNS_PER_MINUTE": "how many messages one person may send to the agent per minute, e.g. 10 (0: no limit)",
    "MAX_MESSAGE_CHARS": "the longest message passed to the agent, in characters, e.g. 16000 (0: no limit)",
    "ADMIN_USERS": "comma-separated Slack user ids (U…) who may change a channel's defaults with /qoder config",
    "OUTCOME_MAX_ITERATIONS": "how many evaluations an outcome gets before Qoder gives up, 1 to 20 (default 3)",
    "APPROVERS": "comma-separated Slack user ids (U…/W…) or user group ids (S…) who may approve or deny tool"
    " calls besides the person who started the turn",
    "APPROVAL_REMIND_AFTER": "seconds an approval may wait before the person who started the turn is reminded,"
    " e.g. 600 (0: never)",
    "QODER_SESSION_URL": "a link to a session in the Qoder console with {session_id} in it, e.g. "
    "https://qoder.com/cloud/sessions/{session_id}",
    "MAX_FILE_BYTES": "the largest file passed between Slack and Qoder, in bytes, e.g. 20971520 (20 MB)",
    "CUSTOM_TOOLS": "comma-separated tool=handler pairs naming the built-in handler that answers each custom "
    "tool of the agent, e.g. ask_user=ask_thread (handlers: ask_thread)",
}

# Where the Qoder console shows a session, for the API hosts whose console is known.
CONSOLE_SESSION_URLS = {
    "api.qoder.com": "https://qoder.com/cloud/sessions/{session_id}",
    "api.qoder.com.cn": "https://qoder.com.cn/cloud/sessions/{session_id}",
}

CommaList = Annotated[tuple[str, ...], NoDecode]
ToolHandlers = Annotated[dict[str, str], NoDecode]
_SLACK_ID = re.compile(r"[UWS][A-Z0-9]{1,40}")


class ConfigError(Exception):
    """Configuration is unusable. ``problems`` holds one human-readable line per variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """All configuration, read from the environment (and ``.env``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    SLACK_BOT_TOKEN: str
    SLACK_APP_TOKEN: str = ""
    SLACK_SIGNING_SECRET: str = ""
    SLACK_MODE: Literal["socket", "http", ""] = ""
    PORT: int = Field(default=3000, ge=1, le=65535)
    SLACK_API_URL: str = "https://slack.com/api/"
    QODER_PAT: str
    QODER_API_URL: str = "https://api.qoder.com/api/v1/cloud"
    QODER_AGENT_ID: str
    QODER_ENVIRONMENT_ID: str
    STORE_URL: str = "sqlite:///./qoder-slack.db"
    STOP_REACTIONS: CommaList = ("octagonal_sign", "stop_sign", "no_entry", "no_entry_sign")
    UPDATE_INTERVAL: float = Field(default=1.0, gt=0)
    ALLOWED_USERS: CommaList = ()
    ALLOWED_CHANNELS: CommaList = ()
    ADMIN_USERS: CommaList = ()
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: Literal["text", "json"] = "text"
    ALLOWED_BOTS: CommaList = ()
    USER_TURNS_PER_MINUTE: int = Field(default=0, ge=0)
    MAX_MESSAGE_CHARS: int = Field(default=16_000, ge=0)
    MAX_FILE_BYTES: int = Field(default=20 * 1024 * 1024, gt=0)
    STREAM_MODE: Literal["edit", "native"] = "edit"
    STREAM_ROLLOVER_SECONDS: float = Field(default=240.0, gt=0)
    SLACK_UPDATES_PER_MINUTE: float = Field(default=50.0, gt=0)
    SLACK_POSTS_PER_SECOND: float = Field(default=1.0, gt=0)
    SLACK_POSTS_PER_MINUTE: float = Field(default=600.0, gt=0)
    SLACK_UPDATES_BURST: float = Field(default=10.0, ge=1)
    NOTIFY_AFTER: float = Field(default=120.0, ge=0)
    RELAY_LEASE_SECONDS: float = Field(default=15.0, ge=1)
    WORKING_STATUS: str = "is working…"
    REACTION_RECEIVED: str = "eyes"
    REACTION_QUEUED: str = "hourglass_flowing_sand"
    REACTION_DONE: str = "white_check_mark"
    REACTION_STOPPED: str = "octagonal_sign"
    REACTION_FAILED: str = "warning"
    REACTION_OUTCOME_MISSED: str = "x"
    OUTCOME_MAX_ITERATIONS: int = Field(default=3, ge=1, le=20)
    QODER_SESSION_URL: str = ""
    CUSTOM_TOOLS: ToolHandlers = {}
    APPROVERS: CommaList = ()
    APPROVAL_REMIND_AFTER: float = Field(default=600.0, ge=0)

    @field_validator(
        "STOP_REACTIONS",
        "ALLOWED_USERS",
        "ALLOWED_CHANNELS",
        "ALLOWED_BOTS",
        "ADMIN_USERS",
        "APPROVERS",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().strip(":") for part in value.split(",") if part.strip())
        return value

    @field_validator(
        "REACTION_RECEIVED",
        "REACTION_QUEUED",
        "REACTION_DONE",
        "REACTION_STOPPED",
        "REACTION_FAILED",
        "REACTION_OUTCOME_MISSED",
    )
    @classmethod
    def _emoji_name(cls, value: str) -> str:
        return value.strip().strip(":")

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.strip().upper()

    @field_validator("SLACK_BOT_TOKEN")
    @classmethod
    def _bot_token_shape(cls, value: str) -> str:
        if not value.startswith("xoxb-"):
            raise ValueError("must start with xoxb-")
        return value

    @field_validator("SLACK_APP_TOKEN")
    @classmethod
    def _app_token_shape(cls, value: str) -> str:
        if value and not value.startswith("xapp-"):
            raise ValueError("must start with xapp-")
        return value

    @field_validator("QODER_PAT", "QODER_AGENT_ID", "QODER_ENVIRONMENT_ID")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("STORE_URL")
    @classmethod
    def _store_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "redis://", "rediss://")):
            raise ValueError("must start with sqlite:// or redis://")
        return value

    @field_validator("SLACK_API_URL", "QODER_API_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("APPROVERS")
    @classmethod
    def _approver_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [item for item in value if not _SLACK_ID.fullmatch(item)]
        if bad:
            raise ValueError(f"not a Slack user or user group id: {', '.join(bad)}")
        return value

    @field_validator("QODER_SESSION_URL")
    @classmethod
    def _session_url(cls, value: str) -> str:
        value = value.strip()
        if value and (not value.startswith(("http://", "https://")) or "{session_id}" not in value):
            raise ValueError("must be an http(s) URL containing {session_id}")
        return value

    @field_validator("CUSTOM_TOOLS", mode="before")
    @classmethod
    def _tool_pairs(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for part in (part.strip() for part in value.split(",")):
            if not part:
                continue
            tool, sep, handler = (piece.strip() for piece in part.partition("="))
            if not sep or not tool or not handler:
                raise ValueError(f"{part!r} is not tool=handler")
            pairs[tool] = handler
        return pairs

    @field_validator("CUSTOM_TOOLS")
    @classmethod
    def _known_handlers(cls, value: dict[str, str]) -> dict[str, str]:
        from bot.threads.custom_tools import HANDLERS  # the registry lives with the use case

        for handler in value.values():
            if handler not in HANDLERS:
                raise ValueError(f"{handler!r} is not a handler; known: {', '.join(sorted(HANDLERS))}")
        return value

    @model_validator(mode="after")
    def _mode_needs_secret(self) -> Settings:
        if self.mode == "http" and not self.SLACK_SIGNING_SECRET:
            raise ValueError(
                "SLACK_SIGNING_SECRET: missing (HTTP mode needs it; or set SLACK_APP_TOKEN for Socket Mode)"
            )
        if self.SLACK_MODE == "socket" and not self.SLACK_APP_TOKEN:
            raise ValueError("SLACK_APP_TOKEN: missing (SLACK_MODE=socket needs it)")
        return self

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured value that must never appear in a log line or in Slack."""
        values = (self.SLACK_BOT_TOKEN, self.SLACK_APP_TOKEN, self.SLACK_SIGNING_SECRET, self.QODER_PAT)
        return tuple(value for value in values if value)

    @property
    def session_url(self) -> str:
        """``QODER_SESSION_URL``, or the console link known for ``QODER_API_URL``'s host ("" when none)."""
        if self.QODER_SESSION_URL:
            return self.QODER_SESSION_URL
        return CONSOLE_SESSION_URLS.get(urlsplit(self.QODER_API_URL).hostname or "", "")

    @property
    def mode(self) -> Literal["socket", "http"]:
        """``socket`` when an app token is set (unless SLACK_MODE says otherwise), else ``http``."""
        if self.SLACK_MODE:
            return self.SLACK_MODE
        return "socket" if self.SLACK_APP_TOKEN else "http"


def load_settings(**overrides: object) -> Settings:
    """Read Settings from the environment; raise ``ConfigError`` listing every problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = _describe(exc)
        if not any(p.startswith("SLACK_SIGNING_SECRET") for p in problems) and _http_mode_without_secret():
            problems.append(
                f"SLACK_SIGNING_SECRET: missing (HTTP mode needs it; or set SLACK_APP_TOKEN for Socket Mode)"
                f" — set it to {HINTS['SLACK_SIGNING_SECRET']}"
            )
        raise ConfigError(problems) from None


def _http_mode_without_secret() -> bool:
    env = os.environ
    http = env.get("SLACK_MODE") == "http" or (
        not env.get("SLACK_APP_TOKEN") and env.get("SLACK_MODE") != "socket"
    )
    return http and not env.get("SLACK_SIGNING_SECRET")


def _describe(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if not name:
            message = str(error["msg"]).removeprefix("Value error, ")
            name = message.split(":", 1)[0]
            problems.append(f"{message} — set it to {HINTS.get(name, 'a valid value')}")
            continue
        what = (
            "missing"
            if error["type"] == "missing"
            else f"invalid ({error['msg']})".replace("Value error, ", "")
        )
        problems.append(f"{name}: {what} — set it to {HINTS.get(name, 'a valid value')}")
    return problems
