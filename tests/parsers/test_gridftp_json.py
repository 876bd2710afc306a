"""The `gridftp-json` parser and framer on RAMSES JSON events, broken streams and generated ones.

No real RAMSES log is public (research/esmond.md §1.1), so samples/gridftp-json/ holds a synthetic
one built from the field list the spec cites from eunsungc/gt6-RAMSES_8_5, printed the way the fork
does (cJSON pretty-print, tab-indented, each object wrapped in blank lines): a Transfer-End of the
2016 fork, a Perf-Marker, and a Transfer-End of the 2015 first cut (mpstat as an array, the pid as
transferID, several host addresses). Its values are asserted as a reader of the file would read
them. Hypothesis then frames streams of generated events, other JSON objects, blank lines and
stray text, cut at any point, and checks parse() against the writer in tests/parsers/gridftp_writer.py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.gridftp_json import NAME, frame, parse
from parsers.record import ParseError, Parsed
from tests.parsers import gridftp_writer

SAMPLE = (Path(__file__).parent / "samples" / "gridftp-json" / "ramses-synthetic-events.json").read_bytes()
TRANSFER_END = {"event_type": "Transfer-End", "start_timestamp": "1464712245.3", "end_timestamp": "1464712302.8",
                "nbytes": 10737418240, "cmd_type": "RETR", "host": "192.0.2.10\n", "dest": "198.51.100.21"}


def units(data: bytes, final: bool = True) -> list[bytes]:
    spans, _ = frame(data, final)
    return [data[start:end] for start, end in spans]


def events() -> list[Parsed]:
    results = [parse(unit) for unit in units(SAMPLE, final=False)]
    assert all(results)
    return results  # type: ignore[return-value]


def error(raw: bytes) -> tuple[str, Optional[str], Optional[int]]:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    return caught.value.reason, caught.value.field, caught.value.offset


def without_raw(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "raw"}


def test_module_serves_the_gridftp_json_format() -> None:
    assert NAME == "gridftp-json"


def test_sample_frames_into_three_whole_multi_line_objects() -> None:
    spans, consumed = frame(SAMPLE, False)
    assert consumed == len(SAMPLE) and len(spans) == 3
    assert [SAMPLE[s:e] for s, e in spans] == SAMPLE.strip().split(b"\n\n")  # cJSON prints no blank line
    assert [r.type for r in events()] == ["Transfer-End", "Perf-Marker", "Transfer-End"]


def test_transfer_end_has_the_gridftp_keys_and_the_raw_object() -> None:
    end = events()[0]
    assert end.time == 1464712302.8
    assert without_raw(end.data) == {
        "date": "2016-05-31T16:31:42.800000Z", "start": "2016-05-31T16:30:45.300000Z", "duration": 57.5,
        "host": "192.0.2.10", "host_ips": ["192.0.2.10"], "prog": "globus-gridftp-server", "user": "esjung",
        "file": "/home/esjung/data/file_10G.dat", "volume": "/home", "type": "RETR", "code": 226,
        "buffer": 16777216, "block": 262144, "nbytes": 10737418240, "streams": 4, "stripes": 1,
        "retrans": [12, 7, 0, 31], "dest": "198.51.100.21", "taskid": "8b3f5e2a6c1d11e6a4f2001b21b8c9d0"}


def test_transfer_end_raw_keeps_mpstat_iostat_getrusage_and_streams_as_logged() -> None:
    raw = events()[0].data["raw"]
    assert (raw["mpstat"]["%quest"], raw["mpstat"]["%idle"], raw["iostat"]["Blk_read/s"]) == (0.0, 82.1, 183921.5)
    assert (raw["getrusage"]["ru_utime"], raw["getrusage"]["ru_nivcsw"], raw["host"]) == ("3.412000", 1290, "192.0.2.10\n")
    assert [s["TCPinfo"]["rtt"] for s in raw["streams"]] == [51250, 51875, 50937, 52500]


def test_perf_marker_has_what_it_carries_and_its_start_as_time() -> None:
    marker = events()[1]
    assert (marker.type, marker.time) == ("Perf-Marker", 1464712400.1)
    assert "date" not in marker.data and "duration" not in marker.data
    assert (marker.data["start"], marker.data["file"], marker.data["nbytes"], marker.data["code"],
            marker.data["retrans"]) == ("2016-05-31T16:33:20.100000Z", "/home/esjung/incoming/run 042/part=7.h5",
                                        1342177280, 0, [2, 0])


def test_first_cut_transfer_end_with_pid_id_several_addresses_and_per_cpu_mpstat() -> None:
    old = events()[2]
    assert (old.time, old.data["taskid"], old.data["host"], old.data["host_ips"]) == (
        1430138541.6, "23817", "192.0.2.11", ["192.0.2.11", "198.51.100.7"])
    assert (old.data["stripes"], old.data["retrans"], old.data["duration"], old.data["type"]) == (2, [0, 5], 11.6, "STOR")
    assert [cpu["%guest"] for cpu in old.data["raw"]["mpstat"]] == [0.0, 0.0]


def test_one_object_per_line_as_esmond_reads_them_is_framed_too() -> None:
    line = json.dumps(TRANSFER_END).encode()
    assert units(line + b"\n" + line + b"\n", final=False) == [line, line]


def test_braces_quotes_and_escapes_inside_strings_do_not_end_an_object() -> None:
    tricky = b'{"file": "/a/{b}/\\"c}\\\\", "user": "x\\\\"}'
    assert frame(tricky + b"\n{}", False) == ([(0, len(tricky)), (len(tricky) + 1, len(tricky) + 3)], len(tricky) + 3)
    assert json.loads(units(tricky)[0]) == {"file": '/a/{b}/"c}\\', "user": "x\\"}


def test_text_between_objects_is_a_unit_that_parse_refuses() -> None:
    stream = b'{"a": 1}\nglobus-gridftp-server: warning \r\n{"b": 2}'
    assert units(stream) == [b'{"a": 1}', b"globus-gridftp-server: warning", b'{"b": 2}']
    assert error(b"globus-gridftp-server: warning") == ("text outside a JSON object: 'globus-gridftp-server: warning'", None, 0)


def test_text_runs_to_the_next_brace_on_its_line() -> None:
    assert units(b'note: {"a": 1}\n') == [b"note:", b'{"a": 1}']


def test_unterminated_object_waits_then_becomes_a_unit_at_the_end() -> None:
    stream = b'{"a": 1}\n\n{"event_type": "Transfer-End",\n\t"nbytes": 5\n'
    assert frame(stream, False) == ([(0, 8)], 10)
    assert units(stream)[1] == b'{"event_type": "Transfer-End",\n\t"nbytes": 5'
    assert error(units(stream)[1]) == ("object ends before its closing brace (unexpected end of data)", None, 43)


def test_object_broken_by_a_raw_newline_in_a_string_does_not_swallow_the_next() -> None:
    stream = b'{\n\t"event_type": "Transfer-End",\n\t"file": "/data/run\n{"event_type": "Perf-Marker"}\n'
    assert units(stream, final=False) == [b'{\n\t"event_type": "Transfer-End",\n\t"file": "/data/run',
                                          b'{"event_type": "Perf-Marker"}']


def test_object_cut_after_a_value_ends_where_the_next_object_starts() -> None:
    stream = b'{\n\t"event_type": "Transfer-End",\n\t"nbytes": 10737\n{\n\t"event_type": "Perf-Marker"\n}\n'
    assert units(stream, final=False) == [b'{\n\t"event_type": "Transfer-End",\n\t"nbytes": 10737',
                                          b'{\n\t"event_type": "Perf-Marker"\n}']
    assert error(units(stream)[0])[0] == "object ends before its closing brace (unexpected end of data)"


def test_blank_unit_is_not_a_record() -> None:
    assert (parse(b""), parse(b" \n\t")) == (None, None)


def test_transfer_end_without_what_it_needs_names_the_first_missing_field() -> None:
    raw = json.dumps({k: v for k, v in TRANSFER_END.items() if k not in ("nbytes", "dest")}).encode()
    assert error(raw) == ("Transfer-End without nbytes, dest", "nbytes", len(raw) - 1)


def test_wrong_type_names_the_field_at_its_key() -> None:
    raw = json.dumps(dict(TRANSFER_END, nbytes=[1])).encode()
    assert error(raw) == ("expected a 64-bit integer, got [1]", "nbytes", raw.index(b'"nbytes"'))


def test_timestamp_that_is_not_seconds_names_the_field() -> None:
    raw = json.dumps(dict(TRANSFER_END, end_timestamp="Tue May 31")).encode()
    assert error(raw) == ("expected epoch seconds (\"<sec>.<tenths>\"), got 'Tue May 31'", "end_timestamp",
                          raw.index(b'"end_timestamp"'))


def test_host_without_an_address_is_refused() -> None:
    raw = json.dumps(dict(TRANSFER_END, host="\n")).encode()
    assert error(raw)[:2] == ("host holds no address", "host")


def test_event_type_is_required() -> None:
    assert error(b'{"nbytes": 1}') == ("expected event_type, a non-empty string", "event_type", 12)
    assert error(b"[1, 2]") == ("expected a JSON object, got list", None, 0)


def test_numeric_timestamps_and_digit_strings_are_read_as_numbers() -> None:
    data = parse(json.dumps(dict(TRANSFER_END, start_timestamp=1464712245, end_timestamp=1464712302.75,
                                 nbytes="1024", host="192.0.2.10 198.51.100.7 \n")).encode()).data  # type: ignore[union-attr]
    assert (data["start"], data["date"], data["duration"], data["nbytes"], data["host_ips"]) == (
        "2016-05-31T16:30:45.000000Z", "2016-05-31T16:31:42.750000Z", 57.75, 1024, ["192.0.2.10", "198.51.100.7"])


def test_transfer_end_without_optional_fields_gives_none_and_one_stripe() -> None:
    data = parse(json.dumps(TRANSFER_END).encode()).data  # type: ignore[union-attr]
    assert (data["taskid"], data["retrans"], data["stripes"], data["code"], data["volume"]) == (None, None, 1, None, None)


def test_malformed_streams_are_refused() -> None:
    raw = json.dumps(dict(TRANSFER_END, streams=[{"stripe": 0, "TCPinfo": {}}])).encode()
    assert error(raw)[1:] == ("streams", raw.index(b'"streams"'))


@given(gridftp_writer.events(), st.sampled_from([None, "\t", 2]))
def test_written_events_round_trip(event: dict[str, Any], indent: Any) -> None:
    result = parse(json.dumps(event, indent=indent).encode())
    assert result is not None and (result.type, result.data["raw"]) == (event["event_type"], event)
    if event["event_type"] == "Transfer-End":
        assert result.data == gridftp_writer.transfer_end_data(event)
        assert result.time == gridftp_writer.us_of(result.data["date"]) / 1_000_000


_json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                            max_leaves=8)
_objects = st.one_of(gridftp_writer.events(), st.dictionaries(st.text(max_size=6), _json_values, max_size=4))
_object_texts = st.builds(lambda obj, indent, ascii_only: json.dumps(obj, indent=indent, ensure_ascii=ascii_only).encode(),
                          _objects, st.sampled_from([None, "\t", 2]), st.booleans())
_garbage = st.text(st.characters(codec="utf-8", exclude_characters="{\n"), min_size=1, max_size=20).filter(
    lambda t: t[0] not in " \t\r").map(str.encode)


@st.composite
def _stream(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int, int]]]:
    """Objects, blank lines and stray lines; each unit as (start, end, where it is known complete)."""
    data = b""
    expected: list[tuple[int, int, int]] = []
    for kind in draw(st.lists(st.sampled_from(["object", "object", "blank", "garbage"]), max_size=6)):
        start = len(data)
        if kind == "object":
            text = draw(_object_texts)
            data += text + draw(st.sampled_from([b"", b"\n", b"\n\n", b" \n"]))
            expected.append((start, start + len(text), start + len(text)))
        elif kind == "blank":
            data += draw(st.sampled_from([b"\n", b"  \n", b"\t\r\n"]))
        else:
            text = draw(_garbage)
            data += text + b"\n"
            expected.append((start, start + len(text.rstrip(b" \t\r")), len(data)))
    return data, expected


@given(_stream(), st.data())
def test_frame_gives_exactly_the_units_each_prefix_holds(stream: tuple[bytes, list[tuple[int, int, int]]],
                                                         draw: st.DataObject) -> None:
    """A prefix of the stream (final=False) gives the units complete in it and consumes up to the
    first one still open; with final=True the open one is a unit too (trailing space trimmed)."""
    data, expected = stream
    cut = draw.draw(st.integers(0, len(data)))
    known = [(s, e) for s, e, c in expected if c <= cut]
    open_starts = [s for s, e, c in expected if c > cut and s < cut]
    assert frame(data[:cut], False) == (known, open_starts[0] if open_starts else cut)
    last = [(open_starts[0], open_starts[0] + len(data[open_starts[0]:cut].rstrip(b" \t\r\n")))] if open_starts else []
    assert frame(data[:cut], True) == (known + last, cut)


@given(st.binary(), st.booleans())
def test_frame_of_any_bytes_gives_spans_inside_them(data: bytes, final: bool) -> None:
    spans, consumed = frame(data, final)
    assert 0 <= consumed <= len(data) and all(0 <= s < e <= consumed for s, e in spans)
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
