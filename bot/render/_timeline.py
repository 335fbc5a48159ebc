"""A turn as Slack messages: the live timeline while it runs, a collapsed summary once it has finished."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from typing import Any

from bot.render._artifact import artifact_line
from bot.render._limits import (
    APPROVAL_INPUT_LIMIT,
    APPROVAL_REASON_LIMIT,
    STATUS_NOTICE_LIMIT,
    STOP_REASON_LIMIT,
    TOOL_SUMMARY_LIMIT,
    truncate,
)
from bot.render._message import Part, SlackMessage, approval_buttons, build_messages
from bot.render._outcome import grader_line, running_lines, verdict
from bot.render._safety import safe_text
from bot.turn import ArtifactItem, Decision, TextItem, ToolItem, TurnItem, TurnState, awaiting

CUT_OFF = "_(cut off)_"  # after a text the agent did not finish
NO_ANSWER = "_No answer._"  # a finished turn that showed nothing

STATUS_EMOJI = {
    "running": ":hourglass_flowing_sand:",
    "done": ":white_check_mark:",
    "failed": ":x:",
    "waiting": ":raised_hand:",
}
_PATH_TOOLS = ("read", "edit", "multiedit", "write", "notebookedit")


_SLACK_USER = re.compile(r"[UW][A-Z0-9]{1,40}")


def render_turn(
    state: TurnState, *, stop_value: str | None = None, now: float | None = None
) -> list[SlackMessage]:
    """The messages showing ``state``, in thread order (at least one).

    While running: every tool line (sections) and answer text (markdown blocks) in stream order, then the
    notice and a status line (context); the last message carries the stop button when ``stop_value`` is
    given. Once finished: one context line summing up the tools and the outcome's verdict (with the grader's
    explanation under it), the answer texts, how the turn ended (sections), and a footer (duration, credits,
    unusual stop reason). ``now`` stands in for ``ended_at`` when missing.

    Each tool call a person may still decide (see :func:`bot.turn.awaiting`) gets a prompt of its own: what
    will run, and (when ``stop_value`` names the thread) its Approve / Deny / Deny with reason… buttons; a
    decided one says who decided what and when. Prompts spill into further messages as Slack's limits need.
    """
    if not state.finished:
        return build_messages(_running(state, stop_value), stop_value=stop_value)
    return build_messages(_finished(state, now, stop_value), footer=turn_footer(state, now))


def approval_parts(state: TurnState, thread_value: str | None) -> list[Part]:
    """In stream order, a prompt for each tool call still to decide (with buttons when ``thread_value`` is
    given) and a line for each one decided, or closed without a decision."""
    still = awaiting(state)
    parts: list[Part] = []
    for tool in state.items:
        if not isinstance(tool, ToolItem):
            continue
        if tool.id in still:
            parts.append(_prompt(tool, thread_value))
        elif tool.decision is not None or tool.undecided:
            parts.append(Part("section", decision_line(tool)))
    return parts


def _prompt(tool: ToolItem, thread_value: str | None) -> Part:
    what = approval_input(tool)
    name = _tool_name(tool)
    text = (
        f":raised_hand: *{name}* wants to run:\n```\n{what}\n```"
        if what
        else f":raised_hand: *{name}* wants to run (no input)."
    )
    actions = approval_buttons(thread_value, tool.id) if thread_value is not None else None
    return Part("section", text, actions)


def approval_input(tool: ToolItem) -> str:
    """What the call will run, as safe mrkdwn for inside a code block: a shell tool's command, else its
    input as compact JSON; cut to fit ``APPROVAL_INPUT_LIMIT`` once escaped ("" for no input)."""
    raw = _arg(tool.input, "command") if tool.name.lower() == "bash" else ""
    if not raw.strip() and tool.input:
        raw = json.dumps(tool.input, ensure_ascii=False, separators=(",", ":"), default=str)
    raw = raw.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not raw.strip():
        return ""
    keep = len(raw)
    while True:
        text = safe_text(truncate(raw, keep))
        if len(text) <= APPROVAL_INPUT_LIMIT:
            return text
        keep = max(1, min(keep - 1, int(keep * APPROVAL_INPUT_LIMIT / len(text))))


def decision_line(tool: ToolItem) -> str:
    """``✅ *Bash* `cmd` — approved by <@U1> at 14:05`` (or denied, with the reason; or not decided, and
    why) as safe mrkdwn."""
    summary = tool_summary(tool)
    head = f"*{_tool_name(tool)}*" + (f" `{safe_text(summary)}`" if summary else "")
    decision = tool.decision
    if decision is None:
        return f":heavy_minus_sign: {head} — not decided: {safe_text(tool.undecided)}"
    words = decided_words(decision)
    return f"{':white_check_mark:' if decision.allow else ':no_entry_sign:'} {head} — {words}"


def decided_words(decision: Decision) -> str:
    """``approved by <@U1> at <time>`` / ``denied by … : “reason”`` as safe mrkdwn."""
    who = f" by <@{decision.by}>" if _SLACK_USER.fullmatch(decision.by) else ""
    when = f" at {slack_time(decision.at)}" if decision.at > 0 else ""
    words = f"{'approved' if decision.allow else 'denied'}{who}{when}"
    reason = _one_line(decision.reason, APPROVAL_REASON_LIMIT)
    return f"{words}: “{safe_text(reason)}”" if reason and not decision.allow else words


def slack_time(epoch: float) -> str:
    """A time each reader sees in their own time zone (``HH:MM UTC`` where Slack cannot localise)."""
    fallback = time.strftime("%H:%M UTC", time.gmtime(epoch))
    return f"<!date^{int(epoch)}^{{time}}|{fallback}>"


def _tool_name(tool: ToolItem) -> str:
    name = " ".join(tool.name.split()) or "tool"
    if tool.server:
        name = f"{' '.join(tool.server.split())} · {name}"
    return safe_text(_one_line(name, TOOL_SUMMARY_LIMIT))


def tool_line(tool: ToolItem) -> str:
    """``<status emoji> *Name* `summary``` as safe mrkdwn."""
    name = safe_text(" ".join(tool.name.split()) or "tool")
    summary = tool_summary(tool)
    line = f"{STATUS_EMOJI[tool.status]} *{name}*"
    line = f"{line} `{safe_text(summary)}`" if summary else line
    return f"{line} · {decided_words(tool.decision)}" if tool.decision is not None else line


def tool_summary(tool: ToolItem) -> str:
    """A one-line description of a tool call's input (raw text, at most ~80 chars, no backticks)."""
    kind = tool.name.lower()
    args = tool.input
    if tool.server:
        raw = f"{tool.server} · {tool.name}"
    elif kind == "bash":
        raw = _arg(args, "command")
    elif kind in _PATH_TOOLS:
        raw = _arg(args, "file_path") or _arg(args, "notebook_path") or _arg(args, "path")
    elif kind in ("grep", "glob"):
        pattern, path = _arg(args, "pattern"), _arg(args, "path")
        raw = f"{pattern} in {path}" if path else pattern
    elif kind == "webfetch":
        raw = _arg(args, "url")
    elif kind == "websearch":
        raw = _arg(args, "query")
    else:
        strings = [value for value in args.values() if isinstance(value, str) and value.strip()]
        raw = next((value for value in strings if len(value) <= 200), strings[0] if strings else "")
    return _one_line(raw.replace("`", ""), TOOL_SUMMARY_LIMIT)


