"""Wiring: Settings → store, Qoder client, outbox, relay, use cases → Bolt app → Socket Mode or HTTP.

``/healthz``, ``/readyz`` and ``/metrics`` (``bot.endpoints``) are served on ``PORT`` in both modes; in HTTP
mode Slack posts to ``/slack/events`` on the same port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.artifacts import ArtifactDelivery
from bot.config import ConfigError, Settings, load_settings
from bot.doctor import run_checks
from bot.endpoints import BotView, add_routes
from bot.leases import TurnLeases
from bot.logging_setup import configure as configure_logging
from bot.models import TurnRecord
from bot.outbox import Outbox, ResponseUrlPoster, WebClientTransport, slack_limits
from bot.qoder import QoderClient
from bot.relay import Relay
from bot.slack import register
from bot.slack.auth import single_workspace
from bot.slack.downloads import SlackDownloads
from bot.store import Store, open_store
from bot.threads import Attachments, Reactions, ThreadsConfig, UseCases
from bot.turn import TurnState

log = logging.getLogger("qoder_slack")

GC_THRESHOLDS = (700, 10, 1000)  # CPython's defaults are (700, 10, 10)

SHUTDOWN_GRACE_SECONDS = 8.0
OUTBOX_DRAIN_SECONDS = 2.0
SOCKET_CONNECT_TIMEOUT = 30.0


class StartupError(Exception):
    """The bot cannot start for a reason the operator must fix; the message says what to change."""


@dataclass
class Runtime:
    """Everything one running bot owns."""

    settings: Settings
    store: Store
    qoder: QoderClient
    outbox: Outbox
    relay: Relay
    use_cases: UseCases
    app: AsyncApp
    slack_http: aiohttp.ClientSession
    ready: bool = False

    async def aclose(self) -> None:
        await self.use_cases.aclose()
        await self.relay.shutdown()
        await self.outbox.drain(OUTBOX_DRAIN_SECONDS)  # notices and reactions already decided
        await self.outbox.aclose()
        await self.slack_http.close()
        await self.qoder.aclose()
        await self.store.close()


async def build(settings: Settings) -> Runtime:
    """Create and connect every component; nothing is listening yet."""
    store = open_store(settings.STORE_URL)
    qoder = QoderClient(settings.QODER_API_URL, settings.QODER_PAT)
    # One connection pool for every Slack call: without a session slack_sdk opens (and, against slack.com,
    # TLS-handshakes) a new connection per call.
    slack_http = aiohttp.ClientSession()
    slack = AsyncWebClient(
        token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL, session=slack_http
    )
    outbox = Outbox(
        WebClientTransport(slack),
        slack_limits(
            updates_per_minute=settings.SLACK_UPDATES_PER_MINUTE,
            updates_burst=settings.SLACK_UPDATES_BURST,
            posts_per_channel_per_second=settings.SLACK_POSTS_PER_SECOND,
            posts_per_minute=settings.SLACK_POSTS_PER_MINUTE,
        ),
        secrets=settings.secrets,
        responder=ResponseUrlPoster(slack_http),
    )
    use_cases: UseCases | None = None

    async def turn_ended(turn: TurnRecord, state: TurnState) -> None:
        assert use_cases is not None
        await use_cases.turn_ended(turn, state)

    relay = Relay(
        qoder,
        store,
        outbox,
        update_interval=settings.UPDATE_INTERVAL,
        on_turn_end=turn_ended,
        working_status=settings.WORKING_STATUS,
        stream_mode=settings.STREAM_MODE,
        rollover_seconds=settings.STREAM_ROLLOVER_SECONDS,
        leases=TurnLeases(store, ttl=settings.RELAY_LEASE_SECONDS),
        artifacts=ArtifactDelivery(qoder, store, outbox, max_bytes=settings.MAX_FILE_BYTES),
    )
    downloads = SlackDownloads(settings.SLACK_BOT_TOKEN, max_bytes=settings.MAX_FILE_BYTES)
    use_cases = UseCases.build(
        qoder,
        store,
        relay,
        outbox,
        ThreadsConfig(
            agent_id=settings.QODER_AGENT_ID,
            environment_id=settings.QODER_ENVIRONMENT_ID,
            allowed_users=settings.ALLOWED_USERS,
            allowed_channels=settings.ALLOWED_CHANNELS,
            notify_after=settings.NOTIFY_AFTER,
            max_message_chars=settings.MAX_MESSAGE_CHARS,
            user_turns_per_minute=settings.USER_TURNS_PER_MINUTE,
            admin_users=settings.ADMIN_USERS,
            reactions=Reactions(
                received=settings.REACTION_RECEIVED,
                queued=settings.REACTION_QUEUED,
                done=settings.REACTION_DONE,
                stopped=settings.REACTION_STOPPED,
                failed=settings.REACTION_FAILED,
                missed=settings.REACTION_OUTCOME_MISSED,
            ),
            outcome_max_iterations=settings.OUTCOME_MAX_ITERATIONS,
            session_url=settings.session_url,
            approvers=settings.APPROVERS,
            approval_remind_after=settings.APPROVAL_REMIND_AFTER,
        ),
        custom_tools=settings.CUSTOM_TOOLS,
        attachments=Attachments(downloads, qoder, store),
    )
    app = AsyncApp(
        client=slack,
        signing_secret=settings.SLACK_SIGNING_SECRET or None,
        request_verification_enabled=settings.mode == "http",
        authorize=single_workspace(settings.SLACK_BOT_TOKEN, outbox.identity),
    )
    register(app, use_cases, stop_reactions=settings.STOP_REACTIONS, allowed_bots=settings.ALLOWED_BOTS)
    return Runtime(settings, store, qoder, outbox, relay, use_cases, app, slack_http)


def web_app(runtime: Runtime) -> web.Application:
    """The aiohttp application serving health, metrics and (HTTP mode) Slack's requests."""

    async def slack_events(request: web.Request) -> web.Response:
        if not runtime.ready:
            return web.Response(status=503)
        response = await runtime.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    application = web.Application()
    add_routes(application, _bot_view(runtime))
    if runtime.settings.mode == "http":
        application.router.add_post("/slack/events", slack_events)
    return application


