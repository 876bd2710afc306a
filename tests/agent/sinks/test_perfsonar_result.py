"""Records to pScheduler-shaped results (agent/sinks/perfsonar/result.py), document by document.

The envelopes are written by hand per the contract's record shapes (issue 4): the GridFTP
ones are the esmond docs' lbl-diskpt1 RETR line and the first NERSC pytokio STOR line, as
parsers/gridftp.py reads them; the bwctl ones are pScheduler's iperf3_parser.py sample run,
made two streams wide, and its UDP sample. The other test modules build on these.
"""
from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from agent.sinks.perfsonar import encode_lines, result_for
from agent.sinks.perfsonar.result import NAMESPACE, Unusable, iso_duration, iso_time

OBSERVER = "dtn01.example.org"
RETR_ID = "gridftp-transfer:3f2a9c1d:0:5e1b7a90"
TASK = "https://dtn01.example.org/logspool/tasks/"


def envelope(rid: str, fmt: str, kind: str, time: float, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": rid, "source": "transfers", "format": fmt, "time": time, "host": "dtn01", "cluster": None,
            "type": kind, "data": data}


def line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


def gridftp(rid: str = RETR_ID, **changes: Any) -> dict[str, Any]:
    """DATE=20150407145945.113944 HOST=lbl-diskpt1.es.net … TYPE=RETR CODE=226 retrans=36,17,27,25,61"""
    data = {"date": "2015-04-07T14:59:45.113944Z", "start": "2015-04-07T14:59:36.596363Z", "duration": 8.517581,
            "host": "lbl-diskpt1.es.net", "prog": "globus-gridftp-server", "nl_evnt": "FTP_INFO",
            "user": "anonymous", "file": "/data1/100M.dat", "volume": "/", "type": "RETR", "buffer": 87380,
            "block": 262144, "nbytes": 100000000, "streams": 5, "stripes": 1, "code": 226, "dest": "192.100.78.81",
            "taskid": None, "retrans": [36, 17, 27, 25, 61], "usec_unpadded": False, "pid": None, "log_time": None,
            "extra": {}, **changes}
    return envelope(rid, "gridftp", data["type"], 1428418785.113944, data)


def gridftp_retr() -> dict[str, Any]:
    return gridftp()


def gridftp_stor() -> dict[str, Any]:
    """The first line of NERSC/pytokio's globuslogs (dtn11.nersc.gov, 2019): a STOR, one stream."""
    return gridftp("gridftp-transfer:77d0e4b2:0:c81f2a44", date="2019-07-31T07:30:44.992375Z",
                   start="2019-07-31T07:30:30.432241Z", duration=14.560134, host="dtn11.nersc.gov", user="glock",
                   file="/home/c/glock/pic/constance/forecast/Global/complete/wrf2019051000/"
                        "wrfout_d01_2019-05-10_00:00:00",
                   type="STOR", buffer=87040, nbytes=2753284040, streams=1, dest="192.101.102.150", retrans=None)


def stream(sid: int, start: float, duration: float, throughput: float, retransmits: Any) -> dict[str, Any]:
    return {"id": sid, "start": start, "duration": duration, "throughput": throughput, "retransmits": retransmits}


def bwctl_tcp() -> dict[str, Any]:
    """A third-party bwctl -T iperf3 run of 2 TCP streams for 10 s (pScheduler's iperf3 sample, doubled),
    between hosts bwctl reached at public addresses while iperf3 saw private ones."""
    data = {"tool": "iperf3", "input_source": "198.51.100.10", "input_destination": "203.0.113.20",
            "local_sender": None, "local_receiver": None, "source": "10.0.2.15", "destination": "10.0.2.4",
            "protocol": "tcp", "duration": 10, "streams": 2, "omit": 0, "start_time": 1471318787,
            "end_time": 1471318797.001024, "throughput": 388736097.120548, "retransmits": 159, "packets": None,
            "lost_packets": None, "jitter_ms": None, "error": None,
            "intervals": [
                {"start": 0.0, "duration": 1.000375, "throughput": 15852550.77944, "retransmits": 4,
                 "streams": [stream(4, 0.0, 1.000375, 7926275.38972, 3), stream(6, 0.0, 1.000375, 7926275.38972, 1)]},
                {"start": 1.000375, "duration": 1.003632, "throughput": 2400752.302863, "retransmits": 2,
                 "streams": [stream(4, 1.000375, 1.003632, 1200376.1514315, 2),
                             stream(6, 1.000375, 1.003632, 1200376.1514315, 0)]}],
            "stream_results": [{"id": 4, "throughput": 194368048.560274, "retransmits": 80},
                               {"id": 6, "throughput": 194368048.560274, "retransmits": 79}],
            "bwctl": {"start_tool": 1471318787.5, "stop_tool": 1471318797.5}}
    return envelope("bwctl:0a11ce55:0:9d3e2f10", "bwctl-iperf3", "throughput", 1471318787.0, data)