def format_duration(seconds: float) -> str:
    """``8s``, ``2m 10s``, ``1h 5m``."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if minutes else f"{hours}h"


def _running(state: TurnState, thread_value: str | None) -> list[Part]:
    status = running_lines(state.outcome) if state.outcome is not None else []
    if state.notice:
        status.append(f"_{safe_text(_one_line(state.notice, STATUS_NOTICE_LIMIT))}_")
    status.append("_Thinking…_" if state.thinking else "_Working…_")
    # calls still to decide while the turn runs again: their prompts stay (the stream is behind the answers)
    still = set(awaiting(state))
    prompts = [
        _prompt(item, thread_value) for item in state.items if isinstance(item, ToolItem) and item.id in still
    ]
    shown = [item for item in state.items if not (isinstance(item, ToolItem) and item.id in still)]
    return [*_timeline(shown), *prompts, Part("context", "\n".join(status))]


def _timeline(items: Iterable[TurnItem]) -> list[Part]:
    """Parts in stream order: consecutive tool calls and delivered files share one section, one line each."""
    parts: list[Part] = []
    tools: list[str] = []
    for item in items:
        if isinstance(item, ToolItem):
            tools.append(tool_line(item))
            continue
        if isinstance(item, ArtifactItem):
            tools.append(artifact_line(item))
            continue
        if tools:
            parts.append(Part("section", "\n".join(tools)))
            tools = []
        parts += _answer(item)
    if tools:
        parts.append(Part("section", "\n".join(tools)))
    return parts


def _finished(state: TurnState, now: float | None, thread_value: str | None) -> list[Part]:
    tools = [item for item in state.items if isinstance(item, ToolItem)]
    ran = [tool for tool in tools if tool.status != "waiting"]
    summary = [_tools_summary(ran, _duration(state, now))] if ran else []
    if state.outcome is not None:  # the verdict joins the summary line; the grader's words go under it
        summary = [" · ".join([*summary, verdict(state.outcome)]), grader_line(state.outcome)]
    parts = [Part("context", "\n".join(line for line in summary if line))] if summary else []
    parts += [part for item in state.items if isinstance(item, TextItem) for part in _answer(item)]
    files = [artifact_line(item) for item in state.items if isinstance(item, ArtifactItem)]
    parts += [Part("section", "\n".join(files))] if files else []
    parts += [Part("section", line) for line in outcome_lines(state)]
    if state.phase == "needs_action":
        parts += approval_parts(state, thread_value)
    elif lines := [decision_line(t) for t in tools if t.decision is not None or t.undecided]:
        parts.append(Part("context", "\n".join(lines)))  # who decided what, for the record
    return parts or [Part("context", NO_ANSWER)]


def _tools_summary(tools: list[ToolItem], duration: str | None) -> str:
    failed = sum(tool.status == "failed" for tool in tools)
    line = (
        f"{':x:' if failed else ':white_check_mark:'} Ran {len(tools)} tool{'' if len(tools) == 1 else 's'}"
    )
    if failed:
        line += f" ({failed} failed)"
    return f"{line} in {duration}" if duration else line


def outcome_lines(state: TurnState) -> list[str]:
    """How a finished turn ended, as lines of safe mrkdwn (none when it simply finished); for a turn waiting
    for approval, which calls it waits on."""
    if state.phase == "stopped":
        return [":octagonal_sign: _Stopped._"]
    if state.phase == "failed":
        return [f":warning: {safe_text(state.error or 'The run failed.')}"]
    if state.phase == "terminated":
        return [f":warning: {safe_text(state.error or 'The session has ended.')}"]
    if state.phase == "needs_action":
        still = set(awaiting(state))
        if not still:
            return []  # every call is decided: the turn is about to go on
        waiting = [t for t in state.items if isinstance(t, ToolItem) and t.id in still]
        names = list(dict.fromkeys(f"*{_tool_name(tool)}*" for tool in waiting))
        return [f":raised_hand: Waiting for your approval{f' to run {_and(names)}' if names else ''}."]
    return []


def _answer(item: TextItem) -> list[Part]:
    """The item's Markdown, and a note when its message was cut off."""
    parts = [Part("markdown", item.text)] if item.text.strip() else []
    return [*parts, Part("context", CUT_OFF)] if item.aborted else parts


