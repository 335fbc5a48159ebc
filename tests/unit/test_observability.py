"""Log formatting, log ids and the metric helpers, without a running bot."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import log_context, metrics
from bot.logging_setup import JsonFormatter, TextFormatter, configure
from bot.models import ThreadKey

SECRET = "xoxb-very-secret-token"
STALENESS = "qoder_slack_intermediate_staleness_seconds"
FINAL = "qoder_slack_final_answer_visible_seconds"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("bot.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_json_lines_carry_the_bound_ids_and_redact_secrets_everywhere() -> None:
    log_context.bind_thread(ThreadKey("T1", "C1", "1.000100"))
    log_context.bind(session="sess_1", turn="evt_1")
    try:
        raise RuntimeError(f"token {SECRET} rejected")
    except RuntimeError as error:
        line = JsonFormatter([SECRET]).format(record("sent %s", SECRET, exc=error))
    log_context.clear()
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "bot.test"
    assert entry["message"] == "sent [redacted]"
    assert (entry["team"], entry["channel"], entry["thread"]) == ("T1", "C1", "1.000100")
    assert (entry["session"], entry["turn"]) == ("sess_1", "evt_1")
    assert "RuntimeError" in entry["exception"] and SECRET not in line


def test_text_lines_name_the_ids_and_redact() -> None:
    log_context.bind_thread(ThreadKey("T1", "C2", "2.000100"))
    line = TextFormatter([SECRET]).format(record("using %s", SECRET))
    log_context.clear()
    assert line.endswith("bot.test: using [redacted] [team=T1 channel=C2 thread=2.000100]")
    assert TextFormatter().format(record("plain")).endswith("bot.test: plain")


def test_binding_a_new_thread_forgets_the_previous_session() -> None:
    log_context.bind_thread(ThreadKey("T1", "C1", "1.0"))
    log_context.bind(session="sess_1")
    log_context.bind_thread(ThreadKey("T1", "C9", "9.0"))
    assert dict(log_context.current()) == {"team": "T1", "channel": "C9", "thread": "9.0"}
    with pytest.raises(ValueError):
        log_context.bind(user="U1")
    log_context.clear()


async def test_ids_bound_in_one_task_stay_in_it() -> None:
    async def work(channel: str) -> dict[str, str]:
        log_context.bind_thread(ThreadKey("T1", channel, "1.0"))
        await asyncio.sleep(0)
        return dict(log_context.current())

    first, second = await asyncio.gather(work("C1"), work("C2"))
    assert first["channel"] == "C1" and second["channel"] == "C2"
    assert dict(log_context.current()) == {}


def test_configure_replaces_handlers_and_writes_json(restore_logging: None) -> None:
    stream = io.StringIO()
    configure("info", "json", [SECRET], stream=stream)
    logging.getLogger("bot.x").debug("hidden")
    logging.getLogger("bot.x").info("shown %s", SECRET)
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["shown [redacted]"]


def test_reply_timing_observes_staleness_and_final_visibility() -> None:
    now = [100.0]
    timing = metrics.ReplyTiming(clock=lambda: now[0])

    def count(name: str) -> float:
        return metrics.REGISTRY.get_sample_value(f"{name}_count") or 0.0

    staleness, final = count(STALENESS), count(FINAL)
    first = timing.shown(final=False)
    now[0] += 1.0
    second = timing.shown(final=False)
    now[0] += 2.0
    timing.written(second, final=False)  # shows both: the older one waited 3 s
    assert count(STALENESS) == staleness + 1
    assert first < second
    last = timing.shown(final=True)
    now[0] += 0.5
    timing.written(last, final=True)
    timing.written(timing.shown(final=True), final=True)  # shown again after a restart: counted once
    assert count(FINAL) == final + 1


def test_slack_results_keep_a_small_vocabulary() -> None:
    metrics.slack_call("chat.update", "not in <any> vocabulary")
    metrics.slack_call("chat.update", "ratelimited")
    text = metrics.render(active_relays=2, queued_messages=3, ready=True).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("qoder_slack_slack_calls_total", (("method", "chat.update"), ("result", "error")))] >= 1
    assert samples[("qoder_slack_slack_rate_limited_total", (("method", "chat.update"),))] >= 1
    assert samples[("qoder_slack_active_relays", ())] == 2 == samples[("qoder_slack_active_runs", ())]
    assert samples[("qoder_slack_queued_messages", ())] == 3


async def test_loop_lag_observes_how_late_the_timer_fires() -> None:
    name = "qoder_slack_event_loop_lag_seconds"
    now = [0.0]
    lateness = [0.0, 0.2]

    async def sleep(seconds: float) -> None:
        if not lateness:
            raise _Enough
        now[0] += seconds + lateness.pop(0)

    def sample(suffix: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(f"{name}_{suffix}", labels or None) or 0.0

    count, late, total = sample("count"), sample("bucket", le="0.1"), sample("sum")
    with pytest.raises(_Enough):  # the fake sleep ends the watch after two ticks
        await metrics.watch_loop_lag(interval=0.05, clock=lambda: now[0], sleep=sleep)
    assert sample("count") == count + 2
    assert sample("bucket", le="0.1") == late + 1, "on time counts under 0.1 s, 0.2 s late does not"
    assert sample("sum") - total == pytest.approx(0.2)


class _Enough(Exception):
    pass