def bwctl_udp() -> dict[str, Any]:
    """One UDP stream at 1 Mbit/s for 10 s (pScheduler's iperf3 UDP sample)."""
    data = {"tool": "iperf3", "input_source": None, "input_destination": None, "local_sender": None,
            "local_receiver": None, "source": "10.0.2.15", "destination": "10.0.2.4", "protocol": "udp",
            "duration": 10, "streams": 1, "omit": 0, "start_time": 1471322915, "end_time": 1471322925.0031,
            "throughput": 1048349.53, "retransmits": None, "packets": 160, "lost_packets": 3, "jitter_ms": 0.118,
            "error": None,
            "intervals": [{"start": 0.0, "duration": 1.001342, "throughput": 1047170.885411, "retransmits": None,
                           "streams": [stream(4, 0.0, 1.001342, 1047170.885411, None)]}],
            "stream_results": [{"id": 4, "throughput": 1048349.53, "retransmits": None}], "bwctl": None}
    return envelope("iperf3:51de0a0b:0:00c0ffee", "iperf3", "throughput", 1471322915.0, data)


def hrefs(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["task"]["href"], doc["run"]["href"]


def test_a_gridftp_retr_is_a_disk_to_disk_result_sent_from_the_server() -> None:
    run = str(uuid.uuid5(NAMESPACE, RETR_ID))
    doc = result_for(gridftp_retr(), OBSERVER)
    assert doc is not None
    task = doc["task"]["href"]
    assert doc == {
        "id": run,
        "schedule": {"start": "2015-04-07T14:59:36.596363Z", "duration": "PT8.517581S"},
        "test": {"type": "disk-to-disk", "spec": {"schema": 1, "source": "gsiftp://lbl-diskpt1.es.net",
                                                  "dest": "gsiftp://192.100.78.81", "parallel": 5}},
        "tool": {"name": "gridftp", "version": None},
        "run": {"start-time": "2015-04-07T14:59:36.596363Z", "end-time": "2015-04-07T14:59:45.113944Z",
                "href": f"{task}/runs/{run}", "task-href": task},
        "task": {"href": task},
        "participants": ["lbl-diskpt1.es.net"],
        "result": {"schema": 1, "succeeded": True, "time": "PT8.517581S", "bytes-sent": 100000000,
                   "throughput": 93923380.35881314},
        "reference": {"logspool": {"record-id": RETR_ID, "format": "gridftp"},
                      "gridftp": {"command": "RETR", "program": "globus-gridftp-server", "stripes": 1,
                                  "tcp-window-size": 87380, "block-size": 262144,
                                  "retransmits": [36, 17, 27, 25, 61]}},
    }
    assert task == TASK + "78e39295-8c8e-5d95-8d05-fa83eff08008"


def test_a_gridftp_stor_is_received_by_the_server_so_the_remote_end_is_the_source() -> None:
    doc = result_for(gridftp_stor(), OBSERVER)
    assert doc is not None
    assert doc["test"]["spec"] == {"schema": 1, "source": "gsiftp://192.101.102.150",
                                   "dest": "gsiftp://dtn11.nersc.gov", "parallel": 1}
    assert doc["result"] == {"schema": 1, "succeeded": True, "time": "PT14.560134S", "bytes-sent": 2753284040,
                             "throughput": 1512779506.012788}
    assert doc["participants"] == ["dtn11.nersc.gov"]
    assert doc["run"]["end-time"] == "2019-07-31T07:30:44.992375Z"
    assert "retransmits" not in doc["reference"]["gridftp"]


def test_file_user_and_volume_are_never_part_of_a_result() -> None:
    for record in (gridftp_retr(), gridftp_stor(), gridftp(type="STOR", user="alice", volume="/secret-volume")):
        text = orjson.dumps(result_for(record, OBSERVER)).decode()
        data = record["data"]
        assert [v for v in (data["file"], data["user"], data["volume"]) if f'"{v}"' in text] == []
        assert "wrfout" not in text and "anonymous" not in text and "alice" not in text


def test_a_failed_transfer_says_its_ftp_reply_and_has_no_throughput() -> None:
    doc = result_for(gridftp(code=426), OBSERVER)
    assert doc is not None
    assert doc["result"] == {"schema": 1, "succeeded": False, "time": "PT8.517581S", "bytes-sent": 100000000,
                             "error": "426 Connection closed; transfer aborted."}


def test_an_ipv6_peer_is_bracketed_in_its_url_and_the_globus_task_id_is_kept() -> None:
    doc = result_for(gridftp(dest="2001:db8::7", taskid="4b1c0a52-0a7e-11ef-9a4f-0242ac120002"), OBSERVER)
    assert doc is not None
    assert doc["test"]["spec"]["dest"] == "gsiftp://[2001:db8::7]"
    assert doc["reference"]["gridftp"]["task-id"] == "4b1c0a52-0a7e-11ef-9a4f-0242ac120002"


@pytest.mark.parametrize("kind", ["LIST", "NLST", "MLSD", "CKSM"])
def test_commands_that_move_no_file_are_not_measurements(kind: str) -> None:
    assert result_for(gridftp(type=kind), OBSERVER) is None


def test_a_gridftp_json_transfer_end_is_a_result_and_its_markers_are_not() -> None:
    record = gridftp(host="192.0.2.20", raw={"mpstat": {"CPU": "all"}, "file": "/data1/100M.dat"})
    record.update(format="gridftp-json", type="Transfer-End")
    doc = result_for(record, OBSERVER)
    assert doc is not None and doc["test"]["spec"]["source"] == "gsiftp://192.0.2.20"
    assert "100M" not in orjson.dumps(doc).decode() and "mpstat" not in orjson.dumps(doc).decode()
    record["type"] = "Perf-Marker"
    assert result_for(record, OBSERVER) is None


def test_a_bwctl_tcp_run_of_two_streams_is_a_throughput_result_in_iperf3_parser_s_shape() -> None:
    doc = result_for(bwctl_tcp(), OBSERVER)
    assert doc is not None
    assert doc["test"] == {"type": "throughput", "spec": {"schema": 1, "source": "198.51.100.10",
                                                          "dest": "203.0.113.20", "duration": "PT10S", "parallel": 2}}
    assert doc["tool"] == {"name": "bwctl/iperf3", "version": None}
    assert doc["run"]["start-time"] == "2016-08-16T03:39:47Z"
    assert doc["run"]["end-time"] == "2016-08-16T03:39:57.001024Z"
    assert doc["participants"] == ["198.51.100.10", "203.0.113.20"]
    assert doc["result"]["summary"] == {
        "streams": [{"stream-id": 4, "throughput-bits": 194368048.560274, "retransmits": 80},
                    {"stream-id": 6, "throughput-bits": 194368048.560274, "retransmits": 79}],
        "summary": {"start": 0.0, "end": 10.001024, "throughput-bits": 388736097.120548,
                    "receiver-throughput-bits": 388736097.120548, "retransmits": 159}}
    assert doc["result"]["intervals"][1] == {
        "streams": [{"stream-id": 4, "start": 1.000375, "end": 2.004007, "throughput-bits": 1200376.1514315,
                     "retransmits": 2},
                    {"stream-id": 6, "start": 1.000375, "end": 2.004007, "throughput-bits": 1200376.1514315,
                     "retransmits": 0}],
        "summary": {"start": 1.000375, "end": 2.004007, "throughput-bits": 2400752.302863, "retransmits": 2}}
    assert (doc["result"]["succeeded"], doc["result"]["diags"], len(doc["result"]["intervals"])) == (True, "", 2)
    assert doc["reference"]["connection"] == {"source": "10.0.2.15", "destination": "10.0.2.4"}


def test_a_udp_run_carries_sent_lost_and_jitter_and_no_retransmits() -> None:
    doc = result_for(bwctl_udp(), OBSERVER)
    assert doc is not None
    assert doc["test"]["spec"] == {"schema": 1, "source": "10.0.2.15", "dest": "10.0.2.4", "duration": "PT10S",
                                   "parallel": 1, "udp": True}
    assert doc["tool"]["name"] == "iperf3"
    assert doc["result"]["summary"]["summary"] == {
        "start": 0.0, "end": 10.0031, "throughput-bits": 1048349.53, "receiver-throughput-bits": 1048349.53,
        "sent": 160, "lost": 3, "jitter": 0.118}
    assert doc["result"]["intervals"] == [{
        "streams": [{"stream-id": 4, "start": 0.0, "end": 1.001342, "throughput-bits": 1047170.885411}],
        "summary": {"start": 0.0, "end": 1.001342, "throughput-bits": 1047170.885411}}]
    assert doc["reference"]["connection"] == {"source": "10.0.2.15", "destination": "10.0.2.4"}


def test_a_failed_test_is_a_failed_run_with_the_tool_s_error() -> None:
    record = bwctl_tcp()
    record["type"] = "failure"
    record["data"].update(error="unable to connect to server: Connection refused", throughput=None)
    doc = result_for(record, OBSERVER)
    assert doc is not None
    assert doc["result"] == {"schema": 1, "succeeded": False,
                             "error": "unable to connect to server: Connection refused", "diags": ""}


def test_a_replay_has_the_same_run_id_and_one_test_the_same_task() -> None:
    first, again = result_for(gridftp_retr(), OBSERVER), result_for(gridftp_retr(), OBSERVER)
    other = result_for(gridftp("gridftp-transfer:3f2a9c1d:280:0d0d0d0d"), OBSERVER)
    assert first is not None and again is not None and other is not None
    assert first == again
    assert hrefs(other)[0] == hrefs(first)[0] and other["id"] != first["id"]
    assert hrefs(first)[1].endswith(f"/runs/{uuid.uuid5(NAMESPACE, RETR_ID)}")


@pytest.mark.parametrize("record, reason", [
    (envelope("x:1", "openlava-acct", "JOB_FINISH", 1.0, {}),
     "the perfsonar sink sends GridFTP and bwctl/iperf3 results (formats gridftp, gridftp-json, bwctl-iperf3, "
     "iperf3), not records of format 'openlava-acct'"),
    (gridftp(duration=-2.5), "a gridftp record whose DATE (2015-04-07T14:59:45.113944Z) is before its START"),
    (gridftp(dest=None), "a gridftp transfer without dest"),
    (gridftp(nbytes="12"), "a gridftp transfer without an integer nbytes"),
])
def test_a_record_that_cannot_be_a_result_says_why(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unusable, match="^" + reason.replace("(", r"\(").replace(")", r"\)")):
        result_for(record, OBSERVER)


def test_a_line_that_is_no_envelope_and_a_time_that_is_no_date_are_refused_not_raised() -> None:
    record = bwctl_udp()
    record["data"]["start_time"] = 10**15
    encoded = encode_lines([b'["not", "an envelope"]\n', line(record)], OBSERVER)
    assert [why for _, why in encoded.refused] == [
        "not a JSON record envelope",
        "an iperf3 record whose start_time or end_time is out of range for a date "
        "(1000000000000000, 1471322925 s since 1970)"]
    assert encoded.body == b""


def test_a_throughput_record_without_addresses_cannot_say_which_path_was_measured() -> None:
    record = bwctl_udp()
    record["data"].update(source=None, input_source=None)  # plain iperf3: no bwctl header to fall back on
    with pytest.raises(Unusable, match="without a source and a destination address"):
        result_for(record, OBSERVER)


def test_a_batch_is_one_array_of_its_results_with_refusals_and_skips_apart() -> None:
    lines = [line(gridftp_retr()), line(gridftp(type="LIST")), line(envelope("x:9", "lmod", "load", 1.0, {})),
             line(bwctl_udp())]
    encoded = encode_lines(lines, OBSERVER)
    assert encoded.ids == (RETR_ID, "iperf3:51de0a0b:0:00c0ffee")
    assert [r["test"]["type"] for r in orjson.loads(encoded.body)] == ["disk-to-disk", "throughput"]
    assert [rid for rid, _ in encoded.refused] == ["x:9"] and encoded.skipped == 1
    assert encode_lines(lines, OBSERVER) == encoded


def test_durations_and_times_are_in_the_forms_the_pipeline_and_opensearch_read() -> None:
    assert [iso_duration(s) for s in (10, 8.517581, 0.0, 0.5)] == ["PT10S", "PT8.517581S", "PT0S", "PT0.5S"]
    assert [iso_time(t) for t in (1471318787, 1428418785.113944)] == ["2016-08-16T03:39:47Z",
                                                                      "2015-04-07T14:59:45.113944Z"]
