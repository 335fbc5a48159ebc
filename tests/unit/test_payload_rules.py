"""Everything the renderers give Slack is a payload Slack accepts, whatever the agent, the tools or people
wrote: every message, stream chunk and view passes ``tests.fakes.block_kit`` (slack_sdk's Block Kit models
plus the rules they do not enforce), the same checker the fake Slack refuses with."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.interactive import APPROVE_ACTION_ID, DENY_ACTION_ID, DENY_REASON_ACTION_ID, parse_approval_value
from bot.render import (
    SlackMessage,
    Streamed,
    StreamView,
    footer_blocks,
    plan_appends,
    render_mrkdwn,
    render_notice,
    render_stream,
    render_turn,
    render_turn_end_notice,
)
from bot.render.home import home_view
from bot.render.modal import AskContext, ask_modal
from bot.render.panels import (
    DefaultsView,
    Health,
    SessionRow,
    render_defaults,
    render_health,
    render_not_admin,
    render_reply,
    render_session_list,
    render_started,
    response,
)
from bot.turn import ArtifactItem, Decision, Phase, TextItem, ToolItem, ToolStatus, TurnItem, TurnState
from bot.turn_outcome import OutcomeState
from tests.fakes.block_kit import (
    MARKDOWN_LIMIT,
    chunk_refusal,
    house_problems,
    message_refusal,
    validate_view,
)

PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- what people, tools and agents write -----------------------------------------------------------------

STATUSES: tuple[ToolStatus, ...] = ("running", "done", "failed", "waiting")
PHASES: tuple[Phase, ...] = ("running", "done", "stopped", "failed", "needs_action", "terminated")

ODD = [
    "`", "```", "``", "<!channel>", "<!here|here>", "@here", "@everyone", "<@U123>", "<#C1|general>",
    "<https://x.io|x>", "🎉", "👩‍💻", "日本語", "\n", "\r\n", "\t", "&", "&amp;", "<", ">", "*", "_", "~", "|",
    ":x:", " ", "\\", '"', "\u200b", "\u2060",
]  # fmt: skip
odd_text = st.lists(st.one_of(st.sampled_from(ODD), st.text(max_size=12)), max_size=12).map("".join)
long_text = st.builds(
    lambda piece, n: piece * n,
    st.sampled_from(["x", "`", "<!channel> ", "🎉", "a\n"]),
    st.integers(100, 5000),
)
any_text = st.one_of(odd_text, long_text)

TOOL_NAMES = [
    "Bash",
    "Read",
    "Edit",
    "Write",
    "Grep",
    "Glob",
    "WebFetch",
    "WebSearch",
    "NotebookEdit",
    "Task",
    "mcp__github__create_issue",
    "deploy_to_prod",
]
tool_names = st.one_of(st.sampled_from(TOOL_NAMES), any_text)
INPUT_KEYS = [
    "command",
    "file_path",
    "notebook_path",
    "path",
    "pattern",
    "url",
    "query",
    "x",
    "",
    "weird key",
]
input_values = st.one_of(any_text, st.integers(), st.none(), st.booleans(), st.lists(odd_text, max_size=3))
tool_inputs = st.dictionaries(st.sampled_from(INPUT_KEYS), input_values, max_size=4)
tool_ids = st.one_of(
    st.from_regex(r"toolu_[A-Za-z0-9]{1,24}", fullmatch=True), st.text(min_size=1, max_size=40)
)
tools = st.builds(
    ToolItem,
    id=tool_ids,
    name=tool_names,
    input=tool_inputs,
    server=st.one_of(st.none(), st.sampled_from(["github", "<!channel>", "a`b", "x" * 300])),
    status=st.sampled_from(STATUSES),
    result=st.one_of(st.just(""), any_text),
    custom=st.booleans(),
    decision=st.one_of(
        st.none(),
        st.builds(
            Decision,
            allow=st.booleans(),
            by=st.sampled_from(["", "U123", "<!channel>"]),
            at=st.sampled_from([0.0, 1_700_000_000.0]),
            reason=st.one_of(st.just(""), any_text),
        ),
    ),
    undecided=st.one_of(st.just(""), odd_text),
)
artifacts = st.builds(
    ArtifactItem,
    id=tool_ids,
    filename=st.one_of(st.just(""), any_text, st.just("ci-report.md")),
    content_type=st.sampled_from(["", "text/markdown", "application/pdf", "<!here>"]),
    size=st.one_of(st.none(), st.integers(0, 10**12)),
)

FENCE = "```python\n" + "print('x')\n" * 40 + "```"
TABLE = "| a | b |\n|---|---|\n" + "| `x` | <!here> |\n" * 60
markdown_piece = st.one_of(
    odd_text,
    st.just(FENCE),
    st.just(TABLE),
    st.just("## Heading <!channel>"),
    st.just("- item\n  ```\n  code\n  ```"),
    st.builds(lambda n: "lorem ipsum dolor " * n, st.integers(1, 3000)),  # up to ~54 KB
    st.builds(lambda n: "```\n" + "x" * n, st.integers(1, 20_000)),  # a fence never closed
)
answers = st.lists(markdown_piece, min_size=1, max_size=6).map("\n\n".join)
texts = st.builds(
    TextItem, id=st.text(min_size=1, max_size=8), text=answers, partial=st.booleans(), aborted=st.booleans()
)
outcomes = st.builds(
    OutcomeState,
    description=any_text,
    max_iterations=st.one_of(st.none(), st.integers(1, 20)),
    iteration=st.integers(0, 20),
    verdicts=st.integers(0, 20),
    grading=st.booleans(),
    result=st.sampled_from([None, "satisfied", "needs_revision", "max_iterations_reached", "failed", "odd"]),
    explanation=any_text,
)


@st.composite
def turns(draw: st.DrawFn) -> TurnState:
    """Any turn, often with many tools and, waiting for approval, many pending tool calls (some already
    decided or given up), and files the agent delivered."""
    items: list[TurnItem] = draw(st.lists(st.one_of(tools, tools, texts, artifacts), max_size=12))
    if draw(st.booleans()):  # a burst of tools: many lines and, when waiting, many approvals
        status = draw(st.sampled_from(STATUSES))
        count = draw(st.integers(10, 120))
        items += [ToolItem(id=f"toolu_{n}", name=draw(tool_names), status=status) for n in range(count)]
    items = list({item.id: item for item in items}.values())  # a turn's items have distinct ids (see fold)
    phase = draw(st.sampled_from(PHASES))
    waiting = tuple(item.id for item in items if isinstance(item, ToolItem) and item.status == "waiting")
    return TurnState(
        items=tuple(items),
        thinking=draw(st.booleans()),
        phase=phase,
        stop_reason=draw(st.one_of(st.none(), st.sampled_from(["end_turn", "max_tokens"]), odd_text)),
        error=draw(st.one_of(st.none(), any_text)),
        notice=draw(st.one_of(st.none(), any_text)),
        pending_action_ids=waiting if phase == "needs_action" else (),
        credits=draw(st.one_of(st.none(), st.floats(0, 1e6))),
        started_at=draw(st.sampled_from([None, 0.0])),
        ended_at=draw(st.sampled_from([None, 130.0, 90_000.0])),
        outcome=draw(st.one_of(st.none(), outcomes)),
    )


# --- checks ----------------------------------------------------------------------------------------------


def assert_accepted(message: SlackMessage) -> None:
    """Slack takes ``message`` as a post and as an edit, and it keeps the bot's own promises."""
    payload = message.payload()
    assert message_refusal(payload, update=True) is None, message_refusal(payload, update=True)
    assert house_problems(payload) == []


