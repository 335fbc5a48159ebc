"""``python app.py --check`` against the fakes: what works, what does not, and the exit status."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from tests.e2e.harness import REPO, FakeQoder, FakeSlack


async def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "app.py", "--check"],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_everything_reachable_exits_0(env: dict[str, str], slack: FakeSlack, qoder: FakeQoder) -> None:
    result = await check(env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok   configuration",
        "ok   Slack",
        "ok   Qoder",
        "ok   store",
    ]
    assert env["SLACK_BOT_TOKEN"] not in result.stdout + result.stderr
    assert env["QODER_PAT"] not in result.stdout + result.stderr


async def test_a_bad_qoder_token_fails_and_says_which_variable(env: dict[str, str]) -> None:
    result = await check({**env, "QODER_PAT": "pt-wrong-secret"})
    assert result.returncode == 1
    qoder_line = next(line for line in result.stdout.splitlines() if " Qoder:" in line)
    assert qoder_line.startswith("FAIL") and "QODER_PAT" in qoder_line
    assert "pt-wrong-secret" not in result.stdout + result.stderr
    assert any(line.startswith("ok   Slack") for line in result.stdout.splitlines())


async def test_unreachable_slack_fails(env: dict[str, str]) -> None:
    result = await check({**env, "SLACK_BOT_TOKEN": "xoxb-not-the-right-one"})
    assert result.returncode == 1
    assert any(
        line.startswith("FAIL Slack") and "invalid_auth" in line for line in result.stdout.splitlines()
    )
