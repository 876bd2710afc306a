"""What a GridFTP transfer or an iperf3 run becomes for esmond: its metadata and its points (measure.py, pure).

Records are built by hand in the shapes of the contract between parsers and sinks
(`gridftp`, `gridftp-json`, `bwctl-iperf3`, `iperf3` envelopes); the GridFTP values are
those of esmond's documented lbl-diskpt1 line, so the expected numbers can be read off
it: 100000000 bytes from 14:59:36.596363 to 14:59:45.113944 is 93923380 bit/s.
The builders here are also used by test_esmond.py.
"""
from __future__ import annotations

import socket
from typing import Any, Optional

import orjson
import pytest

from agent.sinks.esmond.gridftp import failure_text
from agent.sinks.esmond.measure import measure
from agent.sinks.esmond.measurement import Lookup, Measurement, Options, Unusable, checksum, metadata_body
from tests.doubles import esmond_store

START_TS = 1428418776  # 2015-04-07T14:59:36Z
RUN_TS = 1397807404


def gridftp(rid: str = "g1", fmt: str = "gridftp", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "date": "2015-04-07T14:59:45.113944Z", "start": "2015-04-07T14:59:36.596363Z", "duration": 8.517581,
        "host": "lbl-diskpt1.es.net", "prog": "globus-gridftp-server", "nl_evnt": "FTP_INFO", "user": "anonymous",
        "file": "/data1/100M.dat", "volume": "/", "type": "RETR", "buffer": 87380, "block": 262144,
        "nbytes": 100000000, "streams": 5, "stripes": 1, "code": 226, "dest": "192.100.78.81", "taskid": None,
        "retrans": [36, 17, 27, 25, 61], "usec_unpadded": False, "pid": None, "log_time": None, "extra": {}}
    event = changes.pop("event", "Transfer-End")
    data.update(changes)
    return {"id": rid, "source": "gridftp", "format": fmt, "time": 1428418785.113944, "host": "lbl-diskpt1",
            "cluster": None, "type": event if fmt == "gridftp-json" else data["type"], "data": data}


def stream(sid: int, start: float, throughput: float, retransmits: Optional[int]) -> dict[str, Any]:
    return {"id": sid, "start": start, "duration": 1.0, "throughput": throughput, "retransmits": retransmits}


def run(rid: str = "b1", fmt: str = "bwctl-iperf3", protocol: str = "tcp", **changes: Any) -> dict[str, Any]:
    """A two-stream TCP run (or, with protocol="udp", one UDP stream) from 10.0.0.1 to 10.0.0.2."""
    tcp = protocol == "tcp"
    intervals: list[dict[str, Any]]
    results: list[dict[str, Any]]
    if tcp:
        intervals = [{"start": 0.0, "duration": 1.0, "throughput": 9.0e9, "retransmits": 3,
                      "streams": [stream(7, 0.0, 5.0e9, 2), stream(5, 0.0, 4.0e9, 1)]},
                     {"start": 1.0, "duration": 1.0, "throughput": 9.2e9, "retransmits": 0,
                      "streams": [stream(7, 1.0, 5.1e9, 0), stream(5, 1.0, 4.1e9, 0)]}]
        results = [{"id": 7, "throughput": 5.05e9, "retransmits": 2}, {"id": 5, "throughput": 4.05e9, "retransmits": 1}]
    else:
        intervals = [{"start": 0.0, "duration": 1.0, "throughput": 1.0e6, "retransmits": None,
                      "streams": [stream(5, 0.0, 1.0e6, None)]}]
        results = [{"id": 5, "throughput": 1.0e6, "retransmits": None}]
    data: dict[str, Any] = {
        "tool": "iperf3", "input_source": "send.example.org", "input_destination": "recv.example.org",
        "local_sender": None, "local_receiver": None, "source": "10.0.0.1", "destination": "10.0.0.2",
        "protocol": protocol, "duration": 2 if tcp else 1, "streams": 2 if tcp else 1, "omit": 0,
        "start_time": RUN_TS, "end_time": RUN_TS + 2.0, "throughput": 9.1e9 if tcp else 999936.5,
        "retransmits": 3 if tcp else None, "packets": None if tcp else 1000, "lost_packets": None if tcp else 3,
        "jitter_ms": None if tcp else 0.05, "intervals": intervals, "stream_results": results, "error": None,
        "bwctl": {"start_tool": RUN_TS - 0.5, "stop_tool": RUN_TS + 2.5} if fmt == "bwctl-iperf3" else None}
    data.update(changes)
    return {"id": rid, "source": "bwctl", "format": fmt, "time": float(RUN_TS), "host": "ps.example.org",
            "cluster": None, "type": "failure" if data["error"] else "throughput", "data": data}


