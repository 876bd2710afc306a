"""The `iperf3` parser on real `iperf3 -J` outputs, odd JSON and generated runs.

The real samples (samples/iperf3/, provenance in samples/SOURCES.md) are asserted as a person
reads them: a macOS TCP sender (no retransmit counts, `UTC`), a macOS UDP `-R` client (the
receiving side: source and destination swap), and a Linux 2-stream TCP and UDP run (`GMT`).
Hypothesis then checks that runs written by tests/parsers/iperf3_writer.py come back as their
records, and that damaged, JSON-shaped or arbitrary input gives only a record, None or ParseError.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers import ParseError, Parsed
from parsers.iperf3 import NAME, parse
from tests.parsers import iperf3_writer

SAMPLES = Path(__file__).parent / "samples" / "iperf3"
MAC_TCP = SAMPLES / "opte-mac-iperf-sender.json"
MAC_UDP_REVERSE = SAMPLES / "opte-mac-iperf-receiver.json"
LINUX_TCP = SAMPLES / "iperf3-lib-3.21-tcp-forward-client.json"
LINUX_UDP = SAMPLES / "iperf3-lib-3.21-udp-client.json"
#: iperf3's output when the control connection broke before the test (shape of a real iperf 3.16 run).
FAILED = {"start": {"connected": [], "version": "iperf 3.16", "system_info": "Darwin mini.local 20.6.0"},
          "intervals": [], "end": {}, "error": "control socket has closed unexpectedly"}


def record(path: Path) -> Parsed:
    result = parse(path.read_bytes())
    assert result is not None
    return result


def doc(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def parsed(document: dict[str, Any]) -> Parsed:
    result = parse(iperf3_writer.write_iperf3(document))
    assert result is not None
    return result


def error(raw: bytes) -> tuple[str, Optional[str]]:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    return caught.value.reason, caught.value.field


def test_module_serves_the_iperf3_format_name() -> None:
    assert NAME == "iperf3"


def test_mac_tcp_sender_reads_as_written() -> None:
    result = record(MAC_TCP)
    assert (result.type, result.time) == ("throughput", 1695896661.0)
    assert {k: v for k, v in result.data.items() if k not in ("intervals", "stream_results")} == {
        "tool": "iperf3", "input_source": None, "input_destination": None, "local_sender": None,
        "local_receiver": None, "source": "192.168.1.173", "destination": "192.168.1.253", "protocol": "tcp",
        "duration": 10, "streams": 1, "omit": 0, "start_time": 1695896661, "end_time": 1695896671.000371,
        "throughput": 204737447.4407, "retransmits": None, "packets": None, "lost_packets": None,
        "jitter_ms": None, "error": None, "bwctl": None}


def test_mac_tcp_has_ten_intervals_and_no_retransmit_counts() -> None:
    data = record(MAC_TCP).data
    assert len(data["intervals"]) == 10
    assert data["intervals"][0] == {"start": 0.0, "duration": 1.0009839534759521, "throughput": 207270487.48337844,
                                    "retransmits": None, "streams": [{"id": 5, "start": 0.0,
                                                                      "duration": 1.0009839534759521,
                                                                      "throughput": 207270487.48337844,
                                                                      "retransmits": None}]}
    assert data["intervals"][-1]["start"] == 9.000149
    assert data["stream_results"] == [{"id": 5, "throughput": 204737447.4407, "retransmits": None}]


def test_reverse_udp_client_is_the_receiver_so_source_is_the_remote_sender() -> None:
    data = record(MAC_UDP_REVERSE).data
    assert (data["source"], data["destination"]) == ("192.168.1.253", "192.168.1.173")
    assert (data["protocol"], data["duration"], data["start_time"], data["end_time"]) == (
        "udp", 11, 1695899263, 1695899274.000015)


def test_udp_loss_comes_from_end_sum() -> None:
    data = record(MAC_UDP_REVERSE).data
    assert (data["throughput"], data["packets"], data["lost_packets"], data["jitter_ms"], data["retransmits"]) == (
        32305625.765055776, 30421, 1, 0.068292653230841, None)
    assert [i["throughput"] for i in data["intervals"][:2]] == [29116637.686773676, 32296525.817076057]
    assert len(data["intervals"]) == 11


def test_two_stream_tcp_throughput_is_what_the_receiver_got() -> None:
    result = record(LINUX_TCP)
    data = result.data
    assert (result.time, data["streams"], data["throughput"], data["retransmits"]) == (
        1790453660.0, 2, 8377265.182942295, 0)  # sum_received, not sum_sent's 8377775.536231653
    assert data["stream_results"] == [{"id": 7, "throughput": 4188632.5914711477, "retransmits": 0},
                                      {"id": 9, "throughput": 4188632.5914711477, "retransmits": 0}]
    assert [(s["id"], s["throughput"]) for s in data["intervals"][0]["streams"]] == [
        (7, 4188888.00258112), (9, 4188875.0361727155)]
    assert (data["intervals"][0]["throughput"], data["end_time"]) == (8377776.00516224, 1790453661.001354)


def test_two_stream_udp_uses_end_sum_and_keeps_each_stream() -> None:
    data = record(LINUX_UDP).data
    assert (data["throughput"], data["packets"], data["lost_packets"], data["jitter_ms"]) == (
        8002902.731506332, 834, 0, 0.021325017457362823)  # end.sum, not sum_received's 8002278.8264044
    assert [(s["id"], s["throughput"], s["retransmits"]) for s in data["stream_results"]] == [
        (7, 4001451.365753166, None), (9, 4001451.365753166, None)]
    assert (data["source"], data["destination"], data["omit"]) == ("127.0.0.1", "127.0.0.1", 0)


def test_every_sample_record_encodes_as_json() -> None:
    records = [record(path).data for path in sorted(SAMPLES.iterdir())]
    assert len(orjson.loads(orjson.dumps(records))) == 4


@pytest.mark.parametrize("zone", ["GMT", "UTC"])
def test_time_string_in_gmt_or_utc_gives_the_start_without_timesecs(zone: str) -> None:
    document = doc(MAC_TCP)
    document["start"]["timestamp"] = {"time": f"Thu, 28 Sep 2023 10:24:21 {zone}"}
    result = parsed(document)
    assert (result.time, result.data["start_time"]) == (1695896661.0, 1695896661)


def test_time_string_in_another_zone_is_refused_when_timesecs_is_missing() -> None:
    document = doc(MAC_TCP)
    document["start"]["timestamp"] = {"time": "Thu, 28 Sep 2023 12:24:21 CEST"}
    assert error(iperf3_writer.write_iperf3(document)) == (
        "expected a time like 'Thu, 28 Sep 2023 10:24:21 UTC' (GMT or UTC), got 'Thu, 28 Sep 2023 12:24:21 CEST'",
        "start.timestamp.time")


def test_failed_test_is_a_failure_record_with_iperf3s_message() -> None:
    result = parsed(FAILED)
    assert (result.type, result.time, result.data["error"]) == ("failure", None, "control socket has closed unexpectedly")
    assert (result.data["source"], result.data["throughput"], result.data["intervals"]) == (None, None, [])


def test_interrupted_test_is_a_failure_that_keeps_what_was_measured() -> None:
    document = dict(doc(LINUX_TCP), error="interrupt - the client has terminated")
    result = parsed(document)
    assert (result.type, result.time, result.data["throughput"], len(result.data["intervals"])) == (
        "failure", 1790453660.0, 8377265.182942295, 1)


def test_error_that_is_not_a_string_is_refused() -> None:
    assert error(b'{"error": 5}') == ("expected a string, got a number 5", "error")


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"start": 5}', ("expected an object, got a number 5", "start")),
    (b"{}", ("missing", "start")),
    (b'{"start": {"connected": "x"}}', ('expected a list, got a string "x"', "start.connected")),
])
def test_odd_json_names_the_field_instead_of_crashing(raw: bytes, expected: tuple[str, str]) -> None:
    assert error(raw) == expected


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d.pop("intervals"), ("missing", "intervals")),
    (lambda d: d["intervals"][0].update(streams={"socket": 7}), ("expected a list, got an object", "intervals[0].streams")),
    (lambda d: d["intervals"][0]["streams"][1].pop("socket"), ("missing", "intervals[0].streams[1].socket")),
    (lambda d: d["end"].pop("sum_received"), ("missing", "end.sum_received")),
    (lambda d: d["end"]["sum_received"].update(bits_per_second="8 Mbit"),
     ('expected a number, got a string "8 Mbit"', "end.sum_received.bits_per_second")),
    (lambda d: d["end"]["sum_sent"].update(retransmits=True), ("expected an integer, got a boolean true",
                                                               "end.sum_sent.retransmits")),
    (lambda d: d["end"].update(streams=[7]), ("expected an object, got a number 7", "end.streams[0]")),
    (lambda d: d["start"]["test_start"].update(protocol="SCTP"),
     ("unsupported protocol 'SCTP' (expected TCP or UDP)", "start.test_start.protocol")),
    (lambda d: d["start"].update(connected=[]), ("no connected stream", "start.connected[0]")),
])
def test_missing_or_mistyped_field_is_named_by_its_json_path(change: Any, expected: tuple[str, str]) -> None:
    document = doc(LINUX_TCP)
    change(document)
    assert error(iperf3_writer.write_iperf3(document)) == expected


def test_udp_without_loss_counts_names_the_missing_one() -> None:
    document = doc(LINUX_UDP)
    del document["end"]["sum"]["lost_packets"]
    assert error(iperf3_writer.write_iperf3(document)) == ("missing", "end.sum.lost_packets")


def test_broken_json_names_the_byte_where_it_broke() -> None:
    raw = LINUX_TCP.read_bytes().replace(b'"num_streams": 2,', b'"num_streams": 2,,')
    with pytest.raises(ParseError) as caught:
        parse(raw)
    assert (caught.value.field, caught.value.offset) == ("iperf3 JSON", raw.index(b",,") + 1)
    assert caught.value.reason.startswith("not valid JSON")


@pytest.mark.parametrize("raw", [b"", b"\n", b"  \r\n\t"])
def test_blank_output_is_skipped(raw: bytes) -> None:
    assert parse(raw) is None


def test_text_around_the_json_does_not_cost_the_result() -> None:
    raw = b"\x1b[F" + MAC_TCP.read_bytes() + b"\niperf Done.\n"  # a terminal escape, as in saved runs
    assert parse(raw) == record(MAC_TCP)


def test_output_without_json_says_to_use_dash_j() -> None:
    assert error(b"Connecting to host 10.0.0.1, port 5201\n") == (
        "no JSON object: iperf3 must run with -J (bwctl: --parsable)", "iperf3 JSON")


def test_server_side_document_without_sender_flags_swaps_source_and_destination() -> None:
    document = doc(LINUX_TCP)  # as iperf 3.0 wrote it on the server: no `sender` flags
    document["start"]["accepted_connection"] = document["start"].pop("connecting_to")
    for interval in document["intervals"]:
        for stream in [*interval["streams"], interval["sum"]]:
            del stream["sender"]
    document["start"]["connected"][0]["local_host"] = "10.0.0.2"
    data = parsed(document).data
    assert (data["source"], data["destination"]) == ("127.0.0.1", "10.0.0.2")


@given(iperf3_writer.runs(), st.booleans())
def test_written_runs_round_trip(run: iperf3_writer.Run, tabs: bool) -> None:
    result = parse(iperf3_writer.write_iperf3(run.doc, tabs=tabs))
    assert result == Parsed(run.type, run.time, run.data)


_junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                  st.text(max_size=5), st.just([]), st.just({}), st.just([1]))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    found = []
    for key, value in items:
        found.append(prefix + (key,))
        found.extend(_paths(value, prefix + (key,)))
    return found


@st.composite
def damaged(draw: st.DrawFn) -> dict[str, Any]:
    """A generated document with a few values replaced by other JSON types, or deleted."""
    document: dict[str, Any] = json.loads(json.dumps(draw(iperf3_writer.runs()).doc))
    paths = _paths(document)
    for path in draw(st.lists(st.sampled_from(paths), max_size=3)) if paths else []:
        parent = document
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(_junk)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced this path
    return document


def _record_none_or_parse_error(raw: bytes) -> None:
    try:
        result = parse(raw)
    except ParseError as exc:
        assert exc.field is not None
        return
    assert result is None or orjson.loads(orjson.dumps(result.data))["tool"] == "iperf3"


@given(damaged())
def test_damaged_documents_give_a_record_or_parse_error_naming_a_field(document: dict[str, Any]) -> None:
    _record_none_or_parse_error(iperf3_writer.write_iperf3(document))


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["start", "end", "intervals", "streams", "sum", "sum_received", "connected",
                                          "test_start", "timestamp", "error", "protocol", "udp", "receiver"])
                         | st.text(max_size=4), inner, max_size=4), max_leaves=30)


@given(_json)
def test_json_shaped_input_gives_a_record_none_or_parse_error(value: Any) -> None:
    _record_none_or_parse_error(json.dumps(value).encode())


@given(st.binary())
def test_arbitrary_bytes_give_a_record_none_or_parse_error(raw: bytes) -> None:
    try:
        result = parse(raw)
    except ParseError:
        return
    assert result is None or isinstance(result, Parsed)
