"""The `gridftp` parser and framer on the real transfer-log samples, the spec's fragile cases and
generated records.

The real lines (samples/gridftp/: esmond's lbl-diskpt1 example, NERSC's pytokio test log with the
edge cases its authors added) are asserted value by value as a person reads them. The fragile
cases of research/esmond.md §1.1 each get a test: FILE with spaces and `=`, the main-log
`Transfer stats: ` prefix, a record cut at 4095 bytes that ran on into the next one, the old
unpadded `.%d` microseconds, TASKID and retrans present or not, unknown keys, DEST=[0.0.0.0].
Hypothesis then writes records with tests/parsers/gridftp_writer.py and expects them back
unchanged (key order and value types included), holds the hot path (`gridftp_fields.usual`) to
what the careful one reads, frames concatenations of records, and damages them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers import gridftp_fields
from parsers.gridftp import LOG_BUFFER, NAME, frame, parse
from parsers.gridftp_fields import careful, usual
from parsers.record import ParseError, Parsed
from tests.parsers import gridftp_writer

SAMPLES = Path(__file__).parent / "samples" / "gridftp"
LBL = (SAMPLES / "esmond-docs-lbl-diskpt1-transfer-retrans.log").read_bytes()
NERSC = (SAMPLES / "nersc-pytokio-globuslogs-transfer.log").read_bytes().splitlines()
#: The main-log header of the real line quoted in research/esmond.md §1.1 (a PSC script comment).
PSC_HEADER = b"[24775] Thu Jul 27 12:59:42 2023 :: Transfer stats: "
CUT_REASON = "record cut at 4095 bytes by GridFTP's log buffer"


def record(raw: bytes) -> dict[str, Any]:
    result = parse(raw)
    assert result is not None
    return result.data


def error(raw: bytes) -> tuple[str, Optional[str], Optional[int]]:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    return caught.value.reason, caught.value.field, caught.value.offset


def exact(result: Optional[Parsed]) -> object:
    """`result` with what == does not see: the data's key order and each value's type."""
    if result is None:
        return None
    return result.type, repr(result.time), [(key, type(value), value) for key, value in result.data.items()]


def units(data: bytes, final: bool = True) -> list[bytes]:
    spans, _ = frame(data, final)
    return [data[start:end] for start, end in spans]


def test_module_serves_the_gridftp_format() -> None:
    assert NAME == "gridftp"


def test_lbl_line_reads_as_written_with_its_per_stream_retransmits() -> None:
    result = parse(LBL)
    assert result == Parsed("RETR", 1428418785.113944, {
        "date": "2015-04-07T14:59:45.113944Z", "start": "2015-04-07T14:59:36.596363Z", "duration": 8.517581,
        "host": "lbl-diskpt1.es.net", "prog": "globus-gridftp-server", "nl_evnt": "FTP_INFO",
        "user": "anonymous", "file": "/data1/100M.dat", "buffer": 87380, "block": 262144,
        "nbytes": 100000000, "volume": "/", "streams": 5, "stripes": 1, "dest": "192.100.78.81",
        "type": "RETR", "code": 226, "taskid": None, "retrans": [36, 17, 27, 25, 61],
        "usec_unpadded": False, "pid": None, "log_time": None, "extra": {}})


def test_nersc_sample_has_five_stores_then_six_retrieves_without_taskid_or_retrans() -> None:
    records = [parse(line) for line in NERSC]
    assert [r.type for r in records if r] == ["STOR"] * 5 + ["RETR"] * 6
    assert {(r.data["taskid"], r.data["retrans"], r.data["code"]) for r in records if r} == {(None, None, 226)}


def test_nersc_first_store_reads_as_written() -> None:
    data = record(NERSC[0])
    assert (data["date"], data["start"], data["duration"], data["nbytes"], data["streams"], data["dest"]) == (
        "2019-07-31T07:30:44.992375Z", "2019-07-31T07:30:30.432241Z", 14.560134, 2753284040, 1, "192.101.102.150")
    assert data["file"] == "/home/c/glock/pic/constance/forecast/Global/complete/wrf2019051000/wrfout_d01_2019-05-10_00:00:00"


def test_nersc_file_with_a_space_keeps_it() -> None:
    data = record(NERSC[5])
    assert data["file"].endswith("/wrfdetail/wrf1hr_d03_2015 04-25_00:00:00")
    assert (data["buffer"], data["streams"], data["dest"], data["duration"]) == (235104, 4, "128.117.181.64", 2.655849)


def test_nersc_file_with_an_equals_sign_and_a_space_keeps_both() -> None:
    assert record(NERSC[6])["file"] == (
        "/home/c/glock/NCAR/cheyenne/WRFCHEM/output/TP/1-0.2-0.04/480x350/v3.5.1_20170517_compile20190703/"
        "2015/wrfonly_noah.mynn/wrfdetail/wrf1hr=d03_2015 05-03_00:00:00")
    assert record(NERSC[7])["file"].endswith("/wrf1hr=d03_2015-05-01_00:00:00")


def test_dest_0000_loses_its_brackets_like_any_other() -> None:
    assert [record(line)["dest"] for line in NERSC[6:11]] == [
        "128.117.181.62", "128.117.181.61", "0.0.0.0", "128.117.181.63", "0.0.0.0"]


def test_nersc_repeated_transfer_is_kept_with_its_own_end_time() -> None:
    first, again = record(NERSC[8]), record(NERSC[10])
    assert (first["file"], first["start"]) == (again["file"], again["start"])
    assert (first["date"], first["duration"], again["date"], again["duration"]) == (
        "2019-07-31T07:33:30.019578Z", 2.916897, "2019-07-31T07:33:27.302681Z", 0.2)


def test_main_log_line_carries_pid_and_local_time_and_the_same_record() -> None:
    result = parse(PSC_HEADER + LBL)
    assert result is not None and result.type == "RETR"
    assert (result.data["pid"], result.data["log_time"]) == (24775, "Thu Jul 27 12:59:42 2023")
    assert dict(result.data, pid=None, log_time=None) == record(LBL)


def test_other_main_log_lines_and_blank_lines_are_not_records() -> None:
    lines = [b"[24775] Thu Jul 27 12:59:40 2023 :: New connection from: 192.100.78.81:43962",
             b"[24775] Thu Jul 27 12:59:42 2023 :: Closed connection from 192.100.78.81:43962",
             b"    Requested: /data1/100M.dat", b"", b"   \r\n", b"retrans=1,2 TYPE=RETR CODE=226"]
    assert [parse(line) for line in lines] == [None] * 6


def test_syslog_prefix_is_kept_whole_as_log_time_without_a_pid() -> None:
    data = record(b"Jul 27 12:59:42 dtn1 globus-gridftp-server[24775]: Transfer stats: " + LBL)
    assert (data["pid"], data["log_time"], data["nbytes"]) == (
        None, "Jul 27 12:59:42 dtn1 globus-gridftp-server[24775]:", 100000000)


def test_transfer_stats_without_a_record_names_date() -> None:
    assert error(PSC_HEADER + b"garbage") == (
        "missing: expected DATE= after 'Transfer stats: '", "date", len(PSC_HEADER))


def test_taskid_and_retrans_after_code_are_read() -> None:
    line = LBL.replace(b"CODE=226 ", b"CODE=226 TASKID=5b0f8ef2-45a1-11ee-9d1b-0242ac120002 ")
    data = record(line)
    assert (data["taskid"], data["retrans"]) == ("5b0f8ef2-45a1-11ee-9d1b-0242ac120002", [36, 17, 27, 25, 61])
    assert record(LBL.replace(b" retrans=36,17,27,25,61", b" TASKID=none"))["taskid"] == "none"


def test_unknown_keys_after_code_are_kept_in_extra() -> None:
    data = record(NERSC[0] + b" TASKID=none APP=globus-url-copy NOTE=a=b")
    assert (data["taskid"], data["extra"]) == ("none", {"APP": "globus-url-copy", "NOTE": "a=b"})


def test_non_retr_stor_transfers_are_records_with_their_type() -> None:
    types = [parse(LBL.replace(b"TYPE=RETR", b"TYPE=" + kind)) for kind in (b"LIST", b"NLST", b"ESTO", b"ERET")]
    assert [(r.type, r.data["type"]) for r in types if r] == [
        ("LIST", "LIST"), ("NLST", "NLST"), ("ESTO", "ESTO"), ("ERET", "ERET")]


def test_unpadded_microseconds_are_integer_microseconds() -> None:
    data = record(LBL.replace(b"DATE=20150407145945.113944", b"DATE=20150407145945.2102"))
    assert (data["date"], data["duration"], data["usec_unpadded"]) == ("2015-04-07T14:59:45.002102Z", 8.405739, True)


def test_unpadded_start_flags_the_record_and_keeps_the_end_time() -> None:
    result = parse(LBL.replace(b"START=20150407145936.596363", b"START=20150407145936.7"))
    assert result is not None and result.time == 1428418785.113944
    assert (result.data["start"], result.data["duration"], result.data["usec_unpadded"]) == (
        "2015-04-07T14:59:36.000007Z", 9.113937, True)


def test_file_holding_buffer_marker_ends_at_the_last_one() -> None:
    data = record(LBL.replace(b"FILE=/data1/100M.dat", b"FILE=/data1/a BUFFER=1 BLOCK=2 x"))
    assert (data["file"], data["buffer"], data["block"]) == ("/data1/a BUFFER=1 BLOCK=2 x", 87380, 262144)


def test_record_cut_at_4095_bytes_runs_on_and_the_next_record_survives() -> None:
    long = NERSC[0].replace(b"FILE=/home", b"FILE=/home" + b"/deep" * 900)
    log = long[:LOG_BUFFER] + NERSC[1] + b"\n"
    assert units(log) == [long[:LOG_BUFFER], NERSC[1]]
    assert error(long[:LOG_BUFFER]) == (f"missing: {CUT_REASON}", "buffer", 4095)
    assert record(units(log)[1]) == record(NERSC[1])


def test_record_of_exactly_4095_bytes_lost_only_its_newline_but_is_refused() -> None:
    line = NERSC[0].replace(b"FILE=/home", b"FILE=/home" + b"x" * (LOG_BUFFER - len(NERSC[0])))
    assert len(line) == LOG_BUFFER
    assert units(line + NERSC[1] + b"\n") == [line, NERSC[1]]
    assert error(line) == (f"{CUT_REASON}: its last value may be incomplete", "code", 4095)


def test_main_log_record_cut_runs_on_into_the_next_header() -> None:
    body = NERSC[0].replace(b"FILE=/home", b"FILE=/home" + b"/deep" * 900)[:LOG_BUFFER]
    log = PSC_HEADER + body + PSC_HEADER + NERSC[1] + b"\n"
    assert units(log) == [PSC_HEADER + body, PSC_HEADER + NERSC[1]]
    assert error(PSC_HEADER + body) == (f"missing: {CUT_REASON}", "buffer", len(PSC_HEADER) + 4095)


def test_long_line_without_a_record_at_byte_4095_is_not_split() -> None:
    line = NERSC[0].replace(b"FILE=/home", b"FILE=/home" + b"/deep" * 900)
    assert units(line + b"\n") == [line]
    assert record(line)["file"].count("/deep") == 900


def test_frame_consumes_blank_lines_and_keeps_an_unterminated_line_for_later() -> None:
    log = b"\n" + NERSC[0] + b"\r\n  \n\n" + NERSC[1]
    assert frame(log, False) == ([(1, 1 + len(NERSC[0]) + 1)], len(log) - len(NERSC[1]))
    assert units(log, final=True) == [NERSC[0] + b"\r", NERSC[1]]
    assert record(NERSC[0] + b"\r") == record(NERSC[0])


def test_cut_piece_is_delivered_once_the_next_record_shows() -> None:
    long = NERSC[0].replace(b"FILE=/home", b"FILE=/home" + b"/deep" * 900)
    assert frame(long[:LOG_BUFFER] + b"DATE", False) == ([], 0)
    assert frame(long[:LOG_BUFFER] + b"DATE=2019", False) == ([(0, LOG_BUFFER)], LOG_BUFFER)


def test_bad_date_names_the_field_and_its_byte() -> None:
    assert error(LBL.replace(b"DATE=20150407145945", b"DATE=20151307145945")) == (
        "expected a UTC time YYYYmmddHHMMSS.microseconds, got '20151307145945.113944'", "date", 5)


def test_bad_start_is_located_after_multibyte_text() -> None:
    line = PSC_HEADER.replace(b"Thu", b"D\xc3\xb6n") + LBL.replace(b"HOST=lbl", b"HOST=l\xc3\xa9l").replace(
        b"START=20150407145936.596363", b"START=yesterday")
    assert error(line) == ("expected a UTC time YYYYmmddHHMMSS.microseconds, got 'yesterday'", "start",
                           line.index(b"yesterday"))


def test_bad_integer_names_the_field_and_its_byte() -> None:
    line = NERSC[5].replace(b"NBYTES=3064334152", b"NBYTES=3.0e9")
    assert error(line) == ("expected a 64-bit integer, got '3.0e9'", "nbytes", line.index(b"3.0e9"))


def test_integer_beyond_64_bits_is_refused() -> None:
    line = LBL.replace(b"NBYTES=100000000", b"NBYTES=" + str(2**64).encode())
    assert error(line)[:2] == (f"expected a 64-bit integer, got '{2**64}'", "nbytes")


def test_bad_retrans_count_names_retrans() -> None:
    line = LBL.replace(b"retrans=36,17", b"retrans=36,x")
    assert error(line) == ("expected a 64-bit integer, got '36,x,27,25,61'", "retrans", line.index(b"36,x"))


def test_words_after_code_that_are_not_keys_spoil_code() -> None:
    line = NERSC[0] + b" aborted"
    assert error(line) == ("expected a 64-bit integer, got '226 aborted'", "code", line.index(b"226"))


def test_missing_key_names_the_field_at_the_end_of_the_line() -> None:
    line = NERSC[0].replace(b" VOLUME=/", b"")
    assert error(line) == ("missing: no VOLUME= after NBYTES", "volume", len(line))


def test_empty_type_is_refused() -> None:
    assert error(LBL.replace(b"TYPE=RETR", b"TYPE="))[:2] == ("TYPE is empty", "type")


def test_invalid_utf8_in_file_becomes_replacement_characters() -> None:
    data = record(LBL.replace(b"/data1/100M.dat", b"/data1/caf\xe9 menu.dat"))
    assert (data["file"], data["nbytes"]) == ("/data1/caf\ufffd menu.dat", 100000000)


@given(gridftp_writer.records())
def test_written_records_round_trip(data: dict[str, Any]) -> None:
    assert exact(parse(gridftp_writer.write(data))) == exact(Parsed(data["type"], gridftp_writer.event_time(data), data))


@given(gridftp_writer.records())
def test_hot_path_reads_what_a_server_writes_as_the_careful_path_does(data: dict[str, Any]) -> None:
    raw = gridftp_writer.write(dict(data, pid=None, log_time=None))
    if not raw.isascii() or len(raw) == LOG_BUFFER:
        return
    quick = usual(raw.decode())
    assert quick is not None or not gridftp_writer.usual_reads(data)
    if quick is not None:
        slow, time = careful(raw.decode(), 0, 0)
        assert exact(quick) == exact(Parsed(slow["type"], time, dict(slow, pid=None, log_time=None)))


def test_records_sharing_settings_share_no_dict() -> None:
    first, second = parse(NERSC[0]), parse(NERSC[0])
    assert first is not None and second is not None and first.data is not second.data
    first.data["extra"]["NOTE"] = "x"
    first.data["host"] = "changed"
    assert (second.data["host"], second.data["extra"]) == ("dtn11.nersc.gov", {})


def test_settings_cache_stays_bounded_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gridftp_fields, "_TEMPLATES_MAX", 2)
    lines = [NERSC[0].replace(b"STREAMS=1", b"STREAMS=%d" % n) for n in range(5)] * 2
    assert [record(line)["streams"] for line in lines] == list(range(5)) * 2
    assert len(gridftp_fields._TEMPLATES) <= 2


@pytest.mark.parametrize(("old", "new", "key", "value"), [
    (b"retrans=36,17", b"retrans=036,17", "retrans", [36, 17, 27, 25, 61]),
    (b"NBYTES=100000000", b"NBYTES=-1", "nbytes", -1),
    (b"NBYTES=100000000", b"NBYTES=0000000000100000000", "nbytes", 100000000),
    (b"DEST=[192.100.78.81]", b"DEST=[a]]", "dest", "a]"),
    (b"retrans=36,17,27,25,61", b"TASKID=a\tb", "taskid", "a\tb"),
    (b"retrans=36,17,27,25,61", b"TASKID=a b", "taskid", "a b"),
])
def test_values_the_hot_path_leaves_to_the_others_read_the_same(old: bytes, new: bytes, key: str, value: object) -> None:
    line = LBL.replace(old, new)
    assert usual(line.decode()) is None
    assert record(line)[key] == value


_blank_lines = st.sampled_from([b"", b" ", b"\r", b"\t \r"])


@st.composite
def _log(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int, int]], list[tuple[int, int]]]:
    """A transfer log or a main log: records with their newline, blank lines, and records cut at
    4095 bytes that run on into the record after them. Returns the bytes, each record's
    (start, end, where it is known to be complete: after its newline, or once the next record's
    `DATE=` or `[pid] ` shows) and each cut record's (end, where it is known to be complete)."""
    main_log = draw(st.booleans())
    header: dict[str, Any] = {"pid": 24775 if main_log else None,
                              "log_time": "Thu Jul 27 12:59:42 2023" if main_log else None}
    lines = gridftp_writer.records().map(lambda d: gridftp_writer.write(dict(d, **header)))
    data = b""
    expected: list[tuple[int, int, int]] = []
    cuts: list[tuple[int, int]] = []
    for kind in draw(st.lists(st.sampled_from(["record", "blank", "cut"]), max_size=8)):
        start = len(data)
        if kind == "blank":
            data += draw(_blank_lines) + b"\n"
            continue
        if kind == "cut":
            long = draw(lines.filter(lambda raw: b"FILE=" in raw))
            long = long.replace(b"FILE=", b"FILE=/long" + b"/x" * 2100, 1)
            data += long[:long.index(b"DATE=") + LOG_BUFFER]
            line = draw(lines)
            shown = len(data) + (5 if not main_log else line.index(b" ") + 1)
            expected.append((start, len(data), shown))
            cuts.append((len(data), shown))
            start = len(data)
        else:
            line = draw(lines)
        data += line + b"\n"
        expected.append((start, start + len(line), len(data)))
    if draw(st.booleans()) and data.endswith(b"\n"):  # the last line is not finished yet
        data = data[:-1]
        expected = [(s, e, min(c, len(data) + 1)) for s, e, c in expected]
    return data, expected, cuts


