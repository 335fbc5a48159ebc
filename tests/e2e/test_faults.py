"""Fault injection: Qoder and Slack failing in every documented way while people use the bot.

Each test ends with the thread as a person reads it: every message reached the agent once, every answer
appears once and whole, and anything that went wrong is explained in one plain sentence.
"""

from __future__ import annotations

import sqlite3

import httpx

from tests.e2e.harness import (
    CHANNEL,
    FakeQoder,
    FakeSlack,
    InProcessBot,
    SlackEvents,
    SubprocessBot,
    eventually,
    finished,
    mention,
    reply,
    reply_texts,
    thread_text,
)
from tests.fakes.qoder_api import Error, Sleep, Text


def requests_to(qoder: FakeQoder, method: str, suffix: str) -> int:
    return sum(1 for r in qoder.requests if r.method == method and r.path.endswith(suffix))


async def test_rejected_credentials_get_one_clear_sentence_and_no_retry_storm(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.fail_next(
        "POST", "/sessions", 401, error_type="authentication_error", message="Invalid API key or token."
    )
    ts = await mention(slack, events, "hello")
    await eventually(
        lambda: "QODER_PAT" in thread_text(slack, CHANNEL, ts), message=thread_text(slack, CHANNEL, ts)
    )
    assert requests_to(qoder, "POST", "/sessions") == 1, "a 401 is not retried"
    assert len(slack.bot_replies(CHANNEL, ts)) == 1
    await eventually(lambda: "warning" in slack.messages[(CHANNEL, ts)].reactions)


async def test_a_403_says_the_token_lacks_access_not_that_it_is_wrong(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.fail_next(
        "POST", "/sessions", 403, error_type="permission_error", message="No access to this environment."
    )
    ts = await mention(slack, events, "hello")
    await eventually(
        lambda: "QODER_ENVIRONMENT_ID" in thread_text(slack, CHANNEL, ts),
        message=thread_text(slack, CHANNEL, ts),
    )
    assert "QODER_PAT" not in thread_text(slack, CHANNEL, ts)
    assert requests_to(qoder, "POST", "/sessions") == 1, "a 403 is not retried"
    await eventually(lambda: "warning" in slack.messages[(CHANNEL, ts)].reactions)


async def test_a_deleted_session_is_replaced_and_the_user_is_told(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "first")
    await eventually(lambda: finished(slack, ts, "You said: first"))
    old = next(iter(qoder.sessions))
    qoder.delete(old)

    await reply(slack, events, ts, "second")
    await eventually(lambda: finished(slack, ts, "You said: second"), message=thread_text(slack, CHANNEL, ts))
    assert "no longer available" in thread_text(slack, CHANNEL, ts)
    assert len(qoder.sessions) == 2 and qoder.user_messages() == ["first", "second"]


async def test_an_archived_session_is_replaced(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "first")
    await eventually(lambda: finished(slack, ts, "You said: first"))
    old = next(iter(qoder.sessions))
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{qoder.base_url}/sessions/{old}/archive", headers={"Authorization": f"Bearer {qoder.token}"}
        )
        assert response.status_code == 200

    await reply(slack, events, ts, "after archive")
    await eventually(lambda: finished(slack, ts, "You said: after archive"))
    assert "no longer available" in thread_text(slack, CHANNEL, ts)
    assert qoder.user_messages(old) == ["first"]


async def test_a_terminated_session_fails_visibly_and_the_next_message_starts_anew(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("starting", chunks=1), Sleep(5.0), Text("never shown")])
    ts = await mention(slack, events, "doomed")
    await eventually(lambda: "starting" in thread_text(slack, CHANNEL, ts))
    qoder.terminate(next(iter(qoder.sessions)))
    await eventually(
        lambda: "session has ended" in thread_text(slack, CHANNEL, ts),
        message=thread_text(slack, CHANNEL, ts),
    )

    await reply(slack, events, ts, "try again")
    await eventually(
        lambda: finished(slack, ts, "You said: try again"), message=thread_text(slack, CHANNEL, ts)
    )
    assert len(qoder.sessions) == 2
    assert "never shown" not in thread_text(slack, CHANNEL, ts)