def turn_footer(state: TurnState, now: float | None) -> str:
    """Duration, credits and an unusual stop reason, as one line of safe mrkdwn (empty when none is known);
    ``now`` stands in for ``ended_at`` when missing."""
    parts = []
    duration = _duration(state, now)
    if duration:
        parts.append(duration)
    if state.credits is not None:
        parts.append(f"{state.credits:.2f} credits")
    if state.stop_reason and state.stop_reason != "end_turn":
        parts.append(f"stop reason: {safe_text(_one_line(state.stop_reason, STOP_REASON_LIMIT))}")
    return " · ".join(parts)


def _duration(state: TurnState, now: float | None) -> str | None:
    end = state.ended_at if state.ended_at is not None else now
    if state.started_at is None or end is None:
        return None
    return format_duration(end - state.started_at)


def _arg(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    return value if isinstance(value, str) else ""


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


_ENDINGS = {"done": "is done", "stopped": "was stopped", "failed": "failed"}


def render_turn_end_notice(user: str, state: TurnState, link: str = "") -> SlackMessage:
    """The message that tells ``user`` (a Slack user id) that their long turn ended, and how; with a link
    to the answer when Slack gave one. Edits notify no one, so this is a new message that mentions them."""
    took = ""
    if state.started_at is not None and state.ended_at is not None:
        took = f" after {format_duration(state.ended_at - state.started_at)}"
    ending = _ENDINGS.get(state.phase, "ended")
    see = (
        f" <{link}|See the answer.>"
        if link.startswith("https://") and ">" not in link and "|" not in link
        else ""
    )
    return SlackMessage(text=f"<@{user}> your request {ending}{took}.{see}")


def render_approval_reminder(user: str, state: TurnState, link: str = "") -> SlackMessage:
    """The message reminding ``user`` (a Slack user id) that tool calls of their turn still wait for a
    decision, naming them; with a link to the reply holding the buttons when Slack gave one."""
    still = set(awaiting(state))
    names = list(
        dict.fromkeys(f"*{_tool_name(t)}*" for t in state.items if isinstance(t, ToolItem) and t.id in still)
    )
    what = f" to run {_and(names)}" if names else ""
    see = (
        f" <{link}|See the request.>"
        if link.startswith("https://") and ">" not in link and "|" not in link
        else ""
    )
    mention = f"<@{user}> " if _SLACK_USER.fullmatch(user) else ""
    return SlackMessage(text=f"{mention}the agent is still waiting for your approval{what}.{see}")
