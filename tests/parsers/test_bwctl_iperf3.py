"""The `bwctl-iperf3` parser on bwctl documents around real iperf3 results, their fragile cases and generated runs.

No real `bwctl … -T iperf3 --parsable --verbose` capture is public, so the samples
(samples/bwctl-iperf3/) are synthetic: bwctl's lines as its source writes them (esmond.md §2)
around the real iperf3 JSON of samples/iperf3/. Each fragile case of the spec is a test that edits
one of them: a local run, GMT against UTC, the header lines missing without --verbose or without
stderr, exec_line on either side of start_tool, stop_tool missing, a failed tool. Hypothesis
round-trips runs wrapped by tests/parsers/iperf3_writer.py and feeds damaged and arbitrary input.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers import ParseError, Parsed
from parsers import iperf3
from parsers.bwctl_iperf3 import JAN_1970, NAME, parse
from tests.parsers import iperf3_writer

SAMPLES = Path(__file__).parent / "samples" / "bwctl-iperf3"
THIRD_PARTY_TCP = SAMPLES / "synthetic-third-party-tcp-2streams-gmt.txt"
THIRD_PARTY_UDP = SAMPLES / "synthetic-third-party-udp-2streams-gmt.txt"
LOCAL_SENDER = SAMPLES / "synthetic-local-sender-tcp-utc.txt"
LOCAL_RECEIVER = SAMPLES / "synthetic-local-receiver-udp-utc.txt"
SENDER_LINE = b"bwctl: Using 192.168.1.173 as the address for local sender\n"
RECEIVER_LINE = b"bwctl: Using 192.168.1.253 as the address for remote receiver\n"
TOOL_LINE = b"bwctl: Using tool: iperf3\n"
START_LINE = b"bwctl: start_tool: 3904885460.612345\n"
STOP_LINE = b"bwctl: stop_tool: 3904885471.713806\n"
WHY = ("bwctl prints them on stderr, the address lines only with --verbose: run "
       "`bwctl … -T iperf3 --parsable --verbose |& logspool pipe --format bwctl-iperf3 …` "
       "so that both stdout and stderr reach the pipe")


def record(raw: bytes) -> Parsed:
    result = parse(raw)
    assert result is not None
    return result


def local_sender(*, drop: tuple[bytes, ...] = (), replace: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """The local-sender sample with some lines removed and some bytes replaced."""
    raw = LOCAL_SENDER.read_bytes()
    for line in drop:
        assert line in raw
        raw = raw.replace(line, b"")
    for old, new in replace:
        assert old in raw
        raw = raw.replace(old, new)
    return raw


def error(raw: bytes) -> tuple[str, Optional[str]]:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    return caught.value.reason, caught.value.field


def test_module_serves_the_bwctl_iperf3_format_name() -> None:
    assert NAME == "bwctl-iperf3" and JAN_1970 == 2208988800


def test_third_party_run_takes_inputs_from_headers_and_endpoints_from_iperf3() -> None:
    result = record(THIRD_PARTY_TCP.read_bytes())
    data = result.data
    assert (result.type, result.time) == ("throughput", 1790453660.0)
    assert (data["input_source"], data["input_destination"], data["local_sender"], data["local_receiver"]) == (
        "198.51.100.10", "203.0.113.20", None, None)
    assert (data["source"], data["destination"], data["throughput"], data["streams"], data["retransmits"]) == (
        "127.0.0.1", "127.0.0.1", 8377265.182942295, 2, 0)


def test_start_and_stop_tool_are_ntp_era_seconds_converted_to_unix() -> None:
    assert record(THIRD_PARTY_TCP.read_bytes()).data["bwctl"] == {
        "start_tool": 1790453659.871562, "stop_tool": 1790453661.493117}
    assert record(LOCAL_SENDER.read_bytes()).data["bwctl"] == {
        "start_tool": 1695896660.612345, "stop_tool": 1695896671.713806}


def test_ntp_conversion_keeps_the_microseconds_bwctl_wrote() -> None:
    converted = record(LOCAL_SENDER.read_bytes()).data["bwctl"]["start_tool"]
    assert 3904885460.612345 - JAN_1970 == 1695896660.6123452  # float arithmetic on the NTP value drifts
    assert converted == 1695896660.612345 and f"{converted:.6f}" == "1695896660.612345"


def test_local_sender_run_is_read_where_esmond_ps_pipe_gave_up() -> None:
    data = record(LOCAL_SENDER.read_bytes()).data
    assert (data["input_source"], data["input_destination"], data["local_sender"], data["local_receiver"]) == (
        "192.168.1.173", "192.168.1.253", "192.168.1.173", None)
    assert (data["source"], data["destination"], data["throughput"], data["retransmits"]) == (
        "192.168.1.173", "192.168.1.253", 204737447.4407, None)


def test_local_receiver_run_swaps_endpoints_so_source_is_the_sender() -> None:
    result = record(LOCAL_RECEIVER.read_bytes())
    data = result.data
    assert (data["input_source"], data["input_destination"], data["local_sender"], data["local_receiver"]) == (
        "192.168.1.253", "192.168.1.173", None, "192.168.1.173")
    assert (data["source"], data["destination"]) == ("192.168.1.253", "192.168.1.173")  # connected[0] has them reversed
    assert (result.time, data["packets"], data["lost_packets"], data["jitter_ms"]) == (
        1695899263.0, 30421, 1, 0.068292653230841)


def test_third_party_udp_keeps_both_streams_and_loss_counts() -> None:
    data = record(THIRD_PARTY_UDP.read_bytes()).data
    assert (data["protocol"], data["throughput"], data["packets"], data["lost_packets"]) == ("udp", 8002902.731506332, 834, 0)
    assert [s["id"] for s in data["stream_results"]] == [7, 9]
    assert data["bwctl"] == {"start_tool": 1790453662.388104, "stop_tool": 1790453664.902731}


@pytest.mark.parametrize("path", sorted(SAMPLES.iterdir()), ids=lambda p: p.name)
def test_the_wrapper_adds_only_its_own_fields_to_the_iperf3_record(path: Path) -> None:
    raw = path.read_bytes()
    inner = iperf3.parse(raw[raw.index(b"{"):raw.rindex(b"}") + 1])
    context = ("input_source", "input_destination", "local_sender", "local_receiver", "bwctl")
    assert inner is not None
    assert {k: v for k, v in record(raw).data.items() if k not in context} == {
        k: v for k, v in inner.data.items() if k not in context}


def test_every_sample_record_encodes_as_json() -> None:
    records = [record(path.read_bytes()).data for path in sorted(SAMPLES.iterdir())]
    assert len(orjson.loads(orjson.dumps(records))) == 4


def test_utc_and_gmt_time_strings_give_the_same_start() -> None:
    no_secs = (b'\t\t\t"timesecs":\t1695896661\n', b""), (b'10:24:21 UTC",', b'10:24:21 UTC"')
    utc = record(local_sender(replace=no_secs))
    gmt = record(local_sender(replace=(*no_secs, (b"10:24:21 UTC", b"10:24:21 GMT"))))
    assert utc.time == gmt.time == 1695896661.0
    assert utc.data == gmt.data


def test_missing_address_lines_say_verbose_and_stderr_are_needed() -> None:
    assert error(local_sender(drop=(SENDER_LINE, RECEIVER_LINE))) == (
        "missing bwctl header lines: bwctl: Using <address> as the address for local|remote sender; "
        f"bwctl: Using <address> as the address for local|remote receiver. {WHY}",
        "bwctl: Using <address> as the address for local|remote sender")


def test_missing_receiver_line_alone_is_named() -> None:
    reason, field = error(local_sender(drop=(RECEIVER_LINE,)))
    assert reason.startswith("missing bwctl header line: bwctl: Using <address> as the address for local|remote "
                             "receiver. bwctl prints them on stderr")
    assert field == "bwctl: Using <address> as the address for local|remote receiver"


def test_stdout_alone_lacks_every_header_line() -> None:
    reason, field = error(local_sender(drop=(TOOL_LINE, SENDER_LINE, RECEIVER_LINE,
                                             b"bwctl: run_tool: tester: iperf3\n")))
    assert reason.startswith("missing bwctl header lines: bwctl: Using <address> as the address for local|remote "
                             "sender; bwctl: Using <address> as the address for local|remote receiver; "
                             "bwctl: Using tool: iperf3.")
    assert "|&" in reason and "--verbose" in reason


def test_stderr_alone_has_no_start_tool_and_says_to_pipe_both() -> None:
    raw = TOOL_LINE + SENDER_LINE + RECEIVER_LINE
    assert error(raw) == ("no `bwctl: start_tool:` line: the results bwctl prints on stdout are missing "
                          "(pipe stdout and stderr together with `|&`), or the test never ran", "bwctl: start_tool")


def test_plain_iperf3_output_is_pointed_at_the_iperf3_format() -> None:
    raw = LOCAL_SENDER.read_bytes()
    reason, _ = error(raw[raw.index(b"{"):raw.rindex(b"}") + 1])
    assert reason.endswith("(this looks like plain `iperf3 -J` output: use format iperf3)")


def test_exec_line_before_start_tool_does_not_reach_the_json() -> None:
    raw = LOCAL_SENDER.read_bytes()
    assert raw.index(b"bwctl: exec_line:") < raw.index(START_LINE)
    assert record(raw).data["throughput"] == 204737447.4407


def test_bwctl_lines_after_start_tool_are_left_out_of_the_json() -> None:
    exec_line = b"bwctl: exec_line: iperf3 -c 192.168.1.253 -B 192.168.1.173 -t 10 -J\n"
    moved = local_sender(drop=(exec_line,), replace=((START_LINE, START_LINE + exec_line
                                                      + b"bwctl: run_endpoint: sender: 192.168.1.173\n"),))
    assert record(moved) == record(LOCAL_SENDER.read_bytes())


def test_header_line_interleaved_into_the_json_is_still_read() -> None:
    moved = local_sender(drop=(SENDER_LINE,), replace=((b'\t"intervals":', SENDER_LINE + b'\t"intervals":'),))
    assert record(moved) == record(LOCAL_SENDER.read_bytes())


def test_missing_stop_tool_keeps_a_complete_result_without_a_stop_time() -> None:
    data = record(local_sender(drop=(STOP_LINE,))).data
    assert (data["bwctl"], data["throughput"]) == ({"start_tool": 1695896660.612345, "stop_tool": None}, 204737447.4407)


def test_missing_stop_tool_with_the_json_cut_short_is_refused() -> None:
    raw = LOCAL_SENDER.read_bytes()
    cut = raw[:raw.index(b'"sum_received"')]
    reason, field = error(cut)
    assert field == "bwctl: stop_tool"
    assert reason.startswith("no `bwctl: stop_tool:` line and the iperf3 JSON does not load (not valid JSON")
    assert reason.endswith("the output was cut short")


def test_failed_iperf3_inside_bwctl_is_a_failure_at_start_tool() -> None:
    failed = b'{\n\t"start":\t{\n\t\t"connected":\t[]\n\t},\n\t"intervals":\t[],\n\t"end":\t{\n\t},\n' \
             b'\t"error":\t"error - unable to connect to server: Connection refused"\n}\n'
    raw = LOCAL_SENDER.read_bytes()
    result = record(raw[:raw.index(b"{")] + failed + raw[raw.rindex(b"}") + 2:])
    assert (result.type, result.time, result.data["error"]) == (
        "failure", 1695896660.612345, "error - unable to connect to server: Connection refused")
    assert (result.data["input_source"], result.data["source"], result.data["intervals"]) == ("192.168.1.173", None, [])


def test_bwctl_errors_without_json_are_a_failure_even_when_stop_tool_is_glued_on() -> None:
    raw = LOCAL_SENDER.read_bytes()
    body = b"bwctl: error: Unable to connect to receiver\nbwctl: error: tool timed out" + STOP_LINE
    result = record(raw[:raw.index(b"{")] + body)
    assert (result.type, result.data["error"]) == ("failure", "Unable to connect to receiver; tool timed out")
    assert result.data["bwctl"] == {"start_tool": 1695896660.612345, "stop_tool": 1695896671.713806}


def test_nothing_between_start_and_stop_tool_is_a_failure() -> None:
    raw = LOCAL_SENDER.read_bytes()
    result = record(raw[:raw.index(b"{")] + STOP_LINE)
    assert (result.type, result.data["error"]) == ("failure", "iperf3 printed nothing between start_tool and stop_tool")


def test_human_readable_iperf3_output_says_to_add_parsable() -> None:
    raw = LOCAL_SENDER.read_bytes()
    text = b"Connecting to host 192.168.1.253, port 5201\n[  5] local 192.168.1.173 port 50634\n"
    assert error(raw[:raw.index(b"{")] + text + STOP_LINE) == (
        "no iperf3 JSON between start_tool and stop_tool (it begins 'Connecting to host 192.168.1.253, port 5201'): "
        "run bwctl with --parsable", "iperf3 JSON")


def test_another_tool_is_refused() -> None:
    raw = local_sender(replace=((TOOL_LINE, b"bwctl: Using tool: iperf\n"), (b"tester: iperf3", b"tester: iperf")))
    assert error(raw) == ("bwctl ran 'iperf', not iperf3: this format reads `bwctl -T iperf3 --parsable`",
                          "bwctl: Using tool")


def test_run_tool_tester_line_stands_in_for_using_tool() -> None:
    assert record(local_sender(drop=(TOOL_LINE,))) == record(LOCAL_SENDER.read_bytes())


@pytest.mark.parametrize("value", [b"soon", b"-5", b"nan", b"12.5.3", b"100"])
def test_start_tool_that_is_not_ntp_seconds_is_refused(value: bytes) -> None:
    raw = local_sender(replace=((START_LINE, b"bwctl: start_tool: " + value + b"\n"),))
    with pytest.raises(ParseError) as caught:
        parse(raw)
    assert (caught.value.field, caught.value.offset) == ("bwctl: start_tool", raw.index(b"bwctl: start_tool"))


def test_only_the_first_result_block_is_read() -> None:
    raw = LOCAL_SENDER.read_bytes()
    second = b"\nRECEIVER START\nbwctl: start_tool: 3904885460.0\n{\"broken\": \nbwctl: stop_tool: 3904885461.0\n"
    assert record(raw + second) == record(raw)


def test_crlf_line_endings_read_the_same() -> None:
    raw = LOCAL_SENDER.read_bytes()
    assert record(raw.replace(b"\n", b"\r\n")) == record(raw)


@pytest.mark.parametrize("raw", [b"", b"\n\n", b" \r\n"])
def test_blank_input_is_skipped(raw: bytes) -> None:
    assert parse(raw) is None


@given(iperf3_writer.runs().flatmap(iperf3_writer.bwctl_documents))
def test_wrapped_runs_round_trip(pair: tuple[bytes, iperf3_writer.Run]) -> None:
    raw, run = pair
    assert parse(raw) == Parsed(run.type, run.time, run.data)


@st.composite
def _damaged(draw: st.DrawFn) -> bytes:
    """A wrapped run with a few byte ranges replaced by any bytes: headers, times and JSON get hit."""
    raw = bytearray(draw(iperf3_writer.runs().flatmap(iperf3_writer.bwctl_documents))[0])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        raw[at:at + draw(st.integers(0, 8))] = draw(st.binary(max_size=8))
    return bytes(raw)


@given(st.one_of(_damaged(), st.binary(), st.binary().map(lambda b: TOOL_LINE + SENDER_LINE + RECEIVER_LINE
                                                          + START_LINE + b)))
def test_damaged_and_arbitrary_bytes_give_a_record_none_or_parse_error(raw: bytes) -> None:
    try:
        result = parse(raw)
    except ParseError as exc:
        assert exc.field is not None and (exc.offset is None or 0 <= exc.offset <= len(raw))
        return
    assert result is None or orjson.loads(orjson.dumps(result.data))["tool"] == "iperf3"
