"""A local fake of the Slack Web API for tests.

`FakeSlack` is an aiohttp server answering `POST|GET /api/{method}` the way Slack does for the methods the
bridge uses, keeping an inspectable model of the workspace (messages, edits, reactions, statuses, streams).
Point a client at it with `AsyncWebClient(token=fake.token, base_url=fake.api_url)`.

Behaviour mirrors Slack where it matters to the bridge:

* bodies may be JSON (with `Authorization: Bearer …`), form-encoded or query params; a missing or wrong
  token answers `{"ok": false, "error": "invalid_auth"}` with HTTP 200;
* message validation by `block_kit` (slack_sdk's Block Kit models plus the rules they leave out): `no_text`,
  `markdown_text_conflict`, `invalid_blocks_format`, `invalid_blocks` (with the problems in
  `response_metadata.messages`), `msg_too_long` (chat.update text >4000, markdown_text >12000),
  `msg_blocks_too_long` (markdown blocks >12000 together), `invalid_attachments`, `invalid_chunks`;
  text >40000 truncated with warning `message_truncated`;
* chat.update keeps the previous blocks/markdown_text unless new ones are sent (as Slack documents);
  a streaming message refuses chat.update with `streaming_state_conflict`;
* a bot reply in a thread clears that thread's assistant status, like Slack does;
* configurable sliding-window rate limits (HTTP 429 + `Retry-After`) and one-off injected failures;
* `apps.connections.open` with an app-level token (`xapp-…`) answers `socket_url` when one is set (Socket Mode);
* conversations and the bot's membership (`slack_channels`: `not_in_channel`, `conversations.join`, …),
  modals and the Home tab (`slack_views`: trigger ids, Block Kit rules), user groups (`slack_usergroups`), `missing_scope` for a method whose
  scope was not granted (`slack_scopes`; only when `scopes` is given), and `chat.postEphemeral`;
* the external file upload flow of `files_upload_v2` (`slack_uploads`; shared files in `uploads`);
* shared files and their private downloads (`slack_files`: bot token and `files:read` or a sign-in page);
* slash-command `response_url`s: each takes at most 5 answers within 30 minutes, each with text or valid
  blocks (`used_url`, `expired_url`, `no_text`, `invalid_blocks` otherwise);
* `delay(method, seconds)` makes every later answer to `method` that much slower (a slow Slack);
* `refuse_blocks(n)` refuses the next `n` chat.postMessage / chat.update calls that carry blocks with
  `invalid_blocks` (or another error), valid or not: Slack refusing what the rules here accept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web

from tests.fakes.block_kit import chunk_refusal
from tests.fakes.slack_channels import ConversationError, Conversations
from tests.fakes.slack_content import (
    MARKDOWN_LIMIT,
    UPDATE_TEXT_LIMIT,
    SlackApiError,
    as_str,
    blocks_text,
    opt_str,
    required,
    validate_blocks,
    validate_content,
)
from tests.fakes.slack_ephemeral import Ephemeral, Ephemerals
from tests.fakes.slack_files import SlackFiles
from tests.fakes.slack_responses import ResponseUrlPost, check_response
from tests.fakes.slack_scopes import needed_scope
from tests.fakes.slack_uploads import UPLOAD_METHODS, UPLOAD_RATE, Uploads
from tests.fakes.slack_usergroups import UserGroups
from tests.fakes.slack_views import ViewError, Views

T = TypeVar("T")

# Arguments that form-encoded clients send as JSON strings.
_JSON_ARGS = ("blocks", "chunks", "attachments", "metadata", "loading_messages", "prompts")


@dataclass(frozen=True)
class RateLimit:
    """At most `calls` accepted calls per sliding `per_seconds`, counted per workspace or per channel."""

    calls: int
    per_seconds: float
    scope: Literal["workspace", "channel"] = "workspace"


@dataclass
class Call:
    """One request the fake answered (successful or not)."""

    method: str
    args: dict[str, Any]
    at: float
    status: int
    ok: bool
    error: str | None


@dataclass
class Message:
    """A message as the fake stores it. `user` is None and `bot_id` set for the bot's own posts."""

    channel: str
    ts: str
    thread_ts: str | None = None
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    markdown_text: str | None = None
    user: str | None = None
    bot_id: str | None = None
    reactions: dict[str, set[str]] = field(default_factory=dict)
    edits: int = 0
    versions: list[str] = field(default_factory=list)
    deleted: bool = False
    streaming: bool = False
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    plan_title: str | None = None
    stream_error: str | None = None
    metadata: dict[str, Any] | None = None
    files: list[dict[str, Any]] | None = None
    stub: bool = False  # created only to hold reactions on a message that predates the fake

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class InjectedFailure:
    error: str
    status: int
    retry_after: float | None
    times: int


