"""The `json` format: one JSON object per line, kept as it is, with its event time read out."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers import ParseError, Parsed, parser_for

parse = parser_for("json")
SAMPLES = Path(__file__).parent / "samples" / "json"

json_text = st.text(alphabet=st.characters(codec="utf-8"))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                         st.floats(allow_nan=False, allow_infinity=False), json_text)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner) | st.dictionaries(json_text, inner),
                           max_leaves=20)
json_objects = st.dictionaries(json_text, json_values)


@given(obj=json_objects)
def test_any_json_object_round_trips_as_data(obj: dict[str, Any]) -> None:
    record = parse(orjson.dumps(obj))
    assert record is not None and record.type == "object"
    assert record.data == obj


@pytest.mark.parametrize("line, expected", [
    (b'{"time": 1682407234.086799}', 1682407234.086799),
    (b'{"time": 1682407234}', 1682407234.0),
    (b'{"time": "2018-05-17T11:49:56.336847+00:00"}', 1526557796.336847),
    (b'{"time": "2018-05-17T11:49:56.336847Z"}', 1526557796.336847),
    (b'{"time": "2018-05-17T11:49:56.336847"}', 1526557796.336847),  # no zone: UTC
    (b'{"time": "2023-06-01T07:24:00+02:00"}', 1685597040.0),
    (b'{"timestamp": 1685597040}', 1685597040.0),
    (b'{"@timestamp": "2023-06-01T05:24:00Z"}', 1685597040.0),
    (b'{"time": 1, "timestamp": 2, "@timestamp": 3}', 1.0),
    (b'{"time": true, "timestamp": 1685597040}', 1685597040.0),
    (b'{"time": "soon", "@timestamp": 1685597040}', 1685597040.0),
    (b'{"time": true}', None),
    (b'{"time": {"sec": 1}}', None),
    (b'{"time": 1685597040000}', None),  # milliseconds are not taken for seconds
    (b'{"msg": "no time here"}', None),
])
def test_event_time_comes_from_time_timestamp_or_at_timestamp(line: bytes, expected: Optional[float]) -> None:
    record = parse(line)
    assert record is not None
    assert record.time == expected


def test_time_keys_stay_in_data_untouched() -> None:
    assert parse(b'{"time": "2023-06-01T05:24:00Z", "n": 1}') == Parsed(
        "object", 1685597040.0, {"time": "2023-06-01T05:24:00Z", "n": 1})


@pytest.mark.parametrize("line, offset, reason", [
    (b'{"job": 1995', 12, "unexpected end of data"),
    (b'{"a": 1,}', 7, "trailing comma is not allowed"),
    (b'{"msg": "x"} trailing', 13, "unexpected content after document"),
])
def test_broken_json_names_the_byte_offset_and_the_reason(line: bytes, offset: int, reason: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(line)
    assert (err.value.offset, err.value.reason) == (offset, f"not valid JSON: {reason}")
    assert str(err.value) == f"byte {offset}: not valid JSON: {reason}"


def test_a_json_array_line_says_it_expected_an_object() -> None:
    with pytest.raises(ParseError) as err:
        parse(b'[{"job": 1995}]')
    assert str(err.value) == "expected a JSON object, got list"


def test_invalid_utf8_names_the_offset_of_the_bad_byte() -> None:
    with pytest.raises(ParseError) as err:
        parse(b'{"msg":"\xff"}')
    assert err.value.offset == 8


def test_lava_testjob_sample_keeps_every_field() -> None:
    testjob = (SAMPLES / "lava_event_docs_examples.ndjson").read_bytes().splitlines()[1]
    record = parse(testjob)
    assert record is not None
    assert (record.data["job"], record.data["submit_time"], record.data["health_check"]) == (
        "http://calvin.codehelp/scheduler/1995", "2018-05-17T11:49:56.336847+00:00", False)


def test_lava_job_log_sample_has_nested_results_and_no_event_time() -> None:
    last_but_one = (SAMPLES / "lava_job_output_excerpt.ndjson").read_bytes().splitlines()[8]
    assert parse(last_but_one) == Parsed("object", None, {
        "dt": "2023-06-01T05:24:00.472852", "lvl": "results",
        "msg": {"case": "validate", "definition": "lava", "result": "pass"}})
