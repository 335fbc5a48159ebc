"""``/qoder …`` text → a typed command. Pure; ``UsageError`` carries the short answer for bad input.

Grammar (verbs and options are case-insensitive)::

    /qoder new <task> [--agent ID] [--env ID] [--outcome TEXT]   options anywhere; "--" ends them
    /qoder list | /qoder status | /qoder help
    /qoder stop <n>                                               n from /qoder list ("#2" also works)
    /qoder config                                                 show this channel's defaults
    /qoder config agent <ID|default> | env <ID|default>           set one (default: the workspace's)
    /qoder config [--agent ID] [--env ID] | /qoder config reset

An option's value is one word or a quoted text ("…", '…', “…”, ‘…’). Only the options above are options:
anything else in a task, ``pytest --lf`` included, is part of the task, written as it was. Dashes that
phones and macOS turn ``--`` into (— and –) count as ``--``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.render import escape

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
OUTCOME_LIMIT = 2000
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "”": "”", "„": "“"}
_DASHES = ("--", "—", "–")
_OPTIONS = {"agent": "agent", "env": "env", "environment": "env", "outcome": "outcome"}
_DEFAULT_WORDS = frozenset({"default", "reset", "none"})
VERBS = ("new", "list", "stop", "status", "config", "help")


class UsageError(ValueError):
    """The text is not a command; ``str(error)`` is the short answer to give."""


@dataclass(frozen=True)
class Help:
    """``/qoder help`` (also an empty ``/qoder``)."""


@dataclass(frozen=True)
class New:
    """Start a session for ``task``; "" options mean the channel's defaults and no outcome."""

    task: str
    agent_id: str = ""
    environment_id: str = ""
    outcome: str = ""


@dataclass(frozen=True)
class ListSessions:
    """``/qoder list``."""


@dataclass(frozen=True)
class Stop:
    """Stop the running turn of session ``number`` of ``/qoder list`` (1 is the newest)."""

    number: int


@dataclass(frozen=True)
class Status:
    """``/qoder status``."""


@dataclass(frozen=True)
class ShowConfig:
    """Show the channel's defaults."""


@dataclass(frozen=True)
class SetConfig:
    """Change the channel's defaults: None keeps a value, "" returns it to the workspace's default."""

    agent_id: str | None = None
    environment_id: str | None = None


Command = Help | New | ListSessions | Stop | Status | ShowConfig | SetConfig


@dataclass(frozen=True)
class _Token:
    value: str
    start: int
    end: int
    quoted: bool = False
    unclosed: bool = False


def parse(text: str) -> Command:
    """The command ``text`` (what follows ``/qoder``) asks for; ``UsageError`` when it asks for nothing."""
    tokens = _tokens(text)
    if not tokens:
        return Help()
    verb = tokens[0].value.lower()
    rest = tokens[1:]
    if verb == "new":
        return _new(text, rest)
    if verb == "list":
        return ListSessions()
    if verb == "status":
        return Status()
    if verb == "help":
        return Help()
    if verb == "stop":
        return _stop(rest)
    if verb == "config":
        return _config(rest)
    raise UsageError(f"`/qoder {escape(tokens[0].value)}` isn't a command. Try one of: {', '.join(VERBS)}.")


def _new(text: str, tokens: list[_Token]) -> New:
    options, cut, end_of_options = _options(tokens)
    task_from = tokens[0].start if tokens else len(text)
    if end_of_options is not None:
        pieces = [*_between(text, task_from, end_of_options.start, cut), text[end_of_options.end :]]
    else:
        pieces = _between(text, task_from, len(text), cut)
    task = _unquote(" ".join(piece.strip() for piece in pieces if piece.strip()))
    if not task:
        raise UsageError(
            "Tell me what to do: `/qoder new &lt;task&gt;`, e.g. `/qoder new fix the flaky login test`."
        )
    return New(task, options.get("agent", ""), options.get("env", ""), options.get("outcome", ""))


def _stop(tokens: list[_Token]) -> Stop:
    if not tokens:
        raise UsageError("Which one? `/qoder stop &lt;n&gt;`, with n from `/qoder list`.")
    word = tokens[0].value.removeprefix("#")
    if len(tokens) > 1 or not word.isdigit() or int(word) < 1:
        raise UsageError(
            f"`{escape(tokens[0].value)}` isn't a session number. Use `/qoder stop &lt;n&gt;` with n from `/qoder list`."
        )
    return Stop(int(word))