def line(envelope: dict[str, Any]) -> bytes:
    return orjson.dumps(envelope) + b"\n"


def measured(envelope: dict[str, Any], **options: Any) -> Measurement:
    found = measure(envelope, Options(**options))
    assert found is not None
    return found


def body(envelope: dict[str, Any], agent: str = "131.243.2.11", **options: Any) -> dict[str, Any]:
    return metadata_body(measured(envelope, **options), agent)


def test_a_retr_is_sent_from_this_host_to_dest_with_its_throughput_at_start() -> None:
    m = measured(gridftp())
    assert metadata_body(m, "131.243.2.11") == {
        "subject-type": "point-to-point", "tool-name": "gridftp", "source": "131.243.2.11",
        "destination": "192.100.78.81", "measurement-agent": "131.243.2.11", "input-source": "lbl-diskpt1.es.net",
        "input-destination": "192.100.78.81", "bw-parallel-streams": "5", "bw-stripes": "1",
        "gridftp-program": "globus-gridftp-server", "gridftp-block-size": "262144", "tcp-window-size": "87380",
        "event-types": [{"event-type": "throughput"}, {"event-type": "streams-packet-retransmits"},
                        {"event-type": "failures"}]}
    assert (m.ts, m.points) == (START_TS, (("throughput", 93923380),
                                           ("streams-packet-retransmits", [36, 17, 27, 25, 61])))
    assert m.agent == Lookup("lbl-diskpt1.es.net", socket.AF_INET)


def test_a_stor_is_sent_from_dest_to_this_host() -> None:
    got = body(gridftp(type="STOR"))
    assert (got["source"], got["destination"], got["input-source"], got["input-destination"]) == (
        "192.100.78.81", "131.243.2.11", "192.100.78.81", "lbl-diskpt1.es.net")


def test_the_agent_is_the_configured_address_else_host_when_it_is_one_else_a_lookup_in_dests_family() -> None:
    assert measured(gridftp(), measurement_agent="192.0.2.10").agent == "192.0.2.10"
    assert measured(gridftp(host="198.51.100.7")).agent == "198.51.100.7"
    assert measured(gridftp(dest="2001:db8::5")).agent == Lookup("lbl-diskpt1.es.net", socket.AF_INET6)


def test_a_transfer_without_duration_has_no_throughput_point() -> None:
    m = measured(gridftp(duration=0.0, date="2015-04-07T14:59:36.596363Z"))
    assert m.points == (("streams-packet-retransmits", [36, 17, 27, 25, 61]),)


def test_a_failed_transfer_is_a_failures_point_in_the_same_metadata_as_a_success() -> None:
    failed = measured(gridftp(code=426, retrans=None))
    assert failed.points == (("failures", {"error": "426 Connection closed; transfer aborted."}),)
    assert checksum(metadata_body(failed, "131.243.2.11")) == checksum(body(gridftp()))


@pytest.mark.parametrize("code, text", [
    (421, "421 Service not available, closing control connection."),
    (425, "425 Can't open data connection."),
    (451, "451 Requested action aborted: local error in processing."),
    (530, "530 Not logged in."),
    (550, "550 Requested action not taken."),
    (553, "553 Requested action not taken."),
    (999, "999 (not an FTP reply code of RFC 959)"),
])
def test_failure_texts_are_the_ftp_replies(code: int, text: str) -> None:
    assert failure_text(code) == text


