"""``configure`` gives slack_sdk's client loggers the bot's level: slack_sdk formats a debug line of every
request and response whenever its logger has no level of its own, even with debug output off."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from slack_sdk.web import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.logging_setup import _SLACK_CLIENT_LOGGERS, configure


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in _SLACK_CLIENT_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)


def test_the_loggers_named_are_the_ones_slack_clients_use() -> None:
    assert {AsyncWebClient(token="xoxb-1")._logger.name, WebClient(token="xoxb-1")._logger.name} == set(
        _SLACK_CLIENT_LOGGERS
    )


@pytest.mark.parametrize("level", ["INFO", "WARNING", "DEBUG"])
def test_slack_client_loggers_get_the_bot_level(level: str) -> None:
    configure(level, "text", stream=io.StringIO())
    for name in _SLACK_CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        assert logger.level == logging.getLevelName(level)
        # what slack_sdk tests before it formats a request's debug line
        assert (logger.level <= logging.DEBUG) == (level == "DEBUG")