def _config(tokens: list[_Token]) -> ShowConfig | SetConfig:
    if not tokens:
        return ShowConfig()
    first = tokens[0].value.lower()
    if first == "reset" and len(tokens) == 1:
        return SetConfig(agent_id="", environment_id="")
    if first in _OPTIONS and first != "outcome":
        if len(tokens) != 2:
            raise UsageError(f"Give one value: `/qoder config {first} &lt;id&gt;` (or `default`).")
        value = tokens[1].value
        chosen = "" if value.lower() in _DEFAULT_WORDS else _identifier(value, first)
        return SetConfig(agent_id=chosen) if _OPTIONS[first] == "agent" else SetConfig(environment_id=chosen)
    options, cut, end_of_options = _options(tokens)
    leftover = [t for t in tokens if not any(a <= t.start < b for a, b in cut)]
    if end_of_options is not None or leftover or not options or "outcome" in options:
        raise UsageError(
            "Use `/qoder config` to see this channel's defaults, `/qoder config agent &lt;id&gt;` or "
            "`/qoder config env &lt;id&gt;` to change one, `/qoder config reset` to use the workspace's."
        )
    return SetConfig(agent_id=options.get("agent"), environment_id=options.get("env"))


def _options(tokens: list[_Token]) -> tuple[dict[str, str], list[tuple[int, int]], _Token | None]:
    """The options among ``tokens``, the text spans they cover, and the ``--`` that ended them (if any)."""
    found: dict[str, str] = {}
    cut: list[tuple[int, int]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not token.quoted and token.value in _DASHES:
            return found, cut, token
        name, inline = _option_name(token)
        if name is None:
            index += 1
            continue
        if name in found:
            raise UsageError(f"`--{name}` is given twice.")
        end = token.end
        if inline is not None:
            value = inline
        else:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None or _option_name(following)[0] is not None:
                raise UsageError(f"`--{name}` needs a value, e.g. `--{name} {_example(name)}`.")
            if following.unclosed:
                raise UsageError(f"The value of `--{name}` opens a quote that never closes.")
            value, end = following.value, following.end
            index += 1
        found[name] = _option_value(name, value)
        cut.append((token.start, end))
        index += 1
    return found, cut, None


def _option_name(token: _Token) -> tuple[str | None, str | None]:
    """(option name, value given with ``=``) of an option token, else (None, None)."""
    if token.quoted:
        return None, None
    for dash in _DASHES:
        if token.value.startswith(dash) and len(token.value) > len(dash):
            word, equals, inline = token.value[len(dash) :].partition("=")
            name = _OPTIONS.get(word.lower())
            if name is not None:
                return name, _unquote(inline) if equals else None
    return None, None


def _option_value(name: str, value: str) -> str:
    if name == "outcome":
        outcome = value.strip()
        if not outcome:
            raise UsageError('`--outcome` needs a text, e.g. `--outcome "the tests pass"`.')
        if len(outcome) > OUTCOME_LIMIT:
            raise UsageError(f"`--outcome` can be at most {OUTCOME_LIMIT} characters.")
        return outcome
    return _identifier(value, name)


def _identifier(value: str, name: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise UsageError(
            f"`{escape(value)}` doesn't look like an {_noun(name)} id (e.g. `{_example(name)}`)."
        )
    return value


def _noun(name: str) -> str:
    return "agent" if _OPTIONS.get(name) == "agent" else "environment"


def _example(name: str) -> str:
    return {"agent": "agent_123", "env": "env_123", "outcome": '"the tests pass"'}.get(
        _OPTIONS.get(name, name), "…"
    )


def _tokens(text: str) -> list[_Token]:
    """Whitespace-separated words; a word that starts with a quote (or has one right after ``=``) runs to
    its closing quote."""
    tokens: list[_Token] = []
    index, length = 0, len(text)
    while index < length:
        if text[index].isspace():
            index += 1
            continue
        start = index
        close = _QUOTES.get(text[index])
        if close is not None:
            end = text.find(close, index + 1)
            if end != -1:
                tokens.append(_Token(text[index + 1 : end], start, end + 1, quoted=True))
                index = end + 1
                continue
        while index < length and not text[index].isspace():
            quote = _QUOTES.get(text[index + 1]) if text[index] == "=" and index + 1 < length else None
            closing = text.find(quote, index + 2) if quote is not None else -1
            index = closing + 1 if closing != -1 else index + 1  # --name="a quoted value"
        tokens.append(_Token(text[start:index], start, index, unclosed=close is not None))
    return tokens


def _between(text: str, start: int, end: int, cut: list[tuple[int, int]]) -> list[str]:
    """The pieces of ``text[start:end]`` outside the ``cut`` spans."""
    pieces: list[str] = []
    position = start
    for a, b in sorted(cut):
        if a >= end:
            break
        pieces.append(text[position:a])
        position = max(position, b)
    pieces.append(text[position:end])
    return pieces


def _unquote(value: str) -> str:
    """``value`` without the quotes around all of it, if it is quoted as a whole."""
    close = _QUOTES.get(value[:1])
    if len(value) >= 2 and close is not None and value[-1] == close and close not in value[1:-1]:
        return value[1:-1].strip()
    return value
