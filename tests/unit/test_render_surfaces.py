"""The /qoder answers, the Ask Qoder modal and the Home tab stay within what Slack accepts."""

from __future__ import annotations

import json
import re

import pytest

from bot.render.home import HOW_TO_START, home_view
from bot.render.modal import OUTCOME_BLOCK, TASK_BLOCK, AskContext, ask_modal
from bot.render.panels import (
    DefaultsView,
    SessionRow,
    render_defaults,
    render_not_admin,
    render_session_list,
    response,
)
from bot.slack.command_line import UsageError, parse
from bot.slack.commands import HELP
from tests.fakes.block_kit import input_elements, validate_view
from tests.fakes.slack_content import validate_blocks

ROW = SessionRow(
    title="why is <!channel> red? | or not", state="running", channel="C1", link="https://x/p1", queued=2
)


def test_the_modal_fits_slack_even_for_a_huge_message_and_carries_its_context() -> None:
    context = AskContext("C1", "1.2", "1.1", "U2", 'é\n"quoted" ' * 2000, "https://hooks.slack.com/r/1")
    view = ask_modal(context)
    assert validate_view(view, "modal") == []
    assert len(view["private_metadata"]) <= 3000
    back = AskContext.from_metadata(view["private_metadata"])
    assert (back.channel, back.ts, back.thread_ts, back.author, back.response_url) == (
        "C1",
        "1.2",
        "1.1",
        "U2",
        "https://hooks.slack.com/r/1",
    )
    assert back.text.endswith("…") and context.text.startswith(back.text[:-1])
    inputs = input_elements(view)
    assert set(inputs) == {TASK_BLOCK, OUTCOME_BLOCK} and inputs[OUTCOME_BLOCK][2] is True
    assert inputs[TASK_BLOCK][1]["initial_value"].startswith("Help with this message: “é")


def test_metadata_of_another_form_is_refused() -> None:
    for metadata in ("", "{}", "[1]", json.dumps({"channel": "C1"})):
        with pytest.raises(ValueError):
            AskContext.from_metadata(metadata)


def test_the_home_tab_fits_slack_with_many_sessions() -> None:
    view = home_view([ROW] * 40, agent_id="agent_<x>", environment_id="env_1")
    assert validate_view(view, "home") == []
    text = json.dumps(view)
    assert "<!channel>" not in text and "agent_&lt;x&gt;" in text and "<#C1>" in text


def test_answers_are_valid_messages_and_escape_what_people_wrote() -> None:
    listing = render_session_list([ROW] * 60)
    validate_blocks(list(listing.blocks))
    assert len(listing.text) <= 3900
    assert (
        "<!channel>" not in listing.text
        and "<https://x/p1|why is &lt;!channel&gt; red? ¦ or not>" in listing.text
    )
    assert listing.text.startswith("*Qoder sessions in this channel*") and "*1.*" in listing.text
    assert ":hourglass_flowing_sand: running, 2 queued" in listing.text
    defaults = DefaultsView("agent_a", "env_b", True, False, set_by="U3", admins=("U8", "U9"))
    assert "Only <@U8> or <@U9> can change them" in render_defaults(defaults, may_change=False).text
    assert "set for this channel by <@U3>" in render_defaults(defaults, may_change=True).text
    assert "Only <@U8> can change" in render_not_admin(["U8"]).text
    assert response(render_not_admin(["U8"]))["response_type"] == "ephemeral"


# Slack reads "<…>" in mrkdwn as a link, mention or command: the bot's own words must not hold any other.
NOT_A_SLACK_TOKEN = re.compile(r"<(?![@#!]|https?://|mailto:)[^>]*>")


def test_the_bots_own_words_hold_no_stray_angle_brackets() -> None:
    texts = [HELP, HOW_TO_START, json.dumps(home_view([], agent_id="a", environment_id="e"))]
    texts += [render_session_list([]).text, render_session_list([ROW]).text]
    texts.append(render_defaults(DefaultsView("a", "e", False, False), may_change=True).text)
    for bad in ("new", "stop", "stop x", "config agent", "config colour", "frob <x>", "new a --agent '<x>'"):
        with pytest.raises(UsageError) as raised:
            parse(bad)
        texts.append(str(raised.value))
    for text in texts:
        assert NOT_A_SLACK_TOKEN.search(text) is None, text