def test_per_transfer_values_never_reach_the_metadata() -> None:
    other = gridftp(nbytes=5, file="/other", user="bob", volume="/scratch", duration=1.0,
                    start="2019-07-31T07:30:30.432241Z", date="2019-07-31T07:30:31.432241Z", retrans=None)
    assert checksum(body(other)) == checksum(body(gridftp()))


def test_privacy_flags_off_send_no_file_user_or_volume() -> None:
    m = measured(gridftp(user="alice-secret", file="/home/alice-secret/x", volume="/vol-secret"))
    sent = orjson.dumps([metadata_body(m, "131.243.2.11"), m.points])
    assert b"secret" not in sent


def test_user_and_volume_go_into_the_metadata_and_the_file_into_a_raw_point() -> None:
    m = measured(gridftp(user="alice"), send_file=True, send_user=True, send_volume=True)
    got = metadata_body(m, "131.243.2.11")
    assert (got["gridftp-user"], got["gridftp-volume"], "gridftp-file" in got) == ("alice", "/", False)
    assert got["event-types"][-1] == {"event-type": "pscheduler-raw"}
    assert m.points[-1] == ("pscheduler-raw", {"gridftp-file": "/data1/100M.dat"})


def test_only_retr_and_stor_transfers_are_measured() -> None:
    assert measure(gridftp(type="LIST"), Options()) is None
    assert measure(gridftp(type="ESTO"), Options()) is None
    assert measure(gridftp(fmt="gridftp-json", event="Perf-Marker"), Options()) is None


def test_ramses_records_send_their_host_statistics_under_registered_types() -> None:
    raw = {"iostat": {"Dev": "sda"}, "mpstat": {"CPU": "all"}, "getrusage": {"ru_maxrss": 10},
           "streams": [{"stripe": 0, "stream": 0, "TCPinfo": {"total_retrans": 4}}]}
    m = measured(gridftp(fmt="gridftp-json", host="10.2.2.2", raw=raw, retrans=[4]))
    assert m.event_types == ("throughput", "streams-packet-retransmits", "failures", "iostat", "mpstat", "rusage",
                             "streams-tcpinfo")
    assert dict(m.points)["rusage"] == {"ru_maxrss": 10} and m.agent == "10.2.2.2"


@pytest.mark.parametrize("changes, reason", [
    ({"dest": "dtn.example.org"}, "DEST is not an IP address; esmond records the remote end by address"),
    ({"nbytes": "many"}, "the record's nbytes is missing or not an integer"),
    ({"streams": True}, "the record's streams is missing or not an integer"),
    ({"prog": ""}, "the record's prog is missing or not text"),
    ({"start": "yesterday"}, "START is not an ISO 8601 time"),
])
def test_a_transfer_esmond_cannot_take_is_unusable(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unusable, match=reason):
        measure(gridftp(**changes), Options())


def test_another_format_is_unusable_and_named() -> None:
    with pytest.raises(Unusable, match="not 'lsb-events': route this source to another sink"):
        measure({"id": "x", "format": "lsb-events", "data": {}}, Options())


def test_a_two_stream_tcp_run_gives_every_tcp_and_stream_type_per_stream_by_id() -> None:
    m = measured(run())
    sub = [{"start": 0.0, "duration": 1.0, "val": 9.0e9}, {"start": 1.0, "duration": 1.0, "val": 9.2e9}]
    assert m.event_types == ("failures", "throughput", "throughput-subintervals", "packet-retransmits",
                             "packet-retransmits-subintervals", "streams-throughput",
                             "streams-throughput-subintervals", "streams-packet-retransmits",
                             "streams-packet-retransmits-subintervals")
    assert dict(m.points) == {
        "throughput": 9100000000, "throughput-subintervals": sub, "packet-retransmits": 3,
        "packet-retransmits-subintervals": [{"start": 0.0, "duration": 1.0, "val": 3},
                                            {"start": 1.0, "duration": 1.0, "val": 0}],
        "streams-throughput": [4.05e9, 5.05e9],
        "streams-throughput-subintervals": [
            [{"start": 0.0, "duration": 1.0, "val": 4.0e9}, {"start": 1.0, "duration": 1.0, "val": 4.1e9}],
            [{"start": 0.0, "duration": 1.0, "val": 5.0e9}, {"start": 1.0, "duration": 1.0, "val": 5.1e9}]],
        "streams-packet-retransmits": [1, 2],
        "streams-packet-retransmits-subintervals": [
            [{"start": 0.0, "duration": 1.0, "val": 1}, {"start": 1.0, "duration": 1.0, "val": 0}],
            [{"start": 0.0, "duration": 1.0, "val": 2}, {"start": 1.0, "duration": 1.0, "val": 0}]]}
    assert m.ts == RUN_TS