@given(_log(), st.data())
def test_frame_gives_exactly_the_records_each_prefix_holds(log: tuple[bytes, list[tuple[int, int, int]], list[tuple[int, int]]],
                                                           draw: st.DataObject) -> None:
    """Framing any prefix of a log (final=False) gives exactly the units known to be complete in
    it and consumes up to the last of them (blank lines included); the whole log with final=True
    gives every unit and consumes everything."""
    data, expected, cuts = log
    cut = draw.draw(st.integers(0, len(data)))
    consumed = max([data.rfind(b"\n", 0, cut) + 1] + [end for end, shown in cuts if shown <= cut])
    assert frame(data[:cut], False) == ([(s, e) for s, e, c in expected if c <= cut], consumed)
    assert frame(data, True) == ([(s, e) for s, e, _ in expected], len(data))


@st.composite
def _damaged(draw: st.DrawFn) -> bytes:
    """A written record with a few byte ranges replaced by any bytes: past the first keys, into
    the values and markers, where random bytes rarely get."""
    raw = bytearray(gridftp_writer.write(draw(gridftp_writer.records())))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        raw[at:at + draw(st.integers(0, 6))] = draw(st.binary(max_size=6))
    return bytes(raw)


@given(_damaged())
def test_damaged_records_give_a_record_none_or_a_located_parse_error(raw: bytes) -> None:
    try:
        result = parse(raw)
    except ParseError as exc:
        assert exc.field is not None and exc.offset is not None and 0 <= exc.offset <= len(raw)
        return
    assert result is None or result.type == result.data["type"]