def _bot_view(runtime: Runtime) -> BotView:
    async def store() -> bool:
        return await runtime.store.ping()

    return BotView(
        is_ready=lambda: runtime.ready,
        active_relays=lambda: len(runtime.relay.active_sessions),
        store=runtime.store,
        checks={"store": store, "slack": runtime.outbox.verify, "qoder": runtime.qoder.ping},
    )


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    handle_signals: bool = True,
    runtime: Runtime | None = None,
    own_process: bool = False,
) -> None:
    """Run the bot until ``stop`` is set (or SIGTERM/SIGINT when ``handle_signals``), then drain and return.
    ``own_process``: the bot is the whole process (``python app.py``), so it may tune the garbage collector."""
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    runtime = runtime or await build(settings)
    runner = web.AppRunner(web_app(runtime), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host="0.0.0.0", port=settings.PORT).start()
    except OSError as error:
        await runner.cleanup()
        await runtime.aclose()
        raise StartupError(
            f"PORT {settings.PORT}: cannot listen there ({error.strerror}); set PORT to a free port"
        ) from None
    socket_handler = None
    try:
        if settings.mode == "socket":
            socket_handler = AsyncSocketModeHandler(runtime.app, settings.SLACK_APP_TOKEN)
            await _connect_socket_mode(socket_handler)
        resumed = await runtime.relay.resume_all()
        runtime.relay.watch()  # adopt the turns of replicas that stop
        runtime.use_cases.intake.recover_in_background()
        runtime.use_cases.custom_tools.recover_in_background()  # pauses a crash left unanswered
        runtime.use_cases.controls.remind_after_restart()
        if own_process:
            # What start-up built (modules, settings, clients) lives as long as the process: out of the way
            # of every later collection, which then only walks what turns allocate.
            gc.collect()
            gc.freeze()
            # A full collection walks every live object: about 0.1 s with 500 busy turns, and by default one
            # ran every second or two, each a stall of the loop. Young collections still run as often as
            # before and reclaim what a frame leaves (markdown trees); full ones wait for 1,000 of them.
            gc.set_threshold(*GC_THRESHOLDS)
        runtime.ready = True
        log.info(
            "ready (%s mode, port %d, %s event loop, %d unfinished turn(s) in the store)",
            settings.mode,
            settings.PORT,
            type(asyncio.get_running_loop()).__module__.split(".")[0],
            resumed,
        )
        lag = asyncio.create_task(metrics.watch_loop_lag(), name="loop lag")
        try:
            await stop.wait()
        finally:
            lag.cancel()
        log.info("shutting down")
        runtime.ready = False
    finally:
        if socket_handler is not None:
            await socket_handler.close_async()  # type: ignore[no-untyped-call]
        try:
            await asyncio.wait_for(runtime.aclose(), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            log.warning("shutdown took longer than %.0fs", SHUTDOWN_GRACE_SECONDS)
        await runner.cleanup()


async def _connect_socket_mode(handler: AsyncSocketModeHandler) -> None:
    """Open the Socket Mode connection, turning Slack's refusal or silence into a ``StartupError``."""
    try:
        # Ask for the WebSocket URL ourselves: slack_sdk's connect() logs and retries a refused token forever.
        # With the URL in place it connects without asking again (apps.connections.open is Tier 1).
        handler.client.wss_uri = await handler.client.issue_new_wss_url()
        await asyncio.wait_for(handler.connect_async(), SOCKET_CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
    except SlackApiError as error:
        raise StartupError(
            f"SLACK_APP_TOKEN: Slack refused it ({error.response.get('error')}); use an app-level token (xapp-…)"
            " with the connections:write scope, from Basic Information → App-Level Tokens"
        ) from None
    except TimeoutError:
        raise StartupError(
            f"SLACK_APP_TOKEN: no Socket Mode connection within {SOCKET_CONNECT_TIMEOUT:.0f}s; check the token, the network"
            " and that Socket Mode is enabled for the app"
        ) from None


def cli(argv: list[str] | None = None) -> int:
    """``python app.py``: exit 2 with one line per problem when the configuration is unusable."""
    parser = argparse.ArgumentParser(prog="qoder-slack", description="Qoder Cloud Agents in Slack threads.")
    parser.add_argument(
        "--check", action="store_true", help="check the configuration, Slack, Qoder and the store, then exit"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print("qoder-slack cannot start; fix these environment variables:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, settings.secrets)
    if args.check:
        results = asyncio.run(run_checks(settings))
        for result in results:
            print(result.line())
        return 0 if all(result.ok for result in results) else 1
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve(settings, own_process=True))
    except StartupError as error:
        print(f"qoder-slack cannot start: {error}", file=sys.stderr)
        return 2
    return 0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop where it is installed (Linux and macOS CPython), else None: asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