def ts_key(ts: str) -> tuple[int, int]:
    """Sort key for Slack timestamps ("seconds.micros"), exact for any number of fraction digits ≤ 6."""
    sec, _, frac = ts.partition(".")
    return int(sec or 0), int((frac + "000000")[:6])


class FakeSlack:
    """Fake Slack Web API server plus an inspectable model of one workspace."""

    def __init__(
        self,
        *,
        team_id: str = "T1",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        token: str = "xoxb-test",
        rate_limits: dict[str, RateLimit] | None = None,
        scopes: frozenset[str] | None = None,
    ) -> None:
        self.team_id = team_id
        self.scopes = scopes  # None: every scope granted
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.token = token
        self.socket_url: str | None = (
            None  # set to a Socket Mode server's ws:// URL to enable apps.connections.open
        )
        self.rate_limits: dict[str, RateLimit] = {m: RateLimit(*UPLOAD_RATE) for m in UPLOAD_METHODS}
        self.rate_limits.update(rate_limits or {})
        self.uploads = Uploads(lambda: self.base_url, self._share_files)
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.statuses: dict[tuple[str, str], str] = {}
        self.status_history: list[tuple[str, str, str]] = []  # (channel, thread_ts, status) as set
        self.responses: list[ResponseUrlPost] = []
        self.conversations = Conversations()
        self.views = Views(team_id)
        self.files = SlackFiles(team_id, token, lambda: self.scopes, lambda: self.base_url)
        self.usergroups = UserGroups(SlackApiError)
        self.delays: dict[str, float] = {}
        self.rate_limited = 0
        self.connections: set[object] = set()  # client addresses (host, port) Web API calls came from
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._failures: dict[str, deque[InjectedFailure]] = {}
        self._stream_fail: tuple[int, str] | None = None
        self._block_refusal: tuple[tuple[str, ...], int, str] = ((), 0, "")  # methods, calls left, error
        self._ts_base_us = int(time.time()) * 1_000_000
        self._ts_seq = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.ephemerals = Ephemerals(
            lambda args: validate_content(args, text_limit=None),
            SlackApiError,
            self._next_ts,
            self.conversations.check_post,
        )
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self.ephemerals.post,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "assistant.threads.setStatus": self._assistant_set_status,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "users.info": self._users_info,
            "conversations.info": lambda args: self.conversations.info(
                required(args, "channel", "channel_not_found")
            ),
            "conversations.join": lambda args: self.conversations.join(
                required(args, "channel", "channel_not_found")
            ),
            "views.open": self.views.open,
            "views.publish": self.views.publish,
            "usergroups.users.list": self.usergroups.users_list,
            "conversations.replies": self._conversations_replies,
            "files.getUploadURLExternal": self.uploads.get_upload_url,
            "files.completeUploadExternal": self.uploads.complete,
        }

    # ----------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{rest:.*}", self._handle_response_url)
        self.uploads.add_to(app.router)
        self.files.add_to(app.router)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the server; the recorded state stays readable."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """Web API base URL for `AsyncWebClient(base_url=…)`, ending with "/api/"."""
        return f"{self.base_url}/api/"

    @property
    def response_url_base(self) -> str:
        """Prefix for slash-command `response_url`s; POSTs under it are recorded in `responses`."""
        return f"{self.base_url}/response/"

    # ----------------------------------------------------------------------------------------- test API

    def calls_to(self, method: str) -> list[Call]:
        """All calls to `method`, successful and failed, in arrival order."""
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The thread's root (if known) and replies, ordered by ts, without deleted messages."""
        out = [
            m
            for m in self.messages.values()
            if m.channel == channel
            and not m.deleted
            and not m.stub
            and (m.ts == thread_ts or m.thread_ts == thread_ts)
        ]
        return sorted(out, key=lambda m: ts_key(m.ts))

    def bot_replies(self, channel: str, thread_ts: str) -> list[Message]:
        """Replies in the thread posted by the bot (root excluded), ordered by ts."""
        return [m for m in self.thread(channel, thread_ts) if m.ts != thread_ts and m.bot_id is not None]

    def visible_text(self, message: Message) -> str:
        """What a person would read: markdown_text (streams/markdown posts) followed by the blocks' text;
        `text` only when neither is present (it is then just a notification fallback otherwise)."""
        parts: list[str] = []
        if message.markdown_text:
            parts.append(message.markdown_text)
        if message.blocks:
            parts.append(blocks_text(message.blocks))
        if not parts:
            return message.text
        return "\n".join(p for p in parts if p)

    def add_user_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U1",
        thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> str:
        """Store a human message and return its new ts (send the matching event yourself)."""
        ts = self._next_ts()
        msg = Message(channel=channel, ts=ts, thread_ts=thread_ts, text=text, user=user, files=files)
        msg.versions.append(text)
        self.messages[(channel, ts)] = msg
        return ts

    def fail_next(
        self,
        method: str,
        *,
        error: str = "ratelimited",
        status: int = 429,
        retry_after: float | None = 1,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls to `method` with `error` (HTTP `status`, optional `Retry-After`)."""
        self._failures.setdefault(method, deque()).append(InjectedFailure(error, status, retry_after, times))

    def delay(self, method: str, seconds: float) -> None:
        """Answer every later call to `method` `seconds` late (0 ends the delay)."""
        self.delays[method] = seconds

    def responses_to(self, response_url: str) -> list[ResponseUrlPost]:
        """The answers the app posted to `response_url` and Slack took, in order."""
        path = response_url.removeprefix(self.response_url_base)
        return [r for r in self.responses if r.path == path and r.status == 200]

    def refuse_blocks(
        self,
        times: int = 1,
        *,
        methods: tuple[str, ...] = ("chat.postMessage", "chat.update"),
        error: str = "invalid_blocks",
    ) -> None:
        """Refuse the next ``times`` calls to any of ``methods`` that carry blocks with ``error``, however
        valid the blocks (Slack refusing what the rules here let through); calls without blocks go on."""
        self._block_refusal = (methods, times, error)

    def fail_stream_after(self, appends: int, error: str = "message_not_in_streaming_state") -> None:
        """Let `appends` more chat.appendStream calls succeed; the next appendStream/stopStream on a
        streaming message then fails with `error` and that stream is dead (no longer streaming)."""
        self._stream_fail = (appends, error)

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
        """Poll `predicate` until it returns something truthy and return that; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)

    # ----------------------------------------------------------------------------------------- HTTP layer

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.transport is not None:
            self.connections.add(request.transport.get_extra_info("peername"))
        args = await self._parse_args(request)
        token = args.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer ") :]
        if self.delays.get(method):
            await asyncio.sleep(self.delays[method])
        now = time.monotonic()

        injected = self._take_failure(method)
        if injected is not None:
            headers = {}
            if injected.retry_after is not None:
                headers["Retry-After"] = str(max(0, math.ceil(injected.retry_after)))
            return self._reply(
                method, args, now, injected.status, {"ok": False, "error": injected.error}, headers
            )
        if method == "apps.connections.open" and self.socket_url and str(token).startswith("xapp-"):
            return self._reply(method, args, now, 200, {"ok": True, "url": self.socket_url})
        if token != self.token:
            return self._reply(method, args, now, 200, {"ok": False, "error": "invalid_auth"})
        retry_after = self._check_rate_limit(method, args, now)
        if retry_after is not None:
            self.rate_limited += 1
            headers = {"Retry-After": str(retry_after)}
            return self._reply(method, args, now, 429, {"ok": False, "error": "ratelimited"}, headers)

        scope = needed_scope(method, self.conversations.get(str(args.get("channel") or "")).kind)
        if self.scopes is not None and scope is not None and scope not in self.scopes:
            body = {
                "ok": False,
                "error": "missing_scope",
                "needed": scope,
                "provided": ",".join(sorted(self.scopes)),
            }
            return self._reply(method, args, now, 200, body)

        refused, left, refusal = self._block_refusal
        if left > 0 and method in refused and args.get("blocks"):
            self._block_refusal = (refused, left - 1, refusal)
            return self._reply(method, args, now, 200, {"ok": False, "error": refusal})

        handler = self._handlers.get(method)
        try:
            body = handler(args) if handler is not None else {"ok": True}
        except SlackApiError as e:
            body = {"ok": False, "error": e.error}
            if e.messages:
                body["response_metadata"] = {"messages": list(e.messages)}
            return self._reply(method, args, now, e.status, body)
        except ConversationError as e:
            return self._reply(method, args, now, 200, {"ok": False, "error": e.error})
        except ViewError as e:
            body = {"ok": False, "error": e.error}
            if e.messages:
                body["response_metadata"] = {"messages": e.messages}
            return self._reply(method, args, now, 200, body)
        return self._reply(method, args, now, 200, body)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        path = request.match_info["rest"]
        try:
            body = await request.json()
        except (json.JSONDecodeError, ValueError):
            body = {"raw": await request.text()}
        status, answer = check_response(self.responses, path, body)
        self.responses.append(ResponseUrlPost(path, body, time.monotonic(), status))
        return web.Response(status=status, text=answer)

    def _reply(
        self,
        method: str,
        args: dict[str, Any],
        at: float,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        ok = bool(body.get("ok"))
        self.calls.append(Call(method, args, at, status, ok, None if ok else body.get("error")))
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    async def _parse_args(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    data = await request.json()
                except (json.JSONDecodeError, ValueError):
                    data = {}
                if isinstance(data, dict):
                    args.update(data)
            else:
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in _JSON_ARGS:
            value = args.get(key)
            if isinstance(value, str) and value[:1] in ("[", "{"):
                with contextlib.suppress(json.JSONDecodeError):  # else left as a string for validation
                    args[key] = json.loads(value)
        return args

    def _take_failure(self, method: str) -> InjectedFailure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        return failure

    def _check_rate_limit(self, method: str, args: dict[str, Any], now: float) -> int | None:
        """Record an accepted call in the window, or return the Retry-After seconds if over the limit."""
        limit = self.rate_limits.get(method)
        if limit is None:
            return None
        scope_key = (
            str(args.get("channel") or args.get("channel_id") or "") if limit.scope == "channel" else ""
        )
        window = self._windows.setdefault((method, scope_key), deque())
        while window and window[0] <= now - limit.per_seconds:
            window.popleft()
        if len(window) >= limit.calls:
            return max(1, math.ceil(window[0] + limit.per_seconds - now))
        window.append(now)
        return None

    # ----------------------------------------------------------------------------------------- helpers

    def _next_ts(self) -> str:
        self._ts_seq += 100
        total = self._ts_base_us + self._ts_seq
        return f"{total // 1_000_000}.{total % 1_000_000:06d}"

    def _api_message(self, m: Message) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text, "team": self.team_id}
        if m.bot_id is not None:
            out.update(user=self.bot_user_id, bot_id=m.bot_id, app_id="A1")
        else:
            out["user"] = m.user
        if m.thread_ts is not None:
            out["thread_ts"] = m.thread_ts
        blocks = list(m.blocks or [])
        if m.markdown_text:
            blocks = [{"type": "markdown", "text": m.markdown_text}, *blocks]
        if blocks:
            out["blocks"] = blocks
        if m.metadata:
            out["metadata"] = m.metadata
        if m.files:
            out["files"] = m.files
        if m.reactions:
            out["reactions"] = [
                {"name": n, "users": sorted(u), "count": len(u)} for n, u in m.reactions.items() if u
            ]
        if m.edits:
            out["edited"] = {"user": self.bot_user_id, "ts": m.ts}
        if not m.is_reply:
            replies = [r for r in self.messages.values() if r.channel == m.channel and r.thread_ts == m.ts]
            replies = [r for r in replies if r.is_reply and not r.deleted]
            if replies:
                out.update(thread_ts=m.ts, reply_count=len(replies))
        return out

    def _message(self, args: dict[str, Any], ts_arg: str = "ts") -> Message:
        channel, ts = required(args, "channel"), required(args, ts_arg, "message_not_found")
        msg = self.messages.get((channel, ts))
        if msg is None or msg.deleted or msg.stub:
            raise SlackApiError("message_not_found")
        return msg

    def _bot_posted_in_thread(self, channel: str, thread_ts: str | None) -> None:
        """Slack clears a thread's assistant status when the app replies in it."""
        if thread_ts is not None and self.statuses.get((channel, thread_ts)):
            self.statuses[(channel, thread_ts)] = ""

    def _message_for_reaction(self, channel: str, ts: str) -> Message:
        msg = self.messages.get((channel, ts))
        if msg is None:  # a message older than the fake: keep a stub to hold reactions
            msg = Message(channel=channel, ts=ts, stub=True)
            self.messages[(channel, ts)] = msg
        if msg.deleted:
            raise SlackApiError("message_not_found")
        return msg

    # ----------------------------------------------------------------------------------------- methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "qoder",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = required(args, "channel", "channel_not_found")
        self.conversations.check_post(channel)
        content = validate_content(args, text_limit=None)
        thread_ts = opt_str(args.get("thread_ts"))
        msg = Message(channel=channel, ts=self._next_ts(), thread_ts=thread_ts, bot_id=self.bot_id, **content)
        msg.metadata = args.get("metadata") if isinstance(args.get("metadata"), dict) else None
        msg.versions.append(self.visible_text(msg))
        self.messages[(channel, msg.ts)] = msg
        self._bot_posted_in_thread(channel, thread_ts)
        body: dict[str, Any] = {
            "ok": True,
            "channel": channel,
            "ts": msg.ts,
            "message": self._api_message(msg),
        }
        if content["text"] != str(args.get("text") or ""):
            body["warning"] = "message_truncated"
            body["response_metadata"] = {"warnings": ["message_truncated"]}
        return body

    def _share_files(
        self, channel: str, thread_ts: str | None, text: str, files: list[dict[str, Any]]
    ) -> None:
        """files.completeUploadExternal shares files: the bot's message carrying them."""
        self.conversations.check_post(channel)
        msg = Message(channel=channel, ts=self._next_ts(), thread_ts=thread_ts, bot_id=self.bot_id, text=text)
        msg.files = files
        msg.versions.append(text)
        self.messages[(channel, msg.ts)] = msg
        self._bot_posted_in_thread(channel, thread_ts)

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._message(args)
        if msg.bot_id is None:
            raise SlackApiError("cant_update_message")
        if msg.streaming:
            raise SlackApiError("streaming_state_conflict")
        content = validate_content(args, text_limit=UPDATE_TEXT_LIMIT)
        if "text" in args:
            msg.text = content["text"]
        if content["markdown_text"] is not None:
            msg.markdown_text, msg.blocks = content["markdown_text"], None
        elif content["blocks"] is not None:
            msg.markdown_text = None
            msg.blocks = content["blocks"] or None  # an empty list removes the blocks
        if isinstance(args.get("metadata"), dict):
            msg.metadata = args["metadata"] or None
        msg.edits += 1
        msg.versions.append(self.visible_text(msg))
        return {
            "ok": True,
            "channel": msg.channel,
            "ts": msg.ts,
            "text": msg.text,
            "message": self._api_message(msg),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._message(args)
        if msg.bot_id is None:
            raise SlackApiError("cant_delete_message")
        msg.deleted = True
        msg.streaming = False
        return {"ok": True, "channel": msg.channel, "ts": msg.ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = required(args, "channel", "channel_not_found")
        ts = required(args, "message_ts", "message_not_found")
        link = f"https://fake-workspace.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        name = required(args, "name", "invalid_name").strip(":")
        msg = self._message_for_reaction(
            required(args, "channel"), required(args, "timestamp", "no_item_specified")
        )
        users = msg.reactions.setdefault(name, set())
        if self.bot_user_id in users:
            raise SlackApiError("already_reacted")
        users.add(self.bot_user_id)
        return {"ok": True}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        name = required(args, "name", "invalid_name").strip(":")
        msg = self._message_for_reaction(
            required(args, "channel"), required(args, "timestamp", "no_item_specified")
        )
        users = msg.reactions.get(name, set())
        if self.bot_user_id not in users:
            raise SlackApiError("no_reaction")
        users.discard(self.bot_user_id)
        if not users:
            del msg.reactions[name]
        return {"ok": True}

    def _assistant_set_status(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = required(args, "channel_id", "channel_not_found")
        thread_ts = required(args, "thread_ts", "invalid_arguments")
        if "status" not in args:
            raise SlackApiError("invalid_arguments")
        status = str(args["status"])
        loading = args.get("loading_messages")
        if isinstance(loading, list) and len(loading) > 10:
            raise SlackApiError("invalid_arguments")
        self.statuses[(channel, thread_ts)] = status
        self.status_history.append((channel, thread_ts, status))
        return {"ok": True}

    def _chat_start_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = required(args, "channel", "channel_not_found")
        self.conversations.check_post(channel)
        if not channel.startswith("D"):
            if not args.get("recipient_user_id"):
                raise SlackApiError("missing_recipient_user_id")
            if not args.get("recipient_team_id"):
                raise SlackApiError("missing_recipient_team_id")
        thread_ts = opt_str(args.get("thread_ts"))
        msg = Message(
            channel=channel, ts=self._next_ts(), thread_ts=thread_ts, bot_id=self.bot_id, streaming=True
        )
        msg.markdown_text = ""
        self._apply_stream_content(msg, args)
        self.messages[(channel, msg.ts)] = msg
        self._bot_posted_in_thread(channel, thread_ts)
        return {"ok": True, "channel": channel, "ts": msg.ts}

    def _chat_append_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._streaming_message(args)
        if not as_str(args.get("markdown_text")) and not args.get("chunks"):
            raise SlackApiError("no_text")
        self._maybe_kill_stream(msg, appending=True)
        self._apply_stream_content(msg, args)
        return {"ok": True, "channel": msg.channel, "ts": msg.ts}

    def _chat_stop_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._streaming_message(args)
        self._maybe_kill_stream(msg, appending=False)
        blocks = args.get("blocks")
        if blocks is not None:
            validate_blocks(blocks)
        self._apply_stream_content(msg, args, record_version=False)
        if blocks:
            msg.blocks = [*(msg.blocks or []), *blocks]
        if isinstance(args.get("metadata"), dict):
            msg.metadata = args["metadata"]
        msg.streaming = False
        msg.versions.append(self.visible_text(msg))
        return {"ok": True, "channel": msg.channel, "ts": msg.ts, "message": self._api_message(msg)}

    def _streaming_message(self, args: dict[str, Any]) -> Message:
        channel = required(args, "channel", "channel_not_found")
        msg = self.messages.get((channel, required(args, "ts", "message_not_found")))
        if msg is None or msg.deleted or not msg.streaming:
            raise SlackApiError("message_not_in_streaming_state")
        return msg

    def _maybe_kill_stream(self, msg: Message, *, appending: bool) -> None:
        if self._stream_fail is None:
            return
        remaining, error = self._stream_fail
        if remaining > 0:
            if appending:
                self._stream_fail = (remaining - 1, error)
            return
        self._stream_fail = None
        msg.streaming = False
        msg.stream_error = error
        raise SlackApiError(error)

    def _apply_stream_content(
        self, msg: Message, args: dict[str, Any], *, record_version: bool = True
    ) -> None:
        pieces: list[str] = []
        markdown = as_str(args.get("markdown_text"))
        if markdown:
            pieces.append(markdown)
        chunks = args.get("chunks")
        if chunks is not None and (refusal := chunk_refusal(chunks)) is not None:
            raise SlackApiError(refusal.error, messages=refusal.messages)
        for chunk in chunks or []:
            kind = chunk["type"]
            if kind == "markdown_text":
                pieces.append(chunk["text"])
            elif kind == "task_update":
                task_id = str(chunk["id"])
                self_task = msg.tasks.setdefault(task_id, {})
                self_task.update({k: v for k, v in chunk.items() if k != "type"})
            elif kind == "plan_update":
                msg.plan_title = opt_str(chunk.get("title"))
            else:
                msg.blocks = [*(msg.blocks or []), *chunk["blocks"]]
        added = "".join(pieces)
        if len(added) > MARKDOWN_LIMIT:
            raise SlackApiError("msg_too_long")
        msg.markdown_text = (msg.markdown_text or "") + added
        if record_version:
            msg.versions.append(self.visible_text(msg))

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = required(args, "user", "user_not_found")
        is_bot = user == self.bot_user_id
        name = "qoder" if is_bot else f"user-{user.lower()}"
        real = "Qoder" if is_bot else f"User {user}"
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": self.team_id,
                "name": name,
                "real_name": real,
                "deleted": False,
                "is_bot": is_bot,
                "tz": "UTC",
                "tz_offset": 0,
                "profile": {"display_name": name, "real_name": real},
            },
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = required(args, "channel", "channel_not_found")
        ts = required(args, "ts", "thread_not_found")
        messages = self.thread(channel, ts)
        if not messages:
            raise SlackApiError("thread_not_found")
        # Slack's order is oldest first; ``latest``/``oldest`` bound the ts range (exclusive unless
        # ``inclusive``), and ``limit`` pages through it with ``cursor`` (here: the offset as text).
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
        if args.get("latest"):
            latest = ts_key(str(args["latest"]))
            messages = [
                m for m in messages if ts_key(m.ts) < latest or (inclusive and ts_key(m.ts) == latest)
            ]
        if args.get("oldest"):
            oldest = ts_key(str(args["oldest"]))
            messages = [
                m for m in messages if ts_key(m.ts) > oldest or (inclusive and ts_key(m.ts) == oldest)
            ]
        start = int(args.get("cursor") or 0)
        limit = max(1, min(int(args.get("limit") or 1000), 1000))
        page = messages[start : start + limit]
        more = start + limit < len(messages)
        return {
            "ok": True,
            "messages": [self._api_message(m) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }


__all__ = [
    "Call",
    "Ephemeral",
    "FakeSlack",
    "Message",
    "RateLimit",
    "ResponseUrlPost",
    "blocks_text",
    "ts_key",
]
