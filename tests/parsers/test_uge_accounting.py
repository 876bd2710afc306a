"""The `uge-accounting` parser on real UGE 8.2 / SGE 6.2 / newer UGE lines, bad lines and generated ones.

The real samples (samples/uge-accounting/, provenance in samples/SOURCES.md) are asserted field by
field as a person reading them would. Hypothesis then checks that records written by
tests/parsers/uge_writer.py in every layout come back unchanged, and that such lines, once
damaged, give only a record, None or ParseError.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers import FORMATS, ParseError, Parsed
from parsers.uge_accounting import NAME, NAMES, parse
from tests.parsers import uge_writer

SAMPLES = Path(__file__).parent / "samples" / "uge-accounting"
UG82 = SAMPLES / "gridengine-accounting_ug82_accounting"
XDMOD_UGE = SAMPLES / "xdmod_uge_accounting-logs.log"
XDMOD_SGE = SAMPLES / "xdmod_sge62_accounting-logs.log"


def parsed_lines(path: Path) -> list[Optional[Parsed]]:
    return [parse(line) for line in path.read_bytes().splitlines()]


def records(path: Path) -> list[Parsed]:
    return [r for r in parsed_lines(path) if r is not None]


def sge_line(**fields: Any) -> bytes:
    """A valid 45-field SGE 6.2 line (the XDMoD sample's first line) with some fields replaced."""
    data = dict(records(XDMOD_SGE)[0].data, **fields)
    return uge_writer.write(data)


def error(raw: bytes) -> tuple[str, Optional[str], Optional[int]]:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    return caught.value.reason, caught.value.field, caught.value.offset


def test_format_is_registered_under_its_config_name() -> None:
    assert FORMATS["uge-accounting"] is parse and NAME == "uge-accounting"


def test_ug82_sample_has_4_header_lines_and_21_records() -> None:
    results = parsed_lines(UG82)
    assert results[:4] == [None, None, None, None]
    assert len(results) == 25 and all(isinstance(r, Parsed) for r in results[4:])


def test_ug82_first_record_reads_as_written() -> None:
    first = records(UG82)[0]
    assert (first.type, first.time) == ("accounting", 1416359112.016)
    assert {k: first.data[k] for k in ("qname", "hostname", "group", "owner", "job_name", "job_number",
                                       "submission_time", "start_time", "end_time", "failed",
                                       "exit_status", "ru_wallclock", "category", "submit_host", "cwd",
                                       "submit_cmd", "time_unit", "layout")} == {
        "qname": "all.q", "hostname": "master", "group": "irvined", "owner": "irvined",
        "job_name": "check.sh", "job_number": 1, "submission_time": 1416358463256,
        "start_time": 1416359112008, "end_time": 1416359112016, "failed": 0, "exit_status": 1,
        "ru_wallclock": 0.008, "category": "-binding no_job_binding 0 0 0 0 no_explicit_binding",
        "submit_host": "master", "cwd": "NONE", "submit_cmd": "qsub ./check.sh",
        "time_unit": "ms", "layout": "uge"}


def test_ug82_record_has_the_52_names_in_file_order_then_unit_and_layout() -> None:
    data = records(UG82)[0].data
    assert list(data) == [*NAMES, "time_unit", "layout"]
    assert (data["ru_maxrss"], data["maxvmem"], data["maxrss"], data["project"]) == (1548.0, 0.0, 0, "NONE")


def test_ug82_killed_job_has_failed_100_exit_137_and_float_wallclock() -> None:
    killed = [r.data for r in records(UG82) if r.data["failed"] == 100]
    assert [(d["job_number"], d["exit_status"], d["ru_wallclock"], d["maxvmem"]) for d in killed] == [
        (2, 137, 9.801, 19947520.0)]


def test_ug82_failed_attempts_have_zero_times_and_no_event_time() -> None:
    failed = [r for r in records(UG82) if r.data["failed"] == 1]
    assert [(r.data["job_number"], r.data["hostname"]) for r in failed] == [
        (4, "comp04"), (5, "comp03"), (6, "comp02"), (7, "comp00"), (8, "comp01")]
    assert {(r.time, r.data["submission_time"], r.data["start_time"], r.data["end_time"],
             r.data["time_unit"]) for r in failed} == {(None, 0, 0, 0, "ms")}


def test_ug82_retried_job_appears_once_per_attempt() -> None:
    job4 = [r.data for r in records(UG82) if r.data["job_number"] == 4]
    assert [(d["hostname"], d["failed"], d["start_time"]) for d in job4] == [
        ("comp04", 1, 0), ("master", 0, 1416359445104)]


def test_xdmod_45_field_line_with_ms_times_is_sge_layout_in_ms() -> None:
    line = records(XDMOD_UGE)[0]
    assert (line.time, line.data["layout"], line.data["time_unit"]) == (1311095414.0, "sge", "ms")
    assert (line.data["submission_time"], line.data["ru_wallclock"], line.data["ar_submission_time"]) == (
        1310761621000, 60.0, 0)
    assert "job_class" not in line.data and "extra" not in line.data


def test_74_field_line_keeps_52_named_fields_and_22_extra_values() -> None:
    line = records(XDMOD_UGE)[1]
    assert (line.data["layout"], line.data["time_unit"], line.time) == ("uge", "ms", 1652124460.193)
    assert (line.data["job_number"], line.data["slots"], line.data["maxrss"], line.data["submit_cmd"]) == (
        4437956, 16, 668106752, "qsub script.sh")
    extra = line.data["extra"]
    assert (len(extra), extra[:3], extra[16], extra[-1]) == (
        22, ["12838.830000", "954601", "NONE"], "gpu=1,m_mem_free=1G", "REDACTED")


def test_sge62_lines_are_seconds_with_category_holding_equals_and_commas() -> None:
    first, second = records(XDMOD_SGE)
    assert (first.time, first.data["time_unit"], first.data["layout"]) == (1311095414.0, "s", "sge")
    assert (first.data["submission_time"], first.data["ru_wallclock"], first.data["maxvmem"]) == (
        1310761621, 60.0, 189153280.0)
    assert second.data["category"] == (
        "-l h_cpu=36000,h_rt=36000,qname=myqueue,s_cpu=36000,s_rt=36000,mem_free=1.000T,s_vmem=1.024t -pe mype 1")


def test_every_sample_record_encodes_as_json() -> None:
    data = [r.data for path in (UG82, XDMOD_UGE, XDMOD_SGE) for r in records(path)]
    assert len(orjson.loads(orjson.dumps(data))) == 21 + 2 + 2


@pytest.mark.parametrize("raw", [b"", b"\n", b"x", b":", b"#", b"# Version: 8.2.0", b"# ", b"   \t", b"\r\n"])
def test_blank_short_and_comment_lines_are_skipped(raw: bytes) -> None:
    assert parse(raw) is None


def test_line_ending_is_not_part_of_the_last_field() -> None:
    raw = UG82.read_bytes().splitlines()[4]
    assert parse(raw + b"\r\n") == parse(raw + b"\n") == parse(raw)


@pytest.mark.parametrize("code", [2, 5, 15, 22, 23, 37, 100, 4294967295])
def test_any_failed_code_parses(code: int) -> None:
    assert parse(sge_line(failed=code)).data["failed"] == code  # type: ignore[union-attr]


def test_sge60_line_of_43_fields_has_no_advance_reservation_fields() -> None:
    raw = b":".join(sge_line().split(b":")[:43])
    data = parse(raw).data  # type: ignore[union-attr]
    assert (data["layout"], data["maxvmem"], "arid" in data) == ("sge60", 189153280.0, False)


@pytest.mark.parametrize(("layout", "colons"), [("sge", 1), ("sge", 6), ("sge60", 1)])
def test_colons_inside_sge_category_are_joined_back(layout: str, colons: int) -> None:
    category = "-l h_rt=" + ":".join(["1"] * (colons + 1))
    raw = sge_line(category=category)
    if layout == "sge60":
        raw = raw.rsplit(b":", 2)[0]  # without arid and ar_submission_time
    data = parse(raw).data  # type: ignore[union-attr]
    assert (data["layout"], data["category"], data["iow"], data["pe_taskid"], data["maxvmem"]) == (
        layout, category, 0.0, "NONE", 189153280.0)


def test_colon_in_uge_submit_cmd_cannot_be_told_from_an_appended_field() -> None:
    raw = UG82.read_bytes().splitlines()[4].replace(b"qsub ./check.sh", b"qsub -l h_rt=01:00:00 ./check.sh")
    data = parse(raw).data  # type: ignore[union-attr]
    assert (data["submit_cmd"], data["extra"]) == ("qsub -l h_rt=01", ["00", "00 ./check.sh"])
    assert ":".join([data["submit_cmd"], *data["extra"]]) == "qsub -l h_rt=01:00:00 ./check.sh"


def test_invalid_utf8_is_replaced_and_the_record_encodes_as_json() -> None:
    data = parse(sge_line(job_name="cafX").replace(b"cafX", b"caf\xe9")).data  # type: ignore[union-attr]
    assert data["job_name"] == "caf\ufffd"
    assert b'"job_name":"caf\xef\xbf\xbd"' in orjson.dumps(data)


def test_numbers_json_would_refuse_still_parse_as_python_reads_them() -> None:
    data = parse(sge_line(ru_utime="+1.5", slots="007", maxvmem="1e3")).data  # type: ignore[union-attr]
    assert (data["ru_utime"], data["slots"], data["maxvmem"]) == (1.5, 7, 1000.0)


def test_non_integer_job_number_names_the_field_and_its_byte() -> None:
    raw = sge_line(job_number="abc")
    assert error(raw) == ("expected an integer, got 'abc'", "job_number", raw.index(b":abc:") + 1)


def test_non_number_in_a_float_field_is_refused() -> None:
    raw = sge_line(ru_utime="12,5")
    assert error(raw) == ("expected a number, got '12,5'", "ru_utime", raw.index(b"12,5"))


def test_offset_counts_bytes_after_multibyte_text_and_rejoined_category() -> None:
    raw = sge_line(owner="jürgen", category="a:b:c", maxvmem="lots")
    assert error(raw) == ("expected a number, got 'lots'", "maxvmem", raw.index(b"lots"))


def test_integer_outside_64_bits_is_refused_rather_than_made_unencodable() -> None:
    raw = sge_line(slots=str(2**64))
    assert error(raw) == (f"integer out of the 64-bit range: '{2**64}'", "slots", raw.index(str(2**64).encode()))


def test_too_few_fields_is_refused_naming_the_first_missing_one() -> None:
    raw = b":".join(sge_line().split(b":")[:30])
    assert error(raw) == ("too few fields: 30 (SGE needs at least 43)", "ru_nivcsw", len(raw))


@given(st.sampled_from(["sge60", "sge", "uge"]).flatmap(uge_writer.records))
def test_written_records_round_trip(data: dict[str, Any]) -> None:
    result = parse(uge_writer.write(data))
    assert result is not None
    scale = 1000 if data["time_unit"] == "ms" else 1
    assert (result.data, result.time) == (data, data["end_time"] / scale if data["end_time"] else None)


@st.composite
def _damaged_lines(draw: st.DrawFn) -> bytes:
    """A written record with a few fields replaced by any bytes, numeric-looking or not: past the
    field count and into the conversions, where a line of random bytes rarely gets."""
    fields = uge_writer.write(draw(st.sampled_from(["sge60", "sge", "uge"]).flatmap(uge_writer.records))).split(b":")
    junk = st.one_of(st.binary(max_size=8), st.from_regex(rb"\A[-+0-9.eE,]{0,8}\Z"))
    for index in draw(st.lists(st.integers(0, len(fields) - 1), max_size=3)):
        fields[index] = draw(junk)
    return b":".join(fields)


@given(_damaged_lines())
def test_damaged_lines_give_a_record_none_or_parse_error(raw: bytes) -> None:
    try:
        result = parse(raw)
    except ParseError as exc:
        assert exc.field in NAMES and exc.offset is not None and 0 <= exc.offset <= len(raw)
        return
    assert result is None or orjson.loads(orjson.dumps(result.data))["layout"] in {"sge60", "sge", "uge"}
