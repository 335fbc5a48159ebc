"""Typed Qoder errors: which HTTP answer becomes which error, and what the thread is told about each."""

from __future__ import annotations

import httpx
import pytest

from bot.qoder import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    QoderError,
    RateLimitedError,
    ServerError,
)
from bot.qoder.errors import error_from_response
from bot.threads._shared import explain


def answer(status: int, error_type: str = "x", message: str = "no") -> httpx.Response:
    body = {"type": "error", "request_id": "req_1", "error": {"type": error_type, "message": message}}
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitedError),
        (503, ServerError),
    ],
)
def test_each_status_gets_its_own_error(status: int, kind: type[QoderError]) -> None:
    error = error_from_response(answer(status))
    assert type(error) is kind
    assert (error.status, error.request_id, error.message) == (status, "req_1", "no")


def test_a_403_is_not_a_credentials_problem() -> None:
    error = error_from_response(answer(403, "permission_error", "Not allowed to use agent_1."))
    assert isinstance(error, PermissionDeniedError) and isinstance(error, QoderError)
    assert not isinstance(error, AuthenticationError)
    assert error.error_type == "permission_error"


def test_a_rejected_token_is_explained_as_credentials() -> None:
    sentence = explain(AuthenticationError("Invalid API key or token.", status=401))
    assert "credentials" in sentence and "QODER_PAT" in sentence


def test_a_403_is_explained_as_missing_access_with_what_to_check() -> None:
    sentence = explain(PermissionDeniedError("Not allowed to use agent_1.", status=403))
    assert "QODER_PAT" not in sentence and "credentials" not in sentence
    for what in ("workspace", "permissions", "QODER_AGENT_ID", "QODER_ENVIRONMENT_ID"):
        assert what in sentence
    assert sentence != explain(AuthenticationError("x", status=401))
