"""The content blocks a ``user.message`` may carry (qoder-api.md §2, N-SDK), checked as Qoder checks them:
text, image (base64 PNG/JPEG/GIF/WebP, URL or uploaded file) and document (base64 PDF, plain text, URL or
uploaded file, with an optional ``title``). Anything else is a 400."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from tests.fakes.qoder_api.errors import invalid

IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def check_content(content: list[Any]) -> None:
    """Raise a 400 ``ApiError`` for the first block Qoder would refuse."""
    for block in content:
        kind = block.get("type")
        if kind == "text":
            if not isinstance(block.get("text"), str):
                raise invalid("A text block needs a string 'text'.")
        elif kind == "image":
            _check_source(block, {"base64": IMAGE_MEDIA_TYPES})
        elif kind == "document":
            _check_source(
                block, {"base64": frozenset({"application/pdf"}), "text": frozenset({"text/plain"})}
            )
            if "title" in block and not isinstance(block["title"], str):
                raise invalid("A document's title must be a string.")
        else:
            raise invalid(f"Unsupported content block type {kind!r}.")


def _check_source(block: dict[str, Any], inline: dict[str, frozenset[str]]) -> None:
    source = block.get("source")
    if not isinstance(source, dict):
        raise invalid(f"An {block['type']} block needs a 'source'.")
    kind = source.get("type")
    if kind == "url":
        if not isinstance(source.get("url"), str):
            raise invalid("A url source needs a string 'url'.")
        return
    if kind == "file":
        if not isinstance(source.get("file_id"), str):
            raise invalid("A file source needs a 'file_id'.")
        return
    if kind not in inline:
        raise invalid(f"Unsupported {block['type']} source type {kind!r}.")
    if source.get("media_type") not in inline[kind]:
        raise invalid(f"Unsupported media_type {source.get('media_type')!r} for a {kind} {block['type']}.")
    data = source.get("data")
    if not isinstance(data, str):
        raise invalid("An inline source needs string 'data'.")
    if kind == "base64":
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise invalid("The base64 data does not decode.") from error
