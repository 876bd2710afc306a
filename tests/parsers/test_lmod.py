"""The `lmod` parser on lmod_tracking's real lines, the spec's fragile cases and generated lines.

The real lines (samples/lmod/: pitt-crc/lmod_tracking's mock log with jobid and its README
example) are asserted value by value as a person reads them. Each way research/lmod.md §2.2 says
the positional parser breaks, and each variant of §1 and §3.1, gets a test: the RFC 3164, ISO-8601
and RFC 5424 prefixes and none, `[pid]` or not, keys in any order, quoted values, values with spaces
or `=`, a module without a version, `jobid=nil`, unknown keys, TACC's comma lines, and the other
lines of a shared syslog file (None). Hypothesis then writes lines with tests/parsers/lmod_writer.py
and expects them back unchanged (key order and value types included), holds the hot path to what
careful() reads, and damages written lines: only a record, None or ParseError may come out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers import lmod
from parsers.lmod import KEY_VALUE, NAME, TACC_CSV, careful, parse
from parsers.record import ParseError, Parsed
from tests.parsers import lmod_writer
from tests.parsers.lmod_writer import record

SAMPLES = Path(__file__).parent / "samples" / "lmod"
MOCK = (SAMPLES / "pittcrc_mock_data_with_jobid.log").read_bytes().splitlines()
README = (SAMPLES / "pittcrc_readme_example.log").read_bytes().splitlines()
MESSAGE = b"user=usr123 module=gcc/5.4.0 path=/modules/gcc/5.4.0.lua host=node1.domain.com time=1682580177.622180"
TACC = b"Apr 27 03:22:57 c401-101 lmod: username=alice, jobid=4242.master, userload=yes, module=gcc/4.7.2, fn=/apps/modulefiles/Core/gcc/4.7.2.lua"


def data_of(raw: bytes) -> dict[str, Any]:
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
    return result.type, repr(result.time), [(key, type(value), repr(value)) for key, value in result.data.items()]


def test_module_serves_the_lmod_format() -> None:
    assert NAME == "lmod"


def test_mock_line_with_a_slurm_job_reads_as_written() -> None:
    assert parse(MOCK[0]) == Parsed("module_load", 1682407234.086799, record(
        "user1", "gcc/8.2.0", "/software/gcc/8.2.0.lua", "gpu-n53.crc.pitt.edu", 1682407234.086799, "1",
        "gpu-n53", "Apr 1 03:20:34"))


def test_mock_line_with_jobid_nil_and_a_module_without_version() -> None:
    data = data_of(MOCK[1])
    assert (data["user"], data["module"], data["package"], data["version"], data["jobid"]) == (
        "user2", "openmpi", "openmpi", None, None)
    assert (data["path"], data["host"], data["time"], data["syslog_time"]) == (
        "/software/gcc/openmpi/4.0.3.lua", "smp-n10.crc.pitt.edu", 1682407234.103664, "May 12 03:20:34")


def test_readme_line_reads_as_written() -> None:
    assert parse(README[0]) == Parsed("module_load", 1682580177.62218, {
        "user": "usr123", "module": "gcc/5.4.0", "package": "gcc", "version": "5.4.0",
        "path": "/modules/gcc/5.4.0.lua", "host": "node1.domain.com", "time": 1682580177.62218, "jobid": None,
        "syslog_host": "node1", "syslog_time": "Apr 27 03:22:57", "pid": None, "variant": "key_value", "extra": {}})


def test_event_time_is_time_with_its_microseconds_not_the_prefix() -> None:
    result = parse(README[0].replace(b"Apr 27 03:22:57", b"Dec 31 23:59:59"))
    assert result is not None and (result.time, result.data["time"]) == (1682580177.62218, 1682580177.62218)
    assert repr(data_of(README[0].replace(b".622180", b".000001"))["time"]) == "1682580177.000001"


def test_rfc3164_prefix_with_padded_day_and_priority() -> None:
    data = data_of(b"<134>Apr  1 03:20:34 gpu-n53 ModuleUsageTracking: " + MESSAGE)
    assert (data["syslog_time"], data["syslog_host"], data["user"]) == ("Apr  1 03:20:34", "gpu-n53", "usr123")


def test_iso_prefix_with_pid_as_rsyslog_high_precision_writes_it() -> None:
    data = data_of(b"2023-04-27T03:22:57.123456+00:00 node1 ModuleUsageTracking[123]: " + MESSAGE)
    assert (data["syslog_time"], data["syslog_host"], data["pid"], data["module"], data["time"]) == (
        "2023-04-27T03:22:57.123456+00:00", "node1", 123, "gcc/5.4.0", 1682580177.62218)


def test_rfc5424_header_gives_pid_from_procid() -> None:
    data = data_of(b"<14>1 2023-04-27T03:22:57.123Z node1 ModuleUsageTracking 4711 - - " + MESSAGE)
    assert (data["syslog_time"], data["syslog_host"], data["pid"], data["host"]) == (
        "2023-04-27T03:22:57.123Z", "node1", 4711, "node1.domain.com")


def test_rfc5424_nil_fields_and_structured_data() -> None:
    line = b'<14>1 - - ModuleUsageTracking - ID47 [origin ip="10.0.0.1" x="a\\]b"] \xef\xbb\xbf' + MESSAGE
    data = data_of(line)
    assert (data["syslog_time"], data["syslog_host"], data["pid"], data["user"]) == (None, None, None, "usr123")


def test_line_without_prefix_starts_at_the_tag() -> None:
    data = data_of(b"ModuleUsageTracking: " + MESSAGE)
    assert (data["syslog_time"], data["syslog_host"], data["pid"], data["host"]) == (None, None, None, "node1.domain.com")
    assert data_of(b"ModuleUsageTracking[77]: " + MESSAGE)["pid"] == 77


def test_tag_without_colon_as_gen1_accepts() -> None:
    assert data_of(b"Apr 27 03:22:57 node1 ModuleUsageTracking " + MESSAGE)["module"] == "gcc/5.4.0"


def test_prefix_of_another_template_keeps_the_word_before_the_tag_as_host() -> None:
    data = data_of(b"2023 Apr 27 03:22:57 node1 ModuleUsageTracking: " + MESSAGE)
    assert (data["syslog_time"], data["syslog_host"]) == ("2023 Apr 27 03:22:57", "node1")


def test_keys_in_any_order_with_jobid_last() -> None:
    line = b"Apr 27 03:22:57 n1 ModuleUsageTracking: time=1.5 host=h path=/p module=a/1 jobid=9 user=u"
    assert parse(line) == Parsed("module_load", 1.5, record("u", "a/1", "/p", "h", 1.5, "9", "n1", "Apr 27 03:22:57"))


def test_double_quoted_values_lose_their_quotes_and_escapes() -> None:
    line = b'ModuleUsageTracking: user="bob" module="my mod/1.0" path="/a b/\\"q\\"\\\\x\\n.lua" host=h time=2'
    data = data_of(line)
    assert (data["user"], data["module"], data["version"], data["path"]) == ("bob", "my mod/1.0", "1.0", '/a b/"q"\\x\\n.lua')


def test_plain_values_with_spaces_run_to_the_next_key() -> None:
    line = b"ModuleUsageTracking: user=u module=python path=/opt/my mods/python 3.lua host=h time=1"
    assert data_of(line)["path"] == "/opt/my mods/python 3.lua"


def test_values_with_equals_signs_are_kept_whole() -> None:
    data = data_of(b"ModuleUsageTracking: user=u module=foo/bar=baz path=/p=q host=h time=1")
    assert (data["module"], data["package"], data["version"], data["path"]) == ("foo/bar=baz", "foo", "bar=baz", "/p=q")


def test_a_space_then_a_word_with_equals_starts_a_key() -> None:
    data = data_of(b"ModuleUsageTracking: user=u module=m path=/a b=c/d.lua host=h time=1")
    assert (data["path"], data["extra"]) == ("/a", {"b": "c/d.lua"})


@pytest.mark.parametrize(("module", "package", "version"), [
    ("python", "python", None), ("gcc/12.2.0", "gcc", "12.2.0"), ("intel/mpi/2021.1", "intel", "mpi/2021.1"),
    ("gcc/", "gcc", ""),
])
def test_package_and_version_split_at_the_first_slash_as_lmod_tracking_does(
        module: str, package: str, version: Optional[str]) -> None:
    data = data_of(b"ModuleUsageTracking: user=u module=%s path=/p host=h time=1" % module.encode())
    assert (data["module"], data["package"], data["version"]) == (module, package, version)


@pytest.mark.parametrize(("written", "jobid"), [
    (b" jobid=nil", None), (b" jobid=", None), (b"", None), (b" jobid=123", "123"), (b" jobid=77_3", "77_3")])
def test_jobid_nil_empty_or_absent_is_none_and_otherwise_text(written: bytes, jobid: Optional[str]) -> None:
    assert data_of(b"ModuleUsageTracking: user=u" + written + b" module=m path=/p host=h time=1")["jobid"] == jobid


def test_unknown_keys_are_kept_in_extra() -> None:
    data = data_of(README[0] + b' cluster=crc shell="bash -l" user_load=yes')
    assert (data["extra"], data["user"]) == ({"cluster": "crc", "shell": "bash -l", "user_load": "yes"}, "usr123")


def test_tacc_comma_line_is_a_record_of_its_own_variant() -> None:
    assert parse(TACC) == Parsed("module_load", None, record(
        "alice", "gcc/4.7.2", "/apps/modulefiles/Core/gcc/4.7.2.lua", "c401-101", None, "4242.master",
        "c401-101", "Apr 27 03:22:57", None, TACC_CSV, {"userload": "yes"}))


def test_tacc_line_takes_its_time_from_a_zoned_iso_stamp_and_none_from_others() -> None:
    message = b" c401-101 lmod: username=alice, jobid=, userload=yes, module=gcc/4.7.2, fn=/f"
    times = {stamp: parse(stamp + message).time for stamp in (  # type: ignore[union-attr]
        b"2023-04-27T03:22:57.622180+00:00", b"2023-04-27T05:22:57Z", b"2023-04-27T03:22:57-0200",
        b"2023-04-27 03:22:57.5+01:00", b"2023-04-27T03:22:57", b"Apr 27 03:22:57", b"2023-02-30T03:22:57Z")}
    assert list(times.values()) == [1682565777.62218, 1682572977.0, 1682572977.0, 1682562177.5, None, None, None]
    assert parse(b"<13>1 2023-04-27T03:22:57Z c401 lmod - - - username=a, jobid=, userload=yes, "  # type: ignore[union-attr]
                 b"module=m, fn=/f").data["time"] == 1682565777.0


def test_tacc_empty_jobid_and_quoted_values() -> None:
    line = b'Apr 27 03:22:57 c401-101 lmod[88]: username="al ice", jobid=, userload=no, module="a, b=c", fn=/x'
    data = data_of(line)
    assert (data["user"], data["jobid"], data["module"], data["pid"], data["extra"]) == (
        "al ice", None, "a, b=c", 88, {"userload": "no"})


def test_tacc_startup_and_error_messages_and_other_lmod_lines_are_not_loads() -> None:
    lines = [b"Apr 27 03:22:57 c401-101 lmod: username=alice, jobid=, cmd=load, args=gcc intel",
             b"Apr 27 03:22:57 c401-101 lmod: username=alice, jobid=, error=e_Failed_Load, module=foo",
             b"Apr 27 03:22:57 c401-101 lmod: Lmod has detected the following error"]
    assert [parse(line) for line in lines] == [None] * 3


def test_other_lines_of_a_shared_syslog_file_are_skipped() -> None:
    lines = [b"Apr 27 03:22:57 node1 sshd[812]: Accepted publickey for usr123 from 10.0.0.5 port 51122 ssh2",
             b"Apr 27 03:22:58 node1 kernel: [ 1.234] lmodule loaded", b"", b"   ", b"\r\n",
             b"Apr 27 03:22:59 node1 sudo: root : TTY=pts/0 ; COMMAND=/usr/bin/logger -t ModuleUsageTracking " + MESSAGE,
             b"Apr 27 03:23:00 node1 rsyslogd: if $programname contains 'ModuleUsageTracking' then @collector",
             b"Apr 27 03:23:01 node1 ModuleUsageTrackingX: " + MESSAGE]
    assert [parse(line) for line in lines] == [None] * 8


def test_missing_required_key_names_the_field_at_the_line_end() -> None:
    line = README[0].replace(b" host=node1.domain.com", b"")
    assert error(line) == ("missing: no host=", "host", len(line))
    assert error(b"ModuleUsageTracking: user=u path=/p host=h time=1\r\n") == ("missing: no module=", "module", 49)


def test_bad_time_names_time_and_its_byte() -> None:
    for bad in (b"yesterday", b"nan", b"1e30", b"1_000", b""):
        line = b"ModuleUsageTracking: user=u module=m path=/p host=h time=" + bad
        assert error(line)[1:] == ("time", line.index(b"time=") + 5)


def test_empty_user_is_refused_rather_than_dropped() -> None:
    assert error(b"ModuleUsageTracking: user= module=m path=/p host=h time=1") == ("user is empty", "user", 26)


def test_a_key_given_twice_is_refused() -> None:
    line = b"ModuleUsageTracking: user=a module=m path=/p host=h time=1 host=g"
    assert error(line) == ("host= given twice", "host", len(line) - 1)


def test_text_that_is_no_pairs_names_user() -> None:
    assert error(b"Apr 27 03:22:57 n1 ModuleUsageTracking: hello " + MESSAGE) == (
        "expected key=value, got 'hello user=usr123 module=gcc/5.4.0 path=...'", "user", 40)


def test_bad_pid_names_pid() -> None:
    assert error(b"Apr 27 03:22:57 n1 ModuleUsageTracking[x1]: " + MESSAGE) == ("expected a process id, got 'x1'", "pid", 39)


def test_tacc_line_without_a_prefix_has_no_host() -> None:
    assert error(b"lmod: username=a, jobid=, userload=yes, module=m, fn=/f")[1:] == ("host", 0)


def test_invalid_utf8_becomes_replacement_characters_and_offsets_count_bytes() -> None:
    data = data_of(b"ModuleUsageTracking: user=caf\xe9 module=m path=/p\xc3\xa9 host=h time=1")
    assert (data["user"], data["path"]) == ("caf\ufffd", "/p\u00e9")
    line = b"ModuleUsageTracking: user=\xc3\xa9\xff module=m path=/p host=h time=x"
    assert error(line)[1:] == ("time", len(line) - 1)


@pytest.mark.parametrize("line", [MOCK[0], MOCK[1], README[0], lmod_writer.usual(5),
                                  b"2023-04-27T03:22:57.123+00:00 node1 ModuleUsageTracking[123]: " + MESSAGE])
def test_usual_lines_take_the_hot_path(monkeypatch: pytest.MonkeyPatch, line: bytes) -> None:
    expected = careful(line)
    monkeypatch.setattr(lmod, "careful", lambda raw: pytest.fail("careful() read a usual line"))
    assert exact(parse(line)) == exact(expected)


def test_records_share_no_dict() -> None:
    first, second = parse(MOCK[0]), parse(MOCK[0])
    assert first is not None and second is not None and first.data["extra"] is not second.data["extra"]


@given(lmod_writer.lines())
def test_written_lines_round_trip(case: tuple[dict[str, Any], bytes]) -> None:
    data, line = case
    assert exact(parse(line)) == exact(Parsed("module_load", data["time"], data))


@given(lmod_writer.lines(), st.sampled_from([b"\n", b"\r\n", b" \t\n", b""]))
def test_line_endings_and_trailing_blanks_do_not_matter(case: tuple[dict[str, Any], bytes], end: bytes) -> None:
    assert exact(parse(case[1] + end)) == exact(parse(case[1]))


def outcome(parser: Any, raw: bytes) -> object:
    try:
        return exact(parser(raw))
    except ParseError as exc:
        return str(exc)


@given(st.integers(0, 10**9), st.sampled_from([(b"", b""), (b" module=", b' module="'), (b" jobid=", b" jobid= "),
                                               (b"ModuleUsageTracking", b"ModuleUsageTracking[99]"), (b" time=", b" time=-"),
                                               (b".0 time=", b".0 cluster=x time="), (b"time=1", b"time=1 "),
                                               (b".lua host", b".lua  host"), (b"user=", b"user=\xc3\xa9")]))
@pytest.mark.parametrize("prefix", [b"", b"<13>Apr 27 00:00:00 node7", b"2023-04-27T03:22:57.123456+02:00 node7",
                                    b"<13>2023-04-27 03:22:57 node7", b"Apr 27 2023 03:22:57 node7",
                                    b"Apr 27 00:00:00 ModuleUsageTracking", b"Apr 27 00:00:00 node7 cron:"])
def test_hot_path_reads_what_careful_reads(prefix: bytes, n: int, change: tuple[bytes, bytes]) -> None:
    line = lmod_writer.usual(n).replace(*change)
    if prefix:
        line = prefix + line[line.index(b" ModuleUsageTracking"):]
    assert outcome(parse, line) == outcome(careful, line)


@given(lmod_writer.lines(variants=(KEY_VALUE,)), st.data())
def test_damaged_lines_give_a_record_none_or_parse_error(case: tuple[dict[str, Any], bytes], draw: st.DataObject) -> None:
    line = case[1]
    at = draw.draw(st.integers(0, len(line)))
    cut = draw.draw(st.integers(0, 8))
    line = line[:at] + draw.draw(st.binary(max_size=4) | st.sampled_from([b" ", b"=", b'"', b"\xff", b", "])) + line[at + cut:]
    try:
        result = parse(line)
    except ParseError as exc:
        assert exc.field in {"user", "module", "path", "host", "time", "jobid", "pid", "extra"}
        assert exc.offset is not None and 0 <= exc.offset <= len(line)
        return
    assert result is None or isinstance(result, Parsed)
