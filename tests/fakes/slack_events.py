"""Build Slack event/command/interaction payloads and deliver them, signed, to the app under test over HTTP.

Payload shapes follow what Slack sends (Events API `event_callback` envelope, form-encoded slash commands,
`payload=<json>` interactivity). Requests are signed with the v0 scheme so Bolt's request verification passes.

Slack waits 3 seconds for the app to acknowledge a slash command or an interaction, then gives up and tells
the person it failed (`operation_timeout`): those deliveries raise `AckTimeout` when the app is later. Trigger
ids and response URLs carry the time they were issued, so the fake Slack can refuse stale ones.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
import uuid
from typing import Any

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.fakes import slack_interactive
from tests.fakes.slack_responses import response_path
from tests.fakes.slack_views import new_trigger_id

ACK_DEADLINE = 3.0


class AckTimeout(Exception):
    """The app did not acknowledge within Slack's 3 seconds: Slack dropped its answer and showed an error."""


_EVENT_IDS = itertools.count(1)


class SlackEvents:
    """Sends signed Slack requests to `app_url` (e.g. "http://127.0.0.1:3000/slack/events")."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        *,
        team_id: str = "T1",
        api_app_id: str = "A1",
        bot_user_id: str = "UBOT",
        response_url_base: str = "http://127.0.0.1:9/response/",
    ) -> None:
        self.app_url = app_url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.response_url_base = response_url_base
        self.sent: list[dict[str, Any]] = []  # every envelope/payload delivered, in order
        self.response_urls: list[str] = []  # of every command and shortcut delivered, in order
        self._client = httpx.AsyncClient(timeout=10.0)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> SlackEvents:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------------------------------- event builders

    def app_mention(
        self,
        channel: str,
        user: str,
        text: str,
        ts: str,
        thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """An `app_mention` event (with the `files` shared in it, if any); `text` should contain
        f"<@{bot_user_id}>"."""
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            "team": self.team_id,
            "client_msg_id": str(uuid.uuid4()),
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        if files is not None:
            event["files"] = files
        return event

    def message(
        self,
        channel: str,
        user: str | None,
        text: str,
        ts: str,
        *,
        thread_ts: str | None = None,
        channel_type: str = "channel",
        subtype: str | None = None,
        bot_id: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A `message` event (user messages get a `client_msg_id`; bot messages carry `bot_id`)."""
        event: dict[str, Any] = {
            "type": "message",
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            "channel_type": channel_type,
            "team": self.team_id,
        }
        if user is not None:
            event["user"] = user
        if subtype is not None:
            event["subtype"] = subtype
        if bot_id is not None:
            event["bot_id"] = bot_id
        elif user is not None and subtype in (None, "file_share", "thread_broadcast"):
            event["client_msg_id"] = str(uuid.uuid4())
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        if files is not None:
            event["files"] = files
        return event

    def reaction(self, channel: str, user: str, reaction: str, item_ts: str) -> dict[str, Any]:
        """A `reaction_added` event on a message (no thread_ts, as in Slack)."""
        return {
            "type": "reaction_added",
            "user": user,
            "reaction": reaction,
            "item": {"type": "message", "channel": channel, "ts": item_ts},
            "event_ts": f"{time.time():.6f}",
        }

    # ----------------------------------------------------------------------------------------- delivery

    def envelope(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """Wrap `event` in the Events API `event_callback` envelope."""
        return {
            "token": "verification-token",
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or self.next_event_id(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-fake",
        }

    def next_event_id(self) -> str:
        """A new event id, unique in this process as Slack's are in a workspace (several senders, one per
        replica, share a store that de-duplicates by event id): Ev000001, Ev000002, …"""
        return f"Ev{next(_EVENT_IDS):06d}"

    async def send(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        bad_signature: bool = False,
        retry_reason: str = "http_timeout",
    ) -> int:
        """Deliver `event` in an envelope; returns the app's HTTP status."""
        body_dict = self.envelope(event, event_id=event_id)
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        response = await self._post(
            json.dumps(body_dict), "application/json", body_dict, headers=headers, bad_signature=bad_signature
        )
        return response.status_code

    async def command(
        self, text: str, *, channel: str = "C1", user: str = "U1", command: str = "/qoder"
    ) -> tuple[int, str]:
        """Deliver a form-encoded slash command; returns (status, response body text). Its response_url is
        appended to `response_urls`; `AckTimeout` when the app answers after 3 s."""
        n = next(_EVENT_IDS)
        response_url = self.response_url_base + response_path("commands", self.team_id, n)
        self.response_urls.append(response_url)
        fields = {
            "token": "verification-token",
            "team_id": self.team_id,
            "team_domain": "fake-workspace",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else f"channel-{channel.lower()}",
            "user_id": user,
            "user_name": f"user-{user.lower()}",
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": new_trigger_id(n),
        }
        response = await self._post(
            urllib.parse.urlencode(fields), "application/x-www-form-urlencoded", fields, deadline=ACK_DEADLINE
        )
        return response.status_code, response.text

    async def message_shortcut(
        self,
        callback_id: str,
        *,
        channel: str,
        ts: str,
        text: str,
        author: str,
        thread_ts: str | None = None,
        user: str = "U1",
    ) -> int:
        """A person chose message shortcut `callback_id` on message `ts` (by `author`); returns the status.
        Its response_url is appended to `response_urls`."""
        n = next(_EVENT_IDS)
        response_url = self.response_url_base + response_path("actions", self.team_id, n)
        self.response_urls.append(response_url)
        payload = slack_interactive.message_action(
            team_id=self.team_id,
            api_app_id=self.api_app_id,
            callback_id=callback_id,
            channel=channel,
            message=slack_interactive.message_of(self.team_id, ts, text, author, thread_ts),
            user=user,
            trigger_id=new_trigger_id(n),
            response_url=response_url,
        )
        return (await self._interact(payload)).status_code

    async def submit_view(
        self, view: dict[str, Any], values: dict[str, str], *, user: str = "U1"
    ) -> tuple[int, dict[str, Any] | None]:
        """Submit a modal (`view` as the fake Slack shows it) with `values` by block_id; returns the status and
        the app's JSON answer (e.g. `response_action: errors`), None when it answered with an empty body."""
        n = next(_EVENT_IDS)
        payload = slack_interactive.view_submission(
            team_id=self.team_id,
            api_app_id=self.api_app_id,
            view=view,
            values=values,
            user=user,
            trigger_id=new_trigger_id(n),
        )
        response = await self._interact(payload)
        body = json.loads(response.text) if response.text.strip() else None
        return response.status_code, body

    def app_home_opened(self, user: str, *, tab: str = "home") -> dict[str, Any]:
        """The `app_home_opened` event for `user` (deliver it with `send`)."""
        return slack_interactive.app_home_opened(user, tab=tab)

    async def _interact(self, payload: dict[str, Any]) -> httpx.Response:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return await self._post(body, "application/x-www-form-urlencoded", payload, deadline=ACK_DEADLINE)

    async def block_action(
        self,
        action_id: str,
        value: str,
        *,
        channel: str,
        message_ts: str,
        thread_ts: str | None = None,
        user: str = "U1",
    ) -> int:
        """Deliver a `block_actions` button click on a bot message; returns the app's HTTP status."""
        n = next(_EVENT_IDS)
        payload = slack_interactive.block_actions(
            team_id=self.team_id,
            api_app_id=self.api_app_id,
            bot_user_id=self.bot_user_id,
            action_id=action_id,
            value=value,
            channel=channel,
            message_ts=message_ts,
            thread_ts=thread_ts,
            user=user,
            trigger_id=new_trigger_id(n),
            response_url=self.response_url_base + response_path("actions", self.team_id, n),
        )
        return (await self._interact(payload)).status_code

    async def _post(
        self,
        body: str,
        content_type: str,
        record: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        bad_signature: bool = False,
        deadline: float | None = None,
    ) -> httpx.Response:
        timestamp = str(int(time.time()))
        secret = self.signing_secret + "-wrong" if bad_signature else self.signing_secret
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
            **(headers or {}),
        }
        self.sent.append(record)
        timeout = httpx.Timeout(10.0, read=deadline) if deadline is not None else httpx.USE_CLIENT_DEFAULT
        try:
            return await self._client.post(
                self.app_url, content=body.encode(), headers=all_headers, timeout=timeout
            )
        except httpx.ReadTimeout:
            raise AckTimeout(
                f"no acknowledgement within {deadline:g}s for {record.get('type') or record.get('command')}"
            ) from None
