"""Configuration: the documented variable names, defaults, and the startup report of what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_APP_TOKEN": "xapp-1",
    "QODER_PAT": "pt-secret-value",
    "QODER_AGENT_ID": "agent_1",
    "QODER_ENVIRONMENT_ID": "env_1",
}
NAMES = [
    *REQUIRED,
    "SLACK_SIGNING_SECRET",
    "SLACK_MODE",
    "PORT",
    "SLACK_API_URL",
    "QODER_API_URL",
    "STORE_URL",
    "STOP_REACTIONS",
    "UPDATE_INTERVAL",
    "ALLOWED_USERS",
    "ALLOWED_CHANNELS",
    "ALLOWED_BOTS",
    "USER_TURNS_PER_MINUTE",
    "MAX_MESSAGE_CHARS",
    "MAX_FILE_BYTES",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "ADMIN_USERS",
    "OUTCOME_MAX_ITERATIONS",
    "QODER_SESSION_URL",
    "REACTION_OUTCOME_MISSED",
    "MAX_FILE_BYTES",
    "APPROVERS",
    "APPROVAL_REMIND_AFTER",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_follow_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.mode == "socket"
    assert settings.PORT == 3000
    assert settings.STORE_URL == "sqlite:///./qoder-slack.db"
    assert settings.QODER_API_URL == "https://api.qoder.com/api/v1/cloud"
    assert settings.SLACK_API_URL == "https://slack.com/api/"
    assert settings.STOP_REACTIONS == ("octagonal_sign", "stop_sign", "no_entry", "no_entry_sign")
    assert settings.UPDATE_INTERVAL == 1.0
    assert settings.ALLOWED_USERS == () and settings.ALLOWED_CHANNELS == ()
    assert settings.ADMIN_USERS == ()


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STOP_REACTIONS", " x, :octagonal_sign: ,")
    monkeypatch.setenv("ALLOWED_USERS", "U1,U2")
    monkeypatch.setenv("ADMIN_USERS", "U9, U8")
    settings = load_settings()
    assert settings.STOP_REACTIONS == ("x", "octagonal_sign")
    assert settings.ALLOWED_USERS == ("U1", "U2")
    assert settings.ADMIN_USERS == ("U9", "U8")


def test_operator_limits_and_logging_have_safe_defaults_and_named_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.ALLOWED_BOTS == () and settings.USER_TURNS_PER_MINUTE == 0
    assert settings.MAX_MESSAGE_CHARS == 16_000
    assert settings.MAX_FILE_BYTES == 20 * 1024 * 1024
    assert (settings.LOG_FORMAT, settings.LOG_LEVEL) == ("text", "INFO")
    assert settings.secrets == ("xoxb-1", "xapp-1", "pt-secret-value")

    monkeypatch.setenv("ALLOWED_BOTS", "B1, U2")
    assert load_settings().ALLOWED_BOTS == ("B1", "U2")
    for name, bad in {
        "LOG_FORMAT": "xml",
        "LOG_LEVEL": "loud",
        "USER_TURNS_PER_MINUTE": "-1",
        "MAX_MESSAGE_CHARS": "lots",
        "MAX_FILE_BYTES": "0",
    }.items():
        monkeypatch.setenv(name, bad)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    named = {problem.split(":", 1)[0] for problem in caught.value.problems}
    assert named == {
        "LOG_FORMAT",
        "LOG_LEVEL",
        "USER_TURNS_PER_MINUTE",
        "MAX_MESSAGE_CHARS",
        "MAX_FILE_BYTES",
    }


@pytest.mark.parametrize("bad", ["0", "-5", "20MB"])
def test_max_file_bytes_is_a_positive_number_of_bytes(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    assert load_settings().MAX_FILE_BYTES == 20_971_520
    monkeypatch.setenv("MAX_FILE_BYTES", "1024")
    assert load_settings().MAX_FILE_BYTES == 1024
    monkeypatch.setenv("MAX_FILE_BYTES", bad)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert [problem.split(":", 1)[0] for problem in caught.value.problems] == ["MAX_FILE_BYTES"]


def test_http_mode_needs_the_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLACK_MODE", "http")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert any(p.startswith("SLACK_SIGNING_SECRET: missing") for p in caught.value.problems)


def test_every_problem_is_reported_at_once_without_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "not-a-bot-token-secret")
    monkeypatch.setenv("PORT", "many")
    monkeypatch.setenv("STORE_URL", "mysql://x")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    names = [problem.split(":", 1)[0] for problem in caught.value.problems]
    assert set(names) >= {
        "SLACK_BOT_TOKEN",
        "PORT",
        "STORE_URL",
        "QODER_PAT",
        "QODER_AGENT_ID",
        "SLACK_SIGNING_SECRET",
    }
    assert "not-a-bot-token-secret" not in str(caught.value)


def test_app_without_configuration_exits_2_naming_each_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in NAMES}
    result = subprocess.run(
        [sys.executable, str(REPO / "app.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    for name in (
        "SLACK_BOT_TOKEN",
        "QODER_PAT",
        "QODER_AGENT_ID",
        "QODER_ENVIRONMENT_ID",
        "SLACK_SIGNING_SECRET",
    ):
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_documents_every_variable() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Operating it")]
    missing = [name for name in Settings.model_fields if f"`{name}`" not in table]
    assert missing == [], f"README's configuration table lacks {missing}"


def test_outcome_settings_default_to_the_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.OUTCOME_MAX_ITERATIONS == 3
    assert settings.REACTION_OUTCOME_MISSED == "x"
    assert settings.session_url == "https://qoder.com/cloud/sessions/{session_id}"
    monkeypatch.setenv("QODER_API_URL", "https://api.qoder.com.cn/api/v1/cloud")
    assert load_settings().session_url == "https://qoder.com.cn/cloud/sessions/{session_id}"
    monkeypatch.setenv("QODER_API_URL", "http://127.0.0.1:9999/api/v1/cloud")
    assert load_settings().session_url == "", "no link for a host whose console is unknown"
    monkeypatch.setenv("QODER_SESSION_URL", "https://console.example/s/{session_id}")
    assert load_settings().session_url == "https://console.example/s/{session_id}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OUTCOME_MAX_ITERATIONS", "0"),
        ("OUTCOME_MAX_ITERATIONS", "21"),
        ("OUTCOME_MAX_ITERATIONS", "many"),
        ("QODER_SESSION_URL", "https://console.example/sessions"),
        ("QODER_SESSION_URL", "console.example/{session_id}"),
    ],
)
def test_bad_outcome_settings_are_named_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    for required, setting in REQUIRED.items():
        monkeypatch.setenv(required, setting)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    [problem] = caught.value.problems
    assert (
        problem.startswith(f"{name}: invalid") and "set it to" in problem and "a valid value" not in problem
    )


def test_approvers_and_the_reminder_have_defaults_and_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for required, setting in REQUIRED.items():
        monkeypatch.setenv(required, setting)
    settings = load_settings()
    assert settings.APPROVERS == () and settings.APPROVAL_REMIND_AFTER == 600.0
    monkeypatch.setenv("APPROVERS", " U2, W3 ,S4")
    monkeypatch.setenv("APPROVAL_REMIND_AFTER", "0.5")
    settings = load_settings()
    assert settings.APPROVERS == ("U2", "W3", "S4") and settings.APPROVAL_REMIND_AFTER == 0.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APPROVERS", "U2,@dana"),
        ("APPROVERS", "C123"),
        ("APPROVAL_REMIND_AFTER", "-1"),
        ("APPROVAL_REMIND_AFTER", "soon"),
    ],
)
def test_bad_approval_settings_are_named_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    for required, setting in REQUIRED.items():
        monkeypatch.setenv(required, setting)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    [problem] = caught.value.problems
    assert (
        problem.startswith(f"{name}: invalid") and "set it to" in problem and "a valid value" not in problem
    )
