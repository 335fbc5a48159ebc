"""Logging for the whole process: ``text`` lines for people, or one JSON object per line (``LOG_FORMAT=json``).

Both formats add the thread, session and turn ids bound in ``bot.log_context`` and replace every
configured secret with ``[redacted]`` wherever it would appear (message, arguments, tracebacks), so a
token that finds its way into an exception or a library's debug line still never reaches the log.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, TextIO

from bot import log_context

REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(log_ids)s"
# Secrets shorter than this are not redacted: replacing a two-letter string would mangle every line.
_MIN_SECRET_LENGTH = 6


class _Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [channel=… thread=…]`` with secrets redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(TEXT_FORMAT)
        self._redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        ids = log_context.current()
        record.log_ids = (" [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]") if ids else ""
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time``, ``level``, ``logger``, ``message``, the bound ids
    (``team``, ``channel``, ``thread``, ``session``, ``turn``) and ``exception`` when there is one."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **log_context.current(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps({key: self._redact(value) for key, value in entry.items()}, ensure_ascii=False)


def configure(
    level: str,
    log_format: Literal["text", "json"],
    secrets: Iterable[str] = (),
    *,
    stream: TextIO | None = None,
) -> None:
    """Send every log record (and Python warnings) at ``level`` or above to ``stream`` (stderr) in
    ``log_format``, with ``secrets`` redacted. Replaces any handler configured before."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if log_format == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # slack_sdk formats every request and response for a debug line when its client's logger has no level
    # of its own (it tests ``logger.level <= DEBUG``, and NOTSET is 0), then drops the line.
    for name in _SLACK_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(level.upper())
    logging.captureWarnings(True)


_SLACK_CLIENT_LOGGERS = ("slack_sdk.web.async_base_client", "slack_sdk.web.base_client")