def assert_stream_accepted(view: StreamView) -> None:
    """Every append of the stream, from nothing and in two steps, is one Slack takes; no stream message
    gets more than 12,000 characters of Markdown; the footer is valid blocks."""
    half = plan_appends(
        Streamed(), view.markdown[: len(view.markdown) // 2], view.tasks[: len(view.tasks) // 2]
    )
    rest = plan_appends(half[-1].streamed, view.markdown, view.tasks)
    in_message = 0
    for append in (*half, *rest):
        assert chunk_refusal(list(append.chunks)) is None, chunk_refusal(list(append.chunks))
        in_message += sum(len(c["text"]) for c in append.chunks if c["type"] == "markdown_text")
        assert in_message <= MARKDOWN_LIMIT
        if append.full:
            in_message = 0
    blocks = footer_blocks(view.footer)
    if blocks:
        assert message_refusal({"blocks": blocks}) is None, message_refusal({"blocks": blocks})


# --- properties ------------------------------------------------------------------------------------------


@PROPS
@given(turns(), st.sampled_from([None, "T1:C1:1700000000.000100", "T1:D1:" + "9" * 60]))
def test_every_message_of_a_turn_is_accepted(state: TurnState, stop_value: str | None) -> None:
    messages = render_turn(state, stop_value=stop_value, now=10.0)
    assert messages
    for message in messages:
        assert_accepted(message)


@st.composite
def approvals(draw: st.DrawFn) -> TurnState:
    """A turn waiting for people to approve any number of tool calls (built-in, MCP or custom)."""
    waiting = draw(
        st.lists(
            st.builds(
                ToolItem,
                id=tool_ids,
                name=tool_names,
                input=tool_inputs,
                status=st.just("waiting"),
                server=st.one_of(st.none(), st.just("github")),
                custom=st.booleans(),
            ),
            min_size=1,
            max_size=40,
            unique_by=lambda tool: tool.id,
        )
    )
    ids = {tool.id for tool in waiting}
    before = [i for i in draw(st.lists(st.one_of(tools, texts, artifacts), max_size=4)) if i.id not in ids]
    return TurnState(
        items=(*before, *waiting),
        phase="needs_action",
        pending_action_ids=tuple(tool.id for tool in waiting),
        started_at=0.0,
        ended_at=draw(st.sampled_from([None, 30.0])),
    )


@PROPS
@given(approvals(), st.sampled_from(["T1:C1:1700000000.000100", "T1:D1:" + "9" * 60]))
def test_every_message_asking_for_approvals_is_accepted(state: TurnState, stop_value: str) -> None:
    waiting = {item.id for item in state.items if isinstance(item, ToolItem) and item.status == "waiting"}
    for message in render_turn(state, stop_value=stop_value, now=10.0):
        assert_accepted(message)
        for block in message.blocks:
            for element in block.get("elements", []) if block["type"] == "actions" else []:
                action_id = str(element.get("action_id", ""))
                if action_id in (APPROVE_ACTION_ID, DENY_ACTION_ID, DENY_REASON_ACTION_ID):
                    assert parse_approval_value(element["value"])[1] in waiting  # a click names its call


@PROPS
@given(st.one_of(turns(), approvals()))
def test_every_stream_append_of_a_turn_is_accepted(state: TurnState) -> None:
    assert_stream_accepted(render_stream(state, now=10.0))


@PROPS
@given(any_text)
def test_notices_and_the_bots_own_messages_are_accepted(text: str) -> None:
    for message in (render_notice(text), render_mrkdwn(text), render_reply(text)):
        assert_accepted(message)
        assert message_refusal(response(message)) is None


@PROPS
@given(turns(), st.sampled_from(["", "https://x.slack.com/archives/C1/p1", "https://x/|<!here>"]))
def test_the_turn_end_notice_is_accepted(state: TurnState, link: str) -> None:
    assert_accepted(render_turn_end_notice("U123", state, link))


rows = st.builds(
    SessionRow,
    title=any_text,
    state=st.sampled_from(["running", "canceling", "idle", "terminated", "unknown", "<!here>"]),
    channel=st.sampled_from(["C1", "D1"]),
    link=st.sampled_from(["", "https://x.slack.com/archives/C1/p1"]),
    queued=st.integers(0, 1000),
    session_id=st.text(max_size=40),
)
defaults = st.builds(
    DefaultsView,
    agent_id=any_text,
    environment_id=any_text,
    agent_from_channel=st.booleans(),
    environment_from_channel=st.booleans(),
    set_by=st.sampled_from(["", "U1"]),
    admins=st.lists(st.sampled_from(["U1", "U2", "W3"]), max_size=60).map(tuple),
)


@PROPS
@given(st.lists(rows, max_size=80), defaults, st.booleans(), st.booleans())
def test_every_panel_is_accepted(
    listed: list[SessionRow], view: DefaultsView, may_change: bool, saved: bool
) -> None:
    panels = [
        render_session_list(listed),
        render_health(Health(store_ok=may_change, qoder_ok=saved, active_runs=len(listed)), view),
        render_defaults(view, may_change=may_change, saved=saved),
        render_not_admin(view.admins),
        render_started(listed[0].link if listed else ""),
    ]
    for message in panels:
        assert_accepted(message)
        assert message_refusal(response(message)) is None


@PROPS
@given(st.lists(rows, max_size=80), any_text, any_text)
def test_the_home_tab_is_accepted(listed: list[SessionRow], agent: str, environment: str) -> None:
    assert validate_view(home_view(listed, agent_id=agent, environment_id=environment), "home") == []


@PROPS
@given(any_text, st.sampled_from(["", "U1"]), st.sampled_from(["", "https://hooks.slack.com/r/1"]))
def test_the_ask_modal_is_accepted(text: str, author: str, response_url: str) -> None:
    context = AskContext("C1", "1.2", "1.1", author, text, response_url)
    assert validate_view(ask_modal(context), "modal") == []
