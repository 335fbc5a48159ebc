"""A file the agent delivered, as one line of the reply's timeline and as a stream task card. Pure."""

from __future__ import annotations

from bot.render._safety import safe_plain, safe_text
from bot.turn import ArtifactItem

ARTIFACT_NAME_LIMIT = 80
UPLOAD_TITLE_LIMIT = 250
ARTIFACT_EMOJI = ":paperclip:"
ARTIFACT_SYMBOL = "\N{PAPERCLIP}"  # task card titles are plain text: no emoji codes there
UNNAMED = "file"


def artifact_name(filename: str, *, limit: int = ARTIFACT_NAME_LIMIT) -> str:
    """The agent-given ``filename`` on one line, without control characters, at most ``limit`` characters
    (raw text: neutralise before showing it)."""
    name = " ".join("".join(ch if ch.isprintable() else " " for ch in filename).split())
    if len(name) > limit:
        name = name[: limit - 1].rstrip() + "…"
    return name or UNNAMED


def upload_title(filename: str) -> str:
    """The title a delivered file gets in Slack: its original name, on one line, neutralised."""
    return safe_plain(artifact_name(filename, limit=UPLOAD_TITLE_LIMIT))


def upload_filename(filename: str) -> str:
    """The name Slack stores a delivered file under: the last part of the agent's path, on one line."""
    return artifact_name(filename.replace("\\", "/").rsplit("/", 1)[-1], limit=UPLOAD_TITLE_LIMIT)


def format_size(size: int) -> str:
    """``512 B``, ``2 KB``, ``1.5 MB``: one decimal below ten units, none above."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            if unit == "B":
                return f"{size} B"
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return f"{text.removesuffix('.0')} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _label(item: ArtifactItem) -> str:
    name = artifact_name(item.filename)
    return f"{name} ({format_size(item.size)})" if item.size is not None else name


def artifact_line(item: ArtifactItem) -> str:
    """``:paperclip: ci-report.md (2 KB)`` as safe mrkdwn."""
    return f"{ARTIFACT_EMOJI} {safe_text(_label(item))}"


def artifact_title(item: ArtifactItem) -> str:
    """The same as safe plain text, for a stream task card."""
    return f"{ARTIFACT_SYMBOL} {safe_plain(_label(item))}"