def test_the_run_metadata_is_esmond_ps_pipes_with_pschedulers_key_names() -> None:
    assert body(run(), agent="10.0.0.9") == {
        "subject-type": "point-to-point", "tool-name": "bwctl/iperf3", "source": "10.0.0.1",
        "destination": "10.0.0.2", "input-source": "send.example.org", "input-destination": "recv.example.org",
        "ip-transport-protocol": "tcp", "time-duration": "2", "bw-parallel-streams": "2",
        "bw-ignore-first-seconds": "0", "measurement-agent": "10.0.0.9",
        "event-types": [{"event-type": et} for et in measured(run()).event_types]}


def test_a_udp_run_gives_loss_and_no_retransmits() -> None:
    m = measured(run(protocol="udp"))
    assert m.event_types == ("failures", "throughput", "throughput-subintervals", "packet-count-lost",
                             "packet-count-sent", "packet-loss-rate")
    assert dict(m.points) == {"throughput": 999936, "packet-count-lost": 3, "packet-count-sent": 1000,
                              "packet-loss-rate": {"numerator": 3, "denominator": 1000},
                              "throughput-subintervals": [{"start": 0.0, "duration": 1.0, "val": 1.0e6}]}


def test_a_failed_run_is_a_failures_point_in_the_metadata_of_its_test() -> None:
    failed = measured(run(error="unable to connect to server: Connection refused"))
    assert failed.points == (("failures", {"error": "unable to connect to server: Connection refused"}),)
    assert checksum(metadata_body(failed, "10.0.0.9")) == checksum(body(run(), agent="10.0.0.9"))


def test_the_agent_is_the_local_end_bwctl_names_else_the_configured_address_else_this_host() -> None:
    assert measured(run(local_sender="10.0.0.1")).agent == "10.0.0.1"
    assert measured(run(), measurement_agent="192.0.2.10").agent == "192.0.2.10"
    assert measured(run()).agent == Lookup("ps.example.org", socket.AF_UNSPEC)


def test_bwctls_endpoint_addresses_win_over_iperf3s_connection_addresses() -> None:
    got = body(run(input_source="198.51.100.10", input_destination="203.0.113.20", source="127.0.0.1",
                   destination="127.0.0.1"))
    assert (got["source"], got["destination"], got["input-source"]) == ("198.51.100.10", "203.0.113.20",
                                                                        "198.51.100.10")


def test_plain_iperf3_names_its_tool_and_uses_the_addresses_as_input_names() -> None:
    got = body(run(fmt="iperf3", input_source=None, input_destination=None))
    assert (got["tool-name"], got["input-source"], got["input-destination"]) == ("iperf3", "10.0.0.1", "10.0.0.2")


def test_a_run_that_never_connected_is_unusable() -> None:
    with pytest.raises(Unusable, match="no sender or receiver address"):
        measure(run(source=None, destination=None, input_source="send.example.org", error="refused"), Options())


def test_our_checksum_is_the_archives() -> None:
    for envelope in (gridftp(), run(), run(protocol="udp")):
        b = body(envelope)
        subject = {k: v for k, v in b.items() if k in esmond_store.SUBJECTS["point-to-point"]}
        params = {k: v for k, v in b.items() if k not in subject and k not in ("subject-type", "event-types")}
        rows = [(e["event-type"], "base", "0") for e in b["event-types"]]
        assert checksum(b) == esmond_store.checksum("point-to-point", subject, params, rows)
