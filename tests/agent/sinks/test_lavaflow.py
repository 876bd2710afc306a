"""The lavaflow sink: the records and requests it builds and the Outcome it makes of each answer.

Shapes are compared with openlava-python's EventRecord / gridengine-accounting's dicts
(scheduler.md §1.4); answers come from `httpx.MockTransport` (the sink's client seam),
with one real socket for the network failures. What the drain does with the outcomes,
against the protocol-faithful double, is in test_lavaflow_delivery.py; the config rules in
test_lavaflow_config.py.
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Callable, Optional

import httpx
import orjson
import pytest

from agent.lsf_cluster import ClusterNameError
from agent.sinks import SINKS, Delivered, Misconfigured, Reject, Retry
from agent.sinks.lavaflow import Config, Encoded, LavaFlowSink
from agent.sinks.lavaflow.encode import JOB_NEW_KEYS, decode
from agent.sinks.lavaflow.job_finish import JOB_FINISH_KEYS, LOG_NAMES
from tests.agent.sinks.lavaflow_records import (batch, envelope, finishes, job_finish, job_new, rusage, sge_row,
                                                uge_row, unknown_event)

KEY = "K3y-\"quoted\"-s3cret"
NOW = 1714564800.0
OK = b'{\n   "data": null, \n   "message": "Import Successful", \n   "status": "OK"\n}'


def config(**keys: Any) -> Config:
    return Config.model_validate({"name": "lf", "type": "lavaflow", "url": "http://lava.test/lavaflow/",
                                  "key": KEY, **keys})


def mock_sink(handler: Callable[[httpx.Request], httpx.Response], infer: Optional[Callable[[], str]] = None,
              **keys: Any) -> LavaFlowSink:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return LavaFlowSink(config(**keys), client=client, clock=lambda: NOW, infer=infer or (lambda: "inferred"))


def recorder(seen: list[httpx.Request], answer: Callable[[httpx.Request], httpx.Response] = (
        lambda r: httpx.Response(200, content=OK))) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)
    return handler


def records_of(request: httpx.Request) -> list[Any]:
    body = orjson.loads(request.content)
    assert list(body) == ["key", "payload"] and body["key"] == KEY
    return list(body["payload"])


def sent(*lines: bytes, **keys: Any) -> list[httpx.Request]:
    seen: list[httpx.Request] = []
    sink = mock_sink(recorder(seen), **keys)
    assert sink.send(sink.encode(batch(*lines))) == Delivered()
    return seen


# ---- the records -------------------------------------------------------------------------
def test_a_job_finish_is_an_openlava_python_event_record_with_the_reader_s_derived_fields() -> None:
    [request] = sent(envelope(job_finish(2707, execHosts=["2*node1", "node2"], lsfRusage=rusage(1.5, 0.25))))
    [record] = records_of(request)
    assert list(record) == ["version", "type", "eventTime", "eventLog"]
    assert (record["version"], record["type"], record["eventTime"]) == ("10.108", 10, 1615412170)
    assert list(record["eventLog"]) == list(LOG_NAMES) and len(LOG_NAMES) == 28
    assert [k for k, v in record["eventLog"].items() if v is not None] == ["jobFinishLog"]
    log = record["eventLog"]["jobFinishLog"]
    assert sorted(log) == sorted(k for k, _ in JOB_FINISH_KEYS) and len(log) == 40  # LSF's timeEvent etc. dropped
    assert (log["jobId"], log["userName"], log["submitTime"], log["startTime"], log["jStatus"]) == (
        2707, "alice", 1615412160, 1615412161, 64)
    assert log["endTime"] == 1615412170 and log["cpuTime"] == 1.75  # eventTime; ru_utime + ru_stime
    assert (log["execHosts"], log["numExHosts"]) == (["node1", "node1", "node2"], 3)  # one entry per slot
    assert list(log["lsfRusage"]) == list(rusage()) and log["lsfRusage"]["ru_maxrss"] == -1.0
    assert (log["idx"], log["maxRMem"], log["maxRSwap"]) == (0, 2048, 4096)


def test_a_job_finish_missing_fields_gets_the_reader_s_defaults_in_jobfinishlog_order() -> None:
    data = {k: v for k, v in job_finish(9).items() if k not in ("maxRMem", "maxRSwap", "lsfRusage", "idx")}
    [request] = sent(envelope(data))
    log = records_of(request)[0]["eventLog"]["jobFinishLog"]
    assert list(log) == [k for k, _ in JOB_FINISH_KEYS]
    assert (log["maxRMem"], log["maxRSwap"], log["idx"], set(log["lsfRusage"].values())) == (0, 0, 0, {-1.0})


def test_decoding_skips_unwanted_events_unread_and_cuts_a_job_finish_after_command_spool() -> None:
    status = envelope({"version": "10.108", "eventTime": 5, "jobId": 1}, type="JOB_STATUS", fmt="openlava-events")
    tricky = envelope(job_finish(7, commandSpool='a\\"b\\', unparsed=['"commandSpool":"x"']), offset=1)
    [got] = decode([status, tricky], frozenset({"JOB_NEW", "JOB_FINISH"}))
    assert got["data"]["commandSpool"] == 'a\\"b\\' and "unparsed" not in got["data"] and "exitInfo" not in got["data"]
    reordered = dict(job_finish(8))
    reordered["maxRSwap"] = reordered.pop("maxRSwap")  # now after commandSpool and the LSF extras
    [whole] = decode([envelope(reordered)], None)
    assert whole["data"]["maxRSwap"] == 4096 and "unparsed" in whole["data"]  # decoded whole, nothing lost
    assert len(decode([status], None)) == 1  # event_types = "all": nothing skipped


def test_names_and_a_job_new_command_longer_than_lavaflow_s_512_character_fields_are_cut_there() -> None:
    script = "#!/bin/bash;#BSUB -n 128;" + "mpirun ./model;" * 100
    [request] = sent(envelope(job_new(5, command=script, jobName="n" * 600), type="JOB_NEW", fmt="openlava-events"),
                     envelope(job_finish(5, command=script, jobName="n" * 600), offset=1))
    new, finish = (r["eventLog"]["jobNewLog"] or r["eventLog"]["jobFinishLog"] for r in records_of(request))
    assert (new["command"], new["jobName"]) == (script[:512], "n" * 512)
    assert (finish["command"], finish["jobName"]) == (script, "n" * 512)  # Attempt.command is a TextField


def test_cpu_time_is_never_negative_when_the_log_has_no_rusage() -> None:
    [request] = sent(envelope(job_finish(1, lsfRusage=rusage(-1.0, -1.0))))
    assert records_of(request)[0]["eventLog"]["jobFinishLog"]["cpuTime"] == 0.0


def test_an_lsf_job_new_gets_the_openlava_fields_it_lacks_with_the_reader_s_defaults() -> None:
    [request] = sent(envelope(job_new(2707), type="JOB_NEW", fmt="openlava-events"))
    [record] = records_of(request)
    assert record["type"] == 1 and [k for k, v in record["eventLog"].items() if v is not None] == ["jobNewLog"]
    log = record["eventLog"]["jobNewLog"]
    assert list(log) == [k for k, _ in JOB_NEW_KEYS] and len(log) == 45
    assert (log["jobId"], log["userName"], log["fromHost"], log["rLimits"]) == (2707, "alice", "ip-10-0-1-23",
                                                                                [-1] * 11)
    assert {k: log[k] for k in ("options2", "idx", "niosPort", "inFileSpool", "jobSpoolDir", "userPriority")} == {
        "options2": 0, "idx": 0, "niosPort": 0, "inFileSpool": "", "jobSpoolDir": "", "userPriority": -1}


def test_an_unknown_lsf_event_is_delivered_without_a_request_by_default() -> None:
    seen: list[httpx.Request] = []
    sink = mock_sink(recorder(seen))
    lines = [envelope(unknown_event(), type="JOB_FORWARD", fmt="openlava-events"),
             envelope({"version": "10.108", "eventTime": 5, "jobId": 1, "jStatus": 4}, type="JOB_STATUS",
                      fmt="openlava-events", offset=1)]
    assert sink.send(sink.encode(batch(*lines))) == Delivered()
    assert seen == []


def test_with_event_types_all_an_unknown_lsf_event_goes_with_type_0_and_no_sub_log() -> None:
    [request] = sent(envelope(unknown_event(), type="JOB_FORWARD", fmt="openlava-events"), event_types="all")
    [record] = records_of(request)
    assert (record["type"], record["version"], record["eventTime"]) == (0, "10.108", 1615412160)
    assert set(record["eventLog"].values()) == {None}


def test_a_uge_8_2_row_is_a_uge_account_entry_dict_with_second_and_millisecond_times() -> None:
    [request] = sent(envelope(uge_row(4), type="accounting", fmt="uge-accounting"))
    assert request.url.path == "/lavaflow/clusters/hpc1/import/univa82"
    [row] = records_of(request)
    assert list(row)[:12] == ["qname", "hostname", "group", "owner", "job_name", "job_number", "account",
                              "priority", "submission_time", "submission_time_milliseconds", "start_time",
                              "start_time_milliseconds"]
    assert list(row)[-9:] == ["ar_submission_time", "ar_submission_time_milliseconds", "job_class", "qdel_info",
                              "maxrss", "maxpss", "submit_host", "cwd", "submit_cmd"]
    assert len(row) == 57
    assert (row["submission_time"], row["submission_time_milliseconds"]) == (1416358463.256, 1416358463256)
    assert (row["end_time"], row["end_time_milliseconds"]) == (1416358473.446, 1416358473446)
    assert (row["ru_wallclock"], row["ru_wallclock_milliseconds"]) == (9.801, 9801)
    assert (row["project"], row["category"], row["pe_taskid"], row["submit_host"]) == ("NONE", "NONE", None,
                                                                                       "master")


def test_an_sge_row_is_an_account_entry_dict_with_category_spelled_as_the_view_reads_it() -> None:
    [request] = sent(envelope(sge_row(2, pe_taskid="3"), type="accounting", fmt="uge-accounting"))
    assert request.url.path == "/lavaflow/clusters/hpc1/import/gridengine"
    [row] = records_of(request)
    assert "catagory" not in row and row["category"] == "-l h_rt=3600"
    assert (row["submission_time"], row["start_time"], row["end_time"]) == (1416358463, 1416358464, 1416358473)
    assert (row["project"], row["department"], row["granted_pe"], row["pe_taskid"]) == (
        None, "defaultdepartment", None, 3)
    assert len(row) == 45 and (row["arid"], row["ar_submission_time"]) == (0, 0)


def test_an_sge_layout_line_with_millisecond_times_is_sent_in_seconds() -> None:
    row = sge_row(7, submission_time=1416358463256, start_time=1416358463645, end_time=1416358473446,
                  time_unit="ms")
    [request] = sent(envelope(row, type="accounting", fmt="uge-accounting"))
    got = records_of(request)[0]
    assert (got["submission_time"], got["start_time"], got["end_time"]) == (1416358463, 1416358463, 1416358473)


# ---- the requests ---------------------------------------------------------------------------
def test_the_request_is_a_json_post_of_key_and_payload_to_the_url_quoted_cluster() -> None:
    [request] = sent(*finishes(2), cluster="my cluster/x")
    assert request.method == "POST"
    assert request.url.raw_path == b"/lavaflow/clusters/my%20cluster%2Fx/import/openlava"
    assert request.headers["Content-Type"] == "application/json"
    assert [r["eventLog"]["jobFinishLog"]["jobId"] for r in records_of(request)] == [1, 2]


def test_a_batch_mixing_views_and_clusters_is_sent_as_several_requests_in_order() -> None:
    lines = [*finishes(2, cluster="a"), envelope(uge_row(4), type="accounting", fmt="uge-accounting", cluster="a"),
             *finishes(1, first=3, cluster="b"), envelope(sge_row(5), type="accounting", fmt="uge-accounting",
                                                          cluster="b", offset=9)]
    seen = sent(*lines)
    assert [(r.url.path, len(records_of(r))) for r in seen] == [
        ("/lavaflow/clusters/a/import/openlava", 2), ("/lavaflow/clusters/a/import/univa82", 1),
        ("/lavaflow/clusters/b/import/openlava", 1), ("/lavaflow/clusters/b/import/gridengine", 1)]


def test_the_configured_cluster_wins_then_the_record_s_then_the_inferred_one() -> None:
    assert sent(*finishes(1, cluster="rec"), cluster="conf")[0].url.path.startswith("/lavaflow/clusters/conf/")
    assert sent(*finishes(1, cluster="rec"))[0].url.path.startswith("/lavaflow/clusters/rec/")
    asked: list[int] = []
    seen: list[httpx.Request] = []

    def infer() -> str:
        asked.append(1)
        return "lsfcluster"
    sink = mock_sink(recorder(seen), infer=infer)
    for _ in range(2):
        assert sink.send(sink.encode(batch(*finishes(2, cluster=None)))) == Delivered()
    assert [r.url.path for r in seen] == ["/lavaflow/clusters/lsfcluster/import/openlava"] * 2 and asked == [1]


def test_no_cluster_anywhere_stops_the_sink_with_the_inference_error() -> None:
    def fail() -> str:
        raise ClusterNameError("/etc/lsf.conf cannot be read", ["/etc/lsf.conf"])
    outcome = mock_sink(recorder([]), infer=fail).send(mock_sink(recorder([]), infer=fail).encode(
        batch(*finishes(1, cluster=None))))
    assert isinstance(outcome, Misconfigured)
    assert outcome.reason == (
        "no LavaFlow cluster name: neither the sink's cluster nor the records' ([agent] or source cluster) is "
        "set, and cannot infer the LSF cluster name: /etc/lsf.conf cannot be read; looked at /etc/lsf.conf; "
        'set cluster = "..." in the [[sinks]] table, or --cluster_name')


def test_records_of_another_format_are_refused_by_id_before_anything_is_sent() -> None:
    seen: list[httpx.Request] = []
    sink = mock_sink(recorder(seen))
    foreign = envelope({"message": "hello"}, type="line", fmt="lines", offset=77, source="app")
    payload = sink.encode(batch(*finishes(1), foreign))
    outcome = sink.send(payload)
    assert isinstance(outcome, Reject) and seen == []
    assert outcome.record_ids == frozenset({orjson.loads(foreign)["id"]})
    assert outcome.reason == "LavaFlow imports openlava-events, openlava-acct and uge-accounting records, not format 'lines'"


def test_encode_is_pure() -> None:
    sink = mock_sink(recorder([]))
    lines = finishes(3)
    assert sink.encode(batch(*lines)) == sink.encode(batch(*lines))
    assert isinstance(sink.encode(batch(*lines)), Encoded)


# ---- the answers ------------------------------------------------------------------------------
def answer(status: int, body: bytes = b"", headers: Optional[dict[str, str]] = None) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, content=body, headers=headers or {})


@pytest.mark.parametrize("status, body, headers, kind, after", [
    (200, OK, None, Delivered, None),
    (200, b'{"status": "ERROR", "message": "db locked"}', None, Retry, None),
    (200, b"<html>proxy login</html>", None, Retry, None),
    (403, b"Invalid key specified", None, Misconfigured, None),
    (400, b"Invalid JSON data", None, Reject, None),
    (400, b"key not specified", None, Reject, None),
    (413, b"Request Entity Too Large", None, Reject, None),
    (401, b"", None, Misconfigured, None),
    (404, b"<h1>Not Found</h1>", None, Misconfigured, None),
    (405, b"", None, Misconfigured, None),
    (301, b"", {"Location": "https://lava.test/lavaflow/"}, Misconfigured, None),
    (502, b"Bad Gateway", None, Retry, None),
    (503, b"", {"Retry-After": "30"}, Retry, 30.0),
    (504, b"", None, Retry, None),
    (429, b"", {"Retry-After": "7"}, Retry, 7.0),
    (408, b"", None, Retry, None),
])
def test_each_answer_maps_to_its_outcome(status: int, body: bytes, headers: Optional[dict[str, str]], kind: type,
                                         after: Optional[float]) -> None:
    sink = mock_sink(answer(status, body, headers))
    outcome = sink.send(sink.encode(batch(*finishes(2))))
    assert type(outcome) is kind
    if isinstance(outcome, Retry):
        assert outcome.after == after
    if isinstance(outcome, Reject):
        assert outcome.record_ids is None  # the drain bisects


def test_a_403_says_what_to_fix_and_that_nothing_is_dead_lettered() -> None:
    sink = mock_sink(answer(403, b"Invalid key specified"))
    assert sink.send(sink.encode(batch(*finishes(1)))) == Misconfigured(
        "HTTP 403: Invalid key specified (LavaFlow refuses the import key: set key or key_file to an import key of "
        "the LavaFlow admin (ImportKey), then reload; the records stay in the spool, none is dead-lettered)")


def test_a_200_without_status_ok_is_retried_with_the_body_in_the_reason() -> None:
    sink = mock_sink(answer(200, b'{"status": "ERROR", "message": "db locked"}'))
    assert sink.send(sink.encode(batch(*finishes(1)))) == Retry(
        'HTTP 200 without "status": "OK": {"status": "ERROR", "message": "db locked"}')


def scripted(*answers: tuple[int, bytes], seen: Optional[list[bytes]] = None) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request.content)
        status, body = queue.pop(0)
        return httpx.Response(status, content=body)
    return handler


ERROR_PAGE = b"<html><head><title>Server Error</title></head><body><h1>Server Error (500)</h1></body></html>"


def test_a_first_500_is_retried_and_a_second_one_probes_the_server_with_an_empty_import() -> None:
    bodies: list[bytes] = []
    sink = mock_sink(scripted((500, ERROR_PAGE), (500, ERROR_PAGE), (200, OK), seen=bodies))
    lines = finishes(3)
    first = sink.send(sink.encode(batch(*lines)))
    assert first == Retry("HTTP 500: Server Error Server Error (500) (first 500 for this batch: retried before a "
                          "record is blamed)")
    second = sink.send(sink.encode(batch(*lines)))
    assert second == Reject("HTTP 500: Server Error Server Error (500) (twice for this batch while an empty import "
                            "succeeds: a record in it breaks LavaFlow's import view)")
    assert orjson.loads(bodies[2]) == {"key": KEY, "payload": []}


def test_a_500_that_the_empty_import_shares_is_an_outage_and_is_retried() -> None:
    sink = mock_sink(scripted((500, ERROR_PAGE), (500, ERROR_PAGE), (500, ERROR_PAGE), (500, ERROR_PAGE),
                              (503, b"down"), (200, OK)))
    lines = finishes(3)
    outcomes = [sink.send(sink.encode(batch(*lines))) for _ in range(4)]
    assert [type(o) for o in outcomes] == [Retry, Retry, Retry, Delivered]
    assert isinstance(outcomes[1], Retry) and "an empty import fails too" in outcomes[1].reason


def test_a_500_for_another_batch_is_a_first_500_again() -> None:
    sink = mock_sink(scripted((500, ERROR_PAGE), (500, ERROR_PAGE)))
    assert isinstance(sink.send(sink.encode(batch(*finishes(2)))), Retry)
    assert isinstance(sink.send(sink.encode(batch(*finishes(2, first=10)))), Retry)


def test_the_key_is_scrubbed_from_every_reason_even_when_the_server_echoes_the_body() -> None:
    def echo(status: int) -> Callable[[httpx.Request], httpx.Response]:
        return lambda request: httpx.Response(status, content=request.content)
    for status in (400, 413, 502, 200):
        sink = mock_sink(echo(status))
        outcome = sink.send(sink.encode(batch(*finishes(1))))
        reason = getattr(outcome, "reason", "")
        assert reason and KEY not in reason and orjson.dumps(KEY).decode()[1:-1] not in reason and "***" in reason


def test_the_key_file_is_read_before_every_request(tmp_path: Path) -> None:
    key_file = tmp_path / "lavaflow.key"
    key_file.write_text("first-key\n")
    seen: list[httpx.Request] = []
    sink = LavaFlowSink(Config.model_validate({"name": "lf", "type": "lavaflow", "url": "http://lava.test/lavaflow",
                                               "key_file": str(key_file)}),
                        client=httpx.Client(transport=httpx.MockTransport(recorder(seen))))
    sink.send(sink.encode(batch(*finishes(1))))
    key_file.write_text("second-key\n")
    sink.send(sink.encode(batch(*finishes(1))))
    assert [orjson.loads(r.content)["key"] for r in seen] == ["first-key", "second-key"]
    key_file.unlink()
    outcome = sink.send(sink.encode(batch(*finishes(1))))
    assert outcome == Misconfigured(f"key_file: cannot read secret file {key_file}: No such file or directory")


def test_a_closed_port_and_a_silent_server_are_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = SINKS["lavaflow"].open(config(url=f"http://127.0.0.1:{port}/lavaflow"))
    outcome = sink.send(sink.encode(batch(*finishes(1))))
    assert isinstance(outcome, Retry) and outcome.reason.startswith("cannot connect: ")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        sink = SINKS["lavaflow"].open(config(url=f"http://127.0.0.1:{listener.getsockname()[1]}/lf", timeout="200ms"))
        assert sink.send(sink.encode(batch(*finishes(1)))) == Retry("no answer within 0.2s (ReadTimeout)")
        sink.close()
