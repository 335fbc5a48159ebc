"""The persisted form of the records: JSON compatible with what earlier versions wrote, and table columns,
both derived from the dataclass fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import pytest

from bot.models import QueuedMessage, SessionRecord, SlackFile, ThreadKey, TurnRecord
from bot.store.serialize import MESSAGE as MESSAGE_CODEC
from bot.store.serialize import SESSION as SESSION_CODEC
from bot.store.serialize import TURN as TURN_CODEC
from bot.store.serialize import Codec
from bot.store.sqlite_rows import MESSAGE_COLUMNS, SESSION_COLUMNS, TURN_COLUMNS, Columns

T1 = ThreadKey("T1", "C1", "1700000000.000100")
T2 = ThreadKey("T1", "C1", "1700000000.000200")

# Written by the field-by-field serialisers this codec replaced, for the records below.
SESSION_JSON = (
    '{"created_at":1700000000.5,"session_id":"s-1","thread":"T1:C1:1700000000.000100",'
    '"title":"why is CI red? ✓"}'
)
SESSION_INT_TIME_JSON = (
    '{"created_at":1700000100,"session_id":"s-2","thread":"T1:C1:1700000000.000200","title":""}'
)
TURN_JSON = (
    '{"active":true,"cursor":"evt_42","reply_ts":["1700000002.000002","1700000003.000003"],"session_id":"s-1",'
    '"start_event_id":"evt_41","state_json":"{\\"text\\": \\"héllo ✓\\"}","thread":"T1:C1:1700000000.000100",'
    '"updated_at":1700000004.25,"user_id":"U1","user_ts":"1700000001.000001"}'
)
FRESH_TURN_JSON = (
    '{"active":true,"cursor":null,"reply_ts":[],"session_id":"s-2","start_event_id":"","state_json":"",'
    '"thread":"T1:C1:1700000000.000200","updated_at":0.0,"user_id":"","user_ts":""}'
)
# An older turn: with stop_requested (since removed), before user_id and start_event_id existed.
OLD_TURN_JSON = (
    '{"active":false,"cursor":"evt_7","reply_ts":["1.000002"],"session_id":"s-3","state_json":"{}",'
    '"stop_requested":false,"thread":"T1:C1:1700000000.000100","updated_at":12,"user_ts":"1.000001"}'
)
MESSAGE_JSON = '{"message_ts":"1700000005.000005","text":"say \\"hi\\" ✓","thread":"T1:C1:1700000000.000100","user":"U1"}'
# What this version writes: sessions with who started them and what they run, messages with start options.
CURRENT_SESSION_JSON = (
    '{"agent_id":"","created_at":1700000000.5,"environment_id":"","session_id":"s-1","started_by":"",'
    '"thread":"T1:C1:1700000000.000100","title":"why is CI red? ✓"}'
)
# Messages as written before they kept their files.
STARTS_MESSAGE_JSON = (
    '{"agent_id":"","environment_id":"","message_ts":"1700000005.000005","outcome":"",'
    '"text":"say \\"hi\\" ✓","thread":"T1:C1:1700000000.000100","user":"U1"}'
)
CURRENT_MESSAGE_JSON = (
    '{"agent_id":"","environment_id":"","files":[],"message_ts":"1700000005.000005","outcome":"",'
    '"text":"say \\"hi\\" ✓","thread":"T1:C1:1700000000.000100","user":"U1"}'
)

SESSION_RECORD = SessionRecord(T1, "s-1", 1700000000.5, "why is CI red? ✓")
TURN_RECORD = TurnRecord(
    session_id="s-1",
    thread=T1,
    cursor="evt_42",
    reply_ts=["1700000002.000002", "1700000003.000003"],
    state_json='{"text": "héllo ✓"}',
    active=True,
    user_ts="1700000001.000001",
    updated_at=1700000004.25,
    user_id="U1",
    start_event_id="evt_41",
)
QUEUED = QueuedMessage(T1, "1700000005.000005", "U1", 'say "hi" ✓')


def test_json_is_what_earlier_versions_wrote_byte_for_byte() -> None:
    assert TURN_CODEC.to_json(TURN_RECORD) == TURN_JSON
    assert TURN_CODEC.to_json(TurnRecord("s-2", T2, None)) == FRESH_TURN_JSON


def test_json_of_records_that_grew_fields_is_stable() -> None:
    assert SESSION_CODEC.to_json(SESSION_RECORD) == CURRENT_SESSION_JSON
    assert MESSAGE_CODEC.to_json(QUEUED) == CURRENT_MESSAGE_JSON
    assert SESSION_CODEC.from_json(CURRENT_SESSION_JSON) == SESSION_RECORD
    assert MESSAGE_CODEC.from_json(CURRENT_MESSAGE_JSON) == QUEUED


def test_json_written_by_earlier_versions_loads() -> None:
    assert SESSION_CODEC.from_json(SESSION_JSON) == SESSION_RECORD
    assert SESSION_CODEC.from_json(SESSION_INT_TIME_JSON.encode()) == SessionRecord(T2, "s-2", 1700000100.0)
    assert TURN_CODEC.from_json(TURN_JSON) == TURN_RECORD
    assert TURN_CODEC.from_json(FRESH_TURN_JSON) == TurnRecord("s-2", T2, None)
    assert TURN_CODEC.from_json(OLD_TURN_JSON) == TurnRecord(
        "s-3", T1, "evt_7", ["1.000002"], "{}", False, "1.000001", 12.0
    )
    assert MESSAGE_CODEC.from_json(MESSAGE_JSON) == QUEUED
    assert MESSAGE_CODEC.from_json(STARTS_MESSAGE_JSON) == QUEUED


def test_a_message_keeps_its_files() -> None:
    shared = SlackFile("F1", "shot.png", "image/png", 1234, "https://files.example/F1", "hosted")
    message = replace(QUEUED, files=(shared, SlackFile("F2", "gone.txt")))
    text = MESSAGE_CODEC.to_json(message)
    assert '"files":[{"id":"F1","mimetype":"image/png","mode":"hosted","name":"shot.png"' in text
    assert MESSAGE_CODEC.from_json(text) == message
    assert MESSAGE_COLUMNS.record(MESSAGE_COLUMNS.values(message)) == message


def test_a_loaded_float_field_is_a_float() -> None:
    created_at = SESSION_CODEC.from_json(SESSION_INT_TIME_JSON).created_at
    assert type(created_at) is float


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '"a string"',
        "null",
        '{"session_id":"s","cursor":null}',  # thread missing
        '{"session_id":"s","thread":"T1:C1","cursor":null}',  # not a thread key
        '{"session_id":"s","thread":"T1::1.0","cursor":null}',
        '{"session_id":"s","thread":7,"cursor":null}',
        '{"session_id":1,"thread":"T1:C1:1.0","cursor":null}',
        '{"session_id":"s","thread":"T1:C1:1.0","cursor":5}',
        '{"session_id":"s","thread":"T1:C1:1.0","cursor":null,"reply_ts":"1.0"}',
        '{"session_id":"s","thread":"T1:C1:1.0","cursor":null,"reply_ts":[1]}',
        '{"session_id":"s","thread":"T1:C1:1.0","cursor":null,"active":1}',
        '{"session_id":"s","thread":"T1:C1:1.0","cursor":null,"active":"true"}',
        '{"session_id":"s","thread":"T1:C1:1.0","cursor":null,"updated_at":true}',
        '{"session_id":"s","thread":"T1:C1:1.0","cursor":null,"updated_at":"1.5"}',
        '{"session_id":"s","thread":"T1:C1:1.0","cursor":null,"user_id":null}',
    ],
)
def test_malformed_turn_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        TURN_CODEC.from_json(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"thread":"T1:C1:1.0","message_ts":"1.0","user":"U1"}',
        '{"thread":"T1:C1:1.0","message_ts":1.0,"user":"U1","text":"x"}',
        "{",
    ],
)
def test_malformed_message_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        MESSAGE_CODEC.from_json(text)


def test_columns_are_the_record_fields_in_order() -> None:
    assert TURN_COLUMNS.names == (
        "session_id",
        "thread",
        "cursor",
        "reply_ts",
        "state_json",
        "active",
        "user_ts",
        "updated_at",
        "user_id",
        "start_event_id",
    )
    assert SESSION_COLUMNS.sql == (
        "thread, session_id, created_at, title, started_by, agent_id, environment_id"
    )
    assert MESSAGE_COLUMNS.sql == ("thread, message_ts, user, text, agent_id, environment_id, outcome, files")
    assert MESSAGE_COLUMNS.marks == "?, ?, ?, ?, ?, ?, ?, ?"


def test_column_values_are_what_the_tables_held_before() -> None:
    assert TURN_COLUMNS.values(TURN_RECORD) == (
        "s-1",
        "T1:C1:1700000000.000100",
        "evt_42",
        '["1700000002.000002","1700000003.000003"]',
        '{"text": "héllo ✓"}',
        True,
        "1700000001.000001",
        1700000004.25,
        "U1",
        "evt_41",
    )
    row = ("s-2", "T1:C1:1700000000.000200", None, "[]", "", 0, "1.000001", 12, "U2", "")
    assert TURN_COLUMNS.record(row) == TurnRecord("s-2", T2, None, [], "", False, "1.000001", 12.0, "U2", "")
    assert TURN_COLUMNS.record(TURN_COLUMNS.values(TURN_RECORD)) == TURN_RECORD


@pytest.mark.parametrize(
    "row",
    [
        ("s", "T1:C1:1.0", None, "not json", "", 1, "", 0.0, "", ""),
        ("s", "T1:C1:1.0", None, None, "", 1, "", 0.0, "", ""),
        ("s", "bad key", None, "[]", "", 1, "", 0.0, "", ""),
        ("s", "T1:C1:1.0", None, "[]", "", 1, "", 0.0, ""),  # a column short
    ],
)
def test_malformed_rows_raise_value_error(row: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        TURN_COLUMNS.record(row)


@dataclass
class _Grown:
    """A record that gained fields: how one added to ``bot.models`` reaches JSON and columns."""

    thread: ThreadKey
    name: str
    tags: list[str] = field(default_factory=list)
    done: bool = False


def test_a_new_field_reaches_json_and_columns_without_further_edits() -> None:
    codec = Codec(_Grown)
    columns = Columns(codec)
    record = _Grown(T1, "n", ["a", "b"], True)

    assert json.loads(codec.to_json(record)) == {
        "thread": str(T1),
        "name": "n",
        "tags": ["a", "b"],
        "done": True,
    }
    assert codec.from_json('{"thread":"T1:C1:1700000000.000100","name":"n"}') == _Grown(T1, "n")
    assert columns.names == ("thread", "name", "tags", "done")
    assert columns.values(record) == (str(T1), "n", '["a","b"]', True)
    assert columns.record((str(T1), "n", '["a","b"]', 1)) == record


def test_codec_refuses_what_is_not_a_dataclass() -> None:
    with pytest.raises(TypeError):
        Codec(dict)
