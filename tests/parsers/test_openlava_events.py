"""The `openlava-events` format: lsb.events records by type and version, the LSF 10 sample, errors, the header."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import HISTORY_OFFSETS, ParseError, Parsed
from parsers.lsb_events import EVENT_CODES, LAYOUTS, LSF_VERIFIED, version
from parsers.lsb_layout import check_layout
from parsers.lsb_tokens import lex
from parsers.openlava_events import NAME, history_offset, parse
from tests.parsers.lsb_writer import LSF_VERSIONS, OPENLAVA_VERSIONS, WRITERS, records

SAMPLE = Path(__file__).parent / "samples" / "openlava-events" / "hpccostsim_lsf10_lsb.events"
LINES = SAMPLE.read_bytes().splitlines()


def _record(line: bytes) -> Parsed:
    result = parse(line)
    assert result is not None
    return result


# ---- every event type, written as openlava writes it, reads back ---------------------------

@pytest.mark.parametrize("etype", sorted(WRITERS))
@settings(max_examples=40)
@given(data=st.data())
def test_every_openlava_event_type_round_trips(etype: str, data: st.DataObject) -> None:
    line, expected = data.draw(records(etype, OPENLAVA_VERSIONS))
    result = _record(line)
    assert (result.type, result.time, result.data) == (etype, float(expected["eventTime"]), expected)
    assert list(result.data) == list(expected)  # in the order the fields were written


@pytest.mark.parametrize("etype", sorted(set(WRITERS) - {"JOB_MODIFY2"}))
@settings(max_examples=20)
@given(data=st.data())
def test_openlava_layouts_read_lsf_records_as_far_as_they_go(etype: str, data: st.DataObject) -> None:
    line, expected = data.draw(records(etype, LSF_VERSIONS))
    assert _record(line).data == expected


@settings(max_examples=200)
@given(record=records("JOB_MODIFY2", ("33", "40")))
def test_job_modify2_has_exactly_the_fields_its_option_bits_announce(record: tuple[bytes, dict[str, Any]]) -> None:
    line, expected = record
    data = _record(line).data
    assert data == expected
    options, options2 = data["options"], data["options2"]
    assert ("jobName" in data) == bool(options & 0x1)
    assert ("askedHosts" in data) == bool(options & 0x4)
    assert ("inFile" in data) == bool(options & 0x8 or options2 & 0x80)
    assert ("command" in data) == bool(options2 & 0x2)
    assert ("xf" in data) == bool(options & 0x80000)
    assert ("userPriority" in data) == bool(options2 & 0x200)
    assert ("job_description" in data) == bool(data["version"] == "40" and options2 & 0x4000)


def test_job_modify2_from_lsf_is_an_unknown_record() -> None:
    data = _record(b'"JOB_MODIFY2" "10.108" 1643910037 "101" 1 2 3').data
    assert data == {"version": "10.108", "eventTime": 1643910037, "unknown": True, "fields": ["101", 1, 2, 3]}


@pytest.mark.parametrize("etype", sorted(WRITERS))
@settings(max_examples=15)
@given(data=st.data())
def test_the_compiled_reader_and_the_checked_reader_agree(etype: str, data: st.DataObject) -> None:
    line, expected = data.draw(records(etype, OPENLAVA_VERSIONS + LSF_VERSIONS))
    layout = LAYOUTS[etype](version(expected["version"]))  # type: ignore[arg-type]
    tokens = lex(line)
    assert tokens is not None
    if layout is None:  # JOB_MODIFY2 from LSF
        assert _record(line).data["unknown"] is True
        return
    head = {"version": expected["version"], "eventTime": expected["eventTime"]}
    assert check_layout(layout, tokens, head, 3) == _record(line).data


def test_version_gates_follow_openlava() -> None:
    # JOB_START_ACCEPT has jflags from version 32; JOB_START has userGroup after idx from 33.
    assert "jflags" not in _record(b'"JOB_START_ACCEPT" "22" 5 101 3942 3942 0').data
    assert _record(b'"JOB_START_ACCEPT" "32" 5 101 3942 3942 0 7').data["jflags"] == 7
    start = b'"JOB_START" "%s" 5 101 4 3942 3942 100.0 2 "h1" "h1" "" "" 0 0 "grp"'
    assert "unparsed" not in _record(start % b"33").data and _record(start % b"33").data["userGroup"] == "grp"
    assert _record(start % b"22").data["unparsed"] == ["grp"]  # 2.2 writes no userGroup
    # JOB_MSG: 4.0 writes jobId idx msg; 2.2 usrId jobId msgId type src dest msg idx.
    assert _record(b'"JOB_MSG" "40" 5 101 0 "hello"').data["msg"] == "hello"
    assert _record(b'"JOB_MSG" "22" 5 1501 101 1 0 "a" "b" "hello" 0').data["msg"] == "hello"


def test_event_codes_are_lsbatch_h_numbers() -> None:
    assert EVENT_CODES["JOB_NEW"] == 1 and EVENT_CODES["JOB_FINISH"] == 10 and EVENT_CODES["UNFULFILL"] == 9
    assert EVENT_CODES["JOB_ATTR_SET"] == 29 and EVENT_CODES["STREAM_END"] == 30
    assert sorted(EVENT_CODES.values()) == list(range(1, 31))
    assert set(EVENT_CODES) <= set(LAYOUTS) and LSF_VERIFIED <= set(LAYOUTS)


# ---- the LSF 10 sample ---------------------------------------------------------------------

def test_the_header_is_skipped_and_gives_the_history_offset() -> None:
    # 79 columns and the newline: a fresh file's offset is where its first event starts.
    assert LINES[0] == b"#80" + b" " * 76
    assert parse(LINES[0]) is None
    assert history_offset(LINES[0]) == 80 == len(LINES[0]) + 1
    assert HISTORY_OFFSETS[NAME] is history_offset


@pytest.mark.parametrize("line, offset", [
    (b"#80", 80), (b"#123456   ", 123456), (b"#0", 0),
    (b"#" + b" " * 79, None), (b"# 80", None), (b"#80 x", None), (b" #80", None), (b"#8a0", None),
    (b'"JOB_NEW" "22" 1', None), (b"", None), (b"#80\t", None),
])
def test_history_offset_is_only_a_hash_digits_and_spaces(line: bytes, offset: int | None) -> None:
    assert history_offset(line) == offset


def test_every_sample_record_has_its_type_and_time() -> None:
    records_ = [_record(line) for line in LINES[1:]]
    counts: dict[str, int] = {}
    for r in records_:
        counts[r.type] = counts.get(r.type, 0) + 1
        assert r.time == float(r.data["eventTime"]) and r.data["version"] == "10.108"
    assert counts == {"JOB_STATUS": 130, "JOB_NEW": 87, "JOB_START": 87, "JOB_START_ACCEPT": 87,
                      "JOB_EXECUTE": 87, "JOB_CLEAN": 87, "JOB_FORWARD": 47, "JOB_ACCEPTACK": 47,
                      "MBD_START": 4, "LOAD_INDEX": 1}
    orjson.dumps([r.data for r in records_])


def test_sample_load_index_and_mbd_start() -> None:
    assert _record(LINES[1]).data == {
        "version": "10.108", "eventTime": 1643753712, "nIdx": 11,
        "name": ["r15s", "r1m", "r15m", "ut", "pg", "io", "ls", "it", "tmp", "swp", "mem"]}
    assert _record(LINES[2]).data == {"version": "10.108", "eventTime": 1643753712, "master": "ip-10-30-66-253",
                                      "cluster": "lsf1-Simulated-On-Prem", "numHosts": 1, "numQueues": 2}


def test_sample_job_new_reads_openlavas_fields_through_login_shell() -> None:
    job = _record(LINES[4])
    assert (job.type, job.time) == ("JOB_NEW", 1643910037.0)
    d = job.data
    assert (d["jobId"], d["userId"], d["options"], d["numProcessors"]) == (101, 1501, 33570818, 1)
    assert (d["submitTime"], d["sigValue"], d["userName"], d["queue"]) == (1643910037, -65535, "simuser", "sender")
    assert d["rLimits"] == [-1] * 11 and d["hostSpec"] == "" and d["hostFactor"] == 1.0 and d["umask"] == 2
    assert (d["fromHost"], d["cwd"], d["subHomeDir"]) == ("ip-10-30-14-225.eu-west-1.compute.internal", "/root",
                                                          "/home/simuser")
    assert (d["jobFile"], d["numAskedHosts"], d["askedHosts"], d["command"]) == ("1643910037.101", 0, [],
                                                                                   "s200p1 200")
    assert (d["nxf"], d["xf"], d["projectName"], d["maxNumProcessors"]) == (0, [], "default", 1)
    assert (d["schedHostType"], d["loginShell"]) == ("UNKNOWN_AUTO_DETECT", "")
    assert "niosPort" not in d  # options has no SUB_INTERACTIVE
    assert d["unparsed"][:6] == ["", "", "", 7184, 0, ""] and len(d["unparsed"]) == 46


def test_sample_job_start_execute_status_clean() -> None:
    start = _record(LINES[5]).data
    assert (start["jobId"], start["jStatus"], start["hostFactor"], start["numExHosts"]) == (101, 4, 100.0, 1)
    assert start["execHosts"] == ["ip-10-30-66-253.eu-west-1.compute.internal"]
    assert (start["jFlags"], start["userGroup"], start["idx"]) == (0, "", 0)
    assert start["unparsed"][:4] == ["", 2147483647, 4194304, "select[type == any] order[r15s:pg] "]
    accept = _record(LINES[6]).data
    assert (accept["jobId"], accept["jobPid"], accept["jobPGid"], accept["idx"]) == (101, 3942, 3942, 0)
    execute = _record(LINES[7]).data
    assert (execute["execUid"], execute["execCwd"], execute["execHome"], execute["execUsername"]) == \
        (1501, "/tmp", "/home/simuser", "simuser")
    status = _record(LINES[9]).data
    assert (status["jStatus"], status["cpuTime"], status["endTime"], status["ru"]) == (32, 0.0107, 1643910038, 1)
    assert status["lsfRusage"]["ru_utime"] == 0.000991 and status["lsfRusage"]["ru_maxrss"] == 3756.0
    assert (status["exitStatus"], status["idx"]) == (32512, 0)
    no_rusage = _record(LINES[42]).data
    assert (no_rusage["jStatus"], no_rusage["ru"], no_rusage["exitStatus"]) == (192, 0, 0)
    assert "lsfRusage" not in no_rusage
    clean = _record(LINES[368]).data
    assert clean == {"version": "10.108", "eventTime": 1643913642, "jobId": 103, "idx": 0, "unparsed": [0]}


def test_lsf_only_events_are_typed_unknown_records() -> None:
    forward = _record(LINES[72])
    assert forward.type == "JOB_FORWARD" and forward.time == 1643911068.0
    assert forward.data == {"version": "10.108", "eventTime": 1643911068, "unknown": True,
                            "fields": [116, 0, "lsf1", 0, 1, "", -1, -1, "", -1]}
    assert _record(b'"JOB_RESIZE_NOTIFY_START" "10.108" 1 2 host02 "x"').data["fields"] == [2, "host02", "x"]
    assert _record(b'"ANYTHING NEW" "9.11" 7').data == {"version": "9.11", "eventTime": 7, "unknown": True,
                                                        "fields": []}


def test_an_unverified_lsf_layout_that_does_not_fit_is_an_unknown_record() -> None:
    # JOB_SIGNAL from LSF is read with openlava's layout; if LSF wrote something else there,
    # the record is kept whole rather than refused.
    fits = _record(b'"JOB_SIGNAL" "10.108" 5 101 1501 0 "KILL" 0 "simuser" "extra"').data
    assert (fits["signalSymbol"], fits["userName"], fits["unparsed"]) == ("KILL", "simuser", ["extra"])
    other = _record(b'"JOB_SIGNAL" "10.108" 5 101 "KILL" 0').data
    assert other == {"version": "10.108", "eventTime": 5, "unknown": True, "fields": [101, "KILL", 0]}


# ---- errors ---------------------------------------------------------------------------------

def _error(line: bytes) -> tuple[str, str | None, int | None]:
    with pytest.raises(ParseError) as caught:
        parse(line)
    return caught.value.reason, caught.value.field, caught.value.offset


def test_errors_name_the_field_the_reason_and_the_byte() -> None:
    assert _error(b'"JOB_CLEAN" "22" 5 101') == ("missing (the record ends after 4 fields)", "idx", 22)
    assert _error(b'"JOB_CLEAN" "22" 5 "101" 0') == ('expected an integer, got "101"', "jobId", 19)
    assert _error(b'"JOB_CLEAN" "22" 5 101 0.5') == ("expected an integer, got 0.5", "idx", 23)
    assert _error(b'"JOB_SWITCH" "22" 5 1501 101 7 0 "u"') == ("expected a quoted string, got 7", "queue", 29)
    assert _error(b'"JOB_START" "22" 5 101 4 0 0 1.0 -1 "" "" 0 0') == ("count is negative (-1)", "numExHosts", 33)
    assert _error(b'"JOB_START" "22" 5 101 4 0 0 1.0 2 "h1"') == \
        ("missing (the record ends after 10 fields)", "execHosts[1]", 39)
    assert _error(b'"JOB_STATUS" "22" 5 101 32 0 0 "x" 5 0 0 0') == ('expected a number, got "x"', "cpuTime", 31)
    assert _error(b'"JOB_STATUS" "22" 5 101 32 0 0 0.1 5 1 0.5 0.5 1 1') == \
        ("missing (the record ends after 14 fields)", "lsfRusage.ru_ismrss", 50)
    assert _error(b'"JOB_NEW" "22" 5 101 1 0 1 5 0 0 0 0 0 "u" -1 -1') == \
        ("missing (the record ends after 16 fields)", "rLimits[2]", 48)


def test_an_unterminated_string_names_the_field_it_would_fill() -> None:
    assert _error(b'"JOB_SWITCH" "22" 5 1501 101 "normal" 0 "u') == ("unterminated quoted string", "userName", 40)
    # When the fields before it already do not fit, the first of those is named.
    assert _error(b'"JOB_SWITCH" "22" 5 1501 101 "normal 0 "u"') == ("unterminated quoted string", "idx", 41)
    assert _error(b'"JOB_SWITCH" "22" 5 1501 101 "norm""al 0') == ("unterminated quoted string", "queue", 29)
    assert _error(b'"JOB_SWITCH" "22') == ("unterminated quoted string", "version", 13)
    assert _error(b'"UNKNOWN_TYPE" "22" 5 "x') == ("unterminated quoted string", None, 22)
    assert _error(b'"JOB_CLEAN" "22" 5 1 0 "tail') == ("unterminated quoted string", "unparsed", 23)


def test_lines_that_are_not_records_say_so() -> None:
    assert _error(b"garbage") == ("expected the quoted event type, got garbage", "type", 0)
    assert _error(b"  17 x") == ("expected the quoted event type, got 17", "type", 2)
    assert _error(b'"JOB_NEW"') == ("missing (the record ends after 1 fields)", "version", 9)
    assert _error(b'"JOB_NEW" 22 5') == ("expected the quoted version, got 22", "version", 10)
    assert _error(b'"JOB_NEW" "22" "5"') == ('expected an integer, got "5"', "eventTime", 15)
    assert _error(b'"" "22" 5') == ("empty event type", "type", 0)
    assert _error(b'"JOB_NEW" "v2.2" 5') == \
        ('not a version number: "v2.2" (openlava writes e.g. "22", LSF e.g. "10.108")', "version", 10)


@given(raw=st.binary(max_size=200) | st.builds(lambda t, rest: b'"%s" "22" 5 ' % t.encode() + rest,
                                               st.sampled_from(sorted(WRITERS)), st.binary(max_size=80)))
def test_any_bytes_give_json_ready_records_or_parse_errors(raw: bytes) -> None:
    try:
        result = parse(raw)
    except ParseError as exc:
        assert exc.offset is None or 0 <= exc.offset <= len(raw)
        return
    if result is not None:
        orjson.dumps(result.data)  # no bytes, no surrogates, no int beyond 64 bits