async def test_busy_answer_from_qoder_queues_until_the_session_is_idle(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    ts = await mention(slack, events, "first")
    await eventually(lambda: finished(slack, ts, "You said: first"))
    session = next(iter(qoder.sessions))
    # Another client starts a turn the bot knows nothing about.
    qoder.script([Sleep(3.0), Text("foreign answer")])
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{qoder.base_url}/sessions/{session}/events",
            headers={"Authorization": f"Bearer {qoder.token}"},
            json={
                "events": [{"type": "user.message", "content": [{"type": "text", "text": "from elsewhere"}]}]
            },
        )
        assert response.status_code == 200

    queued = await reply(slack, events, ts, "while busy")
    await eventually(lambda: "hourglass_flowing_sand" in slack.messages[(CHANNEL, queued)].reactions)
    await eventually(lambda: finished(slack, ts, "You said: while busy"), timeout=20)
    assert qoder.user_messages(session) == ["first", "from elsewhere", "while busy"]


async def test_server_errors_on_send_are_retried_and_the_message_arrives_once(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.fail_next("POST", "/events", 503, times=2)
    qoder.fail_next("POST", "/sessions", 429, retry_after=0.2)
    ts = await mention(slack, events, "despite errors")
    await eventually(lambda: finished(slack, ts, "You said: despite errors"), timeout=20)
    assert qoder.user_messages() == ["despite errors"]
    assert len(qoder.sessions) == 1
    assert "isn't answering" not in thread_text(slack, CHANNEL, ts), "short blips are invisible"


async def test_a_lasting_outage_is_explained_and_the_message_still_arrives(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.fail_next("POST", "/sessions", 503, times=5)
    ts = await mention(slack, events, "patience")
    await eventually(lambda: "isn't answering" in thread_text(slack, CHANNEL, ts), timeout=20)
    await eventually(
        lambda: finished(slack, ts, "You said: patience"), timeout=30, message=thread_text(slack, CHANNEL, ts)
    )
    assert qoder.user_messages() == ["patience"] and len(qoder.sessions) == 1


async def test_a_message_waiting_out_an_outage_survives_a_crash(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str]
) -> None:
    qoder.fail_next("POST", "/sessions", 503, times=1000)
    first = SubprocessBot(env)
    await first.start()
    try:
        ts = await mention(slack, events, "do not lose me")
        await eventually(lambda: "isn't answering" in thread_text(slack, CHANNEL, ts), timeout=20)
    finally:
        first.kill()
    qoder.clear_faults()  # Qoder is back
    second = SubprocessBot(env)
    await second.start()
    try:
        await eventually(lambda: finished(slack, ts, "You said: do not lose me"), timeout=20)
    finally:
        await second.terminate()
    assert qoder.user_messages() == ["do not lose me"]


async def test_dropped_streams_lose_and_repeat_nothing(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    answer = " ".join(f"part{i:02d}" for i in range(40))
    qoder.script([Text(answer, chunks=20, delay=0.05)])
    ts = await mention(slack, events, "stream it")
    await eventually(lambda: qoder.open_streams() == 1)
    qoder.drop_streams_after(8)
    await eventually(lambda: finished(slack, ts, "part39"), timeout=20)
    text = thread_text(slack, CHANNEL, ts)
    assert all(text.count(f"part{i:02d}") == 1 for i in range(40)), text
    assert len(qoder.stream_connects) >= 2, "the stream was reconnected"
    assert qoder.stream_connects[-1].last_event_id, "and resumed from a cursor"


async def test_a_stream_that_keeps_failing_shows_a_note_then_recovers(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script([Text("before", chunks=1), Sleep(1.5), Text("after the outage")])
    ts = await mention(slack, events, "fragile")
    await eventually(lambda: "before" in thread_text(slack, CHANNEL, ts))
    qoder.fail_next("GET", "/events/stream", 503, times=4)
    qoder.drop_streams_after(0)
    await eventually(
        lambda: any("reconnecting" in v for m in slack.bot_replies(CHANNEL, ts) for v in m.versions),
        timeout=20,
    )
    await eventually(lambda: finished(slack, ts, "after the outage"), timeout=30)
    assert "reconnecting" not in thread_text(slack, CHANNEL, ts)


async def test_qoder_retrying_then_exhausted_is_visible(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    qoder.script(
        [Error("model overloaded", "retrying"), Sleep(1.0), Error("model overloaded", "exhausted")],
        [Text("fine now")],
    )
    ts = await mention(slack, events, "hard question")
    await eventually(lambda: any("retrying" in v for m in slack.bot_replies(CHANNEL, ts) for v in m.versions))
    await eventually(
        lambda: "gave up" in thread_text(slack, CHANNEL, ts), message=thread_text(slack, CHANNEL, ts)
    )
    await eventually(lambda: "warning" in slack.messages[(CHANNEL, ts)].reactions)
    await reply(slack, events, ts, "again")
    await eventually(lambda: finished(slack, ts, "fine now"))


async def test_duplicate_delivery_after_a_restart_is_still_ignored(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str]
) -> None:
    first = InProcessBot(env)
    await first.start()
    ts = slack.add_user_message(CHANNEL, "<@UBOT> only once", user="U1")
    event = events.app_mention(CHANNEL, "U1", "<@UBOT> only once", ts)
    assert await events.send(event, event_id="EvSame") == 200
    await eventually(lambda: finished(slack, ts, "You said: only once"))
    await first.stop()

    second = InProcessBot(env)
    await second.start()
    try:
        assert await events.send(event, event_id="EvSame", retry_num=3) == 200
        await mention(slack, events, "canary")
        await eventually(lambda: "canary" in qoder.user_messages())
    finally:
        await second.stop()
    assert qoder.user_messages() == ["only once", "canary"]


async def test_a_rejected_cursor_is_recovered_from_the_event_history(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str], store_url: str
) -> None:
    answer = " ".join(f"bit{i:02d}" for i in range(30))
    qoder.script([Text("intro.", chunks=1), Sleep(1.0), Text(answer, chunks=15, delay=0.1)])
    first = SubprocessBot(env)
    await first.start()
    try:
        ts = await mention(slack, events, "recover me")
        await eventually(lambda: "intro." in thread_text(slack, CHANNEL, ts))
    finally:
        first.kill()
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE turns SET cursor = 'evt_unknown'")
    qoder.unknown_cursor_status = 404

    second = SubprocessBot(env)
    await second.start()
    try:
        await eventually(
            lambda: finished(slack, ts, "bit29"), timeout=20, message=thread_text(slack, CHANNEL, ts)
        )
    finally:
        await second.terminate()
    text = thread_text(slack, CHANNEL, ts)
    assert text.count("intro.") == 1 and all(text.count(f"bit{i:02d}") == 1 for i in range(30))
    assert len(slack.bot_replies(CHANNEL, ts)) == 1


async def test_sigterm_drains_and_exits_0_quickly_then_the_turn_completes(
    slack: FakeSlack, qoder: FakeQoder, events: SlackEvents, env: dict[str, str]
) -> None:
    answer = " ".join(f"w{i:02d}" for i in range(40))
    qoder.script([Text(answer, chunks=20, delay=0.15)])
    first = SubprocessBot(env)
    await first.start()
    ts = await mention(slack, events, "drain me")
    await eventually(lambda: "w03" in thread_text(slack, CHANNEL, ts))
    code, seconds = await first.terminate()
    assert code == 0, first.output()
    assert seconds < 10
    assert "w39" not in thread_text(slack, CHANNEL, ts)

    second = SubprocessBot(env)
    await second.start()
    try:
        await eventually(lambda: finished(slack, ts, "w39"), timeout=20)
    finally:
        await second.terminate()
        print(first.output(), "\n----\n", second.output())
    texts = reply_texts(slack, CHANNEL, ts)
    assert len(texts) == 1 and all(texts[0].count(f"w{i:02d}") == 1 for i in range(40))


async def test_a_delivery_that_failed_inside_the_bot_is_processed_when_slack_retries_it(
    bot: InProcessBot, slack: FakeSlack, qoder: FakeQoder, events: SlackEvents
) -> None:
    assert bot.runtime is not None
    store = bot.runtime.store
    real_save = store.save_session
    failures = 0

    async def flaky_save(record: object) -> None:  # the store hiccups once
        nonlocal failures
        if failures == 0:
            failures += 1
            raise OSError("disk I/O error")
        await real_save(record)  # type: ignore[arg-type]

    store.save_session = flaky_save  # type: ignore[method-assign]
    ts = slack.add_user_message(CHANNEL, "<@UBOT> second time lucky", user="U1")
    event = events.app_mention(CHANNEL, "U1", "<@UBOT> second time lucky", ts)
    assert await events.send(event, event_id="EvFlaky") == 200
    await eventually(lambda: failures == 1)
    assert await events.send(event, event_id="EvFlaky", retry_num=1) == 200
    await eventually(lambda: finished(slack, ts, "You said: second time lucky"), timeout=15)
    assert qoder.user_messages() == ["second time lucky"], "sent once: the retry, idempotent at Qoder"
