"""The lavaflow sink's request bytes: pinned for a JOB_FINISH and a JOB_NEW, and the same whichever way they are built.

A JOB_FINISH is normally spliced from its spooled line (agent/sinks/lavaflow/job_finish.py)
rather than decoded into dicts and dumped; the dict path remains for every record the
splice cannot vouch for. These tests hold the splice to the dict path's bytes on records
chosen to break it: quotes, backslashes and JSON look-alikes inside strings, keys missing,
moved or added, nested objects, values the dict path changes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.envelope import EnvelopeEncoder
from agent.sinks.lavaflow import encode as lavaflow_encode
from agent.sinks.lavaflow.encode import decode, encode, encode_lines
from agent.sinks.lavaflow.job_finish import job_finish_log
from parsers import ParseError, Parsed, parser_for
from tests.agent.sinks.lavaflow_records import envelope, job_finish, job_new, rusage

WANTED = frozenset({"JOB_NEW", "JOB_FINISH"})
SAMPLES = Path(__file__).resolve().parents[2] / "parsers" / "samples"

FINISH = (
    b'[{"version":"10.108","type":10,"eventTime":1615412170,"eventLog":{"jobNewLog":null,'
    b'"jobStartLog":null,"jobStatusLog":null,"sbdJobStatusLog":null,"jobSwitchLog":null,"jobMoveLog":null,'
    b'"queueCtrlLog":null,"newDebugLog":null,"hostCtrlLog":null,"mbdStartLog":null,"mbdDieLog":null,'
    b'"unfulfillLog":null,"jobFinishLog":{"jobId":2707,"userId":1001,"options":33554450,"numProcessors":1,'
    b'"submitTime":1615412160,"beginTime":0,"termTime":0,"startTime":1615412161,"userName":"alice",'
    b'"queue":"normal","resReq":"","dependCond":"","preExecCmd":"","fromHost":"ip-10-0-1-23",'
    b'"cwd":"$HOME","inFile":"","outFile":"","errFile":"","jobFile":"1615412160.2707","numAskedHosts":0,'
    b'"askedHosts":[],"numExHosts":1,"execHosts":["ip-10-0-1-46"],"jStatus":64,"hostFactor":1.0,'
    b'"jobName":"sleep 5","command":"sleep 5","lsfRusage":{"ru_utime":0.46,"ru_stime":0.11,'
    b'"ru_maxrss":-1.0,"ru_ixrss":-1.0,"ru_ismrss":-1.0,"ru_idrss":-1.0,"ru_isrss":-1.0,"ru_minflt":-1.0,'
    b'"ru_majflt":-1.0,"ru_nswap":-1.0,"ru_inblock":-1.0,"ru_oublock":-1.0,"ru_ioch":-1.0,'
    b'"ru_msgsnd":-1.0,"ru_msgrcv":-1.0,"ru_nsignals":-1.0,"ru_nvcsw":-1.0,"ru_nivcsw":-1.0,'
    b'"ru_exutime":-1.0},"mailUser":"","projectName":"default","exitStatus":0,"maxNumProcessors":1,'
    b'"loginShell":"","idx":0,"maxRMem":2048,"maxRSwap":4096,"inFileSpool":"","commandSpool":"",'
    b'"endTime":1615412170,"cpuTime":0.5700000000000001},"loadIndexLog":null,"migLog":null,'
    b'"signalLog":null,"jobExecuteLog":null,"jobMsgLog":null,"jobMsgAckLog":null,"jobRequeueLog":null,'
    b'"chkpntLog":null,"sigactLog":null,"jobStartAcceptLog":null,"jobCleanLog":null,'
    b'"jobForceRequestLog":null,"logSwitchLog":null,"jobModLog":null,"jobAttrSetLog":null}}]'
)
NEW = (
    b'[{"version":"10.108","type":1,"eventTime":1615412160,"eventLog":{"jobNewLog":{"jobId":2708,'
    b'"userId":1001,"userName":"alice","options":33554450,"options2":0,"numProcessors":1,'
    b'"submitTime":1615412160,"beginTime":0,"termTime":0,"sigValue":0,"chkpntPeriod":0,"restartPid":0,'
    b'"rLimits":[-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1],"hostSpec":"","hostFactor":1.0,"umask":18,'
    b'"queue":"normal","resReq":"","fromHost":"ip-10-0-1-23","cwd":"$HOME","chkpntDir":"","inFile":"",'
    b'"outFile":"","errFile":"","inFileSpool":"","commandSpool":"","jobSpoolDir":"",'
    b'"subHomeDir":"/home/alice","jobFile":"1615412160.2708","numAskedHosts":0,"askedHosts":[],'
    b'"dependCond":"","jobName":"sleep 5","command":"sleep 5","nxf":0,"xf":[],"preExecCmd":"",'
    b'"mailUser":"","projectName":"default","niosPort":0,"maxNumProcessors":1,"schedHostType":"",'
    b'"loginShell":"","idx":0,"userPriority":-1},"jobStartLog":null,"jobStatusLog":null,'
    b'"sbdJobStatusLog":null,"jobSwitchLog":null,"jobMoveLog":null,"queueCtrlLog":null,"newDebugLog":null,'
    b'"hostCtrlLog":null,"mbdStartLog":null,"mbdDieLog":null,"unfulfillLog":null,"jobFinishLog":null,'
    b'"loadIndexLog":null,"migLog":null,"signalLog":null,"jobExecuteLog":null,"jobMsgLog":null,'
    b'"jobMsgAckLog":null,"jobRequeueLog":null,"chkpntLog":null,"sigactLog":null,"jobStartAcceptLog":null,'
    b'"jobCleanLog":null,"jobForceRequestLog":null,"logSwitchLog":null,"jobModLog":null,'
    b'"jobAttrSetLog":null}}]'
)


Sent = tuple[list[tuple[str, str, bytes, int]], tuple[tuple[str, str], ...]]


def sent(lines: list[bytes], cluster: Any = "hpc1", wanted: Any = WANTED) -> Sent:
    """(kind, cluster, records, count) of each request, and the records refused."""
    encoded = encode_lines(lines, cluster, wanted, lambda: "inferred", "k")
    return [(p.kind, p.cluster, p.records, p.count) for p in encoded.parts], encoded.refused


def dict_path(lines: list[bytes], cluster: Any = "hpc1", wanted: Any = WANTED) -> Sent:
    """What the sink sent before splicing: every record decoded, built as dicts, dumped."""
    encoded = encode(decode(lines, wanted), cluster, wanted, lambda: "inferred", "k")
    return [(p.kind, p.cluster, p.records, p.count) for p in encoded.parts], encoded.refused


@pytest.fixture
def dict_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the JOB_FINISH records built as dicts (the ones not spliced)."""
    built: list[int] = []

    def counting(data: dict[str, Any], event_time: Any) -> dict[str, Any]:
        built.append(data.get("jobId", 0))
        return job_finish_log(data, event_time)
    monkeypatch.setattr(lavaflow_encode, "job_finish_log", counting)
    return built


def test_a_job_finish_is_sent_as_these_bytes_spliced_and_built_alike(dict_builds: list[int]) -> None:
    assert sent([envelope(job_finish(2707))]) == ([("openlava", "hpc1", FINISH, 1)], ())
    assert dict_builds == []
    assert dict_path([envelope(job_finish(2707))]) == ([("openlava", "hpc1", FINISH, 1)], ())
    assert dict_builds == [2707]


def test_a_job_new_is_sent_as_these_bytes() -> None:
    assert sent([envelope(job_new(2708), type="JOB_NEW", fmt="openlava-events")]) == ([("openlava", "hpc1", NEW, 1)], ())


TRICKY = ['a"b', "a\\", '\\"', ',"timeEvent":1', "}", '{"x":1}', "é\u2028\x01\x7f", '","', "x" * 600, ""]
OPENLAVA_LAYOUT = {k: v for k, v in job_finish(3).items() if k not in ("timeEvent", "exitInfo", "unparsed")}


def variants() -> list[tuple[dict[str, Any], bool]]:
    """(JOB_FINISH data, spliced?): the splice must give the dict path's bytes, or leave the record to it."""
    cases: list[tuple[dict[str, Any], bool]] = [(job_finish(1), True), (OPENLAVA_LAYOUT, True)]
    for text in TRICKY:
        for key in ("command", "cwd", "loginShell", "version"):
            cases.append((job_finish(2, **{key: text}), True))
        for key in ("timeEvent", "inFileSpool", "commandSpool"):  # a brace after timeEvent: left to the dict path
            cases.append((job_finish(2, **{key: text}), "}" not in text))
        cases.append((job_finish(2, execHosts=[text, "n1"], askedHosts=[text]), True))
        cases.append((job_finish(2, jobName=text), len(text) <= 512))
    not_spliced: list[dict[str, Any]] = [
        job_finish(4, execHosts=["2*n1", "n2"]), job_finish(4, execHosts=[1, "n*"]), job_finish(4, jobName="é" * 513),
        job_finish(4, timeEvent=[1, 2]), job_finish(4, timeEvent={"a": "b"}), job_finish(4, idx={"timeEvent": 0}),
        job_finish(4, lsfRusage={"ru_utime": 1.0}), job_finish(4, lsfRusage=None), job_finish(4, eventTime=1.5),
        job_finish(4, version=10), before_idx(job_finish(4), endTime=5), before_idx(job_finish(4), extra=1),
        {"timeEvent": 0, **{k: v for k, v in job_finish(4).items() if k != "timeEvent"}},
    ]
    cases += [(data, False) for data in not_spliced]
    cases += [(job_finish(5, lsfRusage=rusage(1, 2)), True), (job_finish(5, lsfRusage=rusage(-1.0, -1.0)), True),
              (job_finish(5, lsfRusage=dict(rusage(), ru_stime="x")), True), (job_finish(5, jobName=None), True),
              (job_finish(5, askedHosts=[{"timeEvent": 1}]), True)]
    base = job_finish(6)
    for key in base:
        if key in ("exitInfo", "unparsed"):
            continue
        missing = {k: v for k, v in base.items() if k != key}
        cases.append((missing, key == "timeEvent"))  # without it: openlava's layout
        moved = {k: v for k, v in base.items() if k != key}
        moved[key] = base[key]  # after commandSpool: decoded whole, or cut off and given its default
        cases.append((moved, key == "timeEvent"))
    return cases


def before_idx(data: dict[str, Any], **added: Any) -> dict[str, Any]:
    """`data` with keys added before `idx` (not after commandSpool, where the sink never reads)."""
    at = list(data).index("idx")
    items = list(data.items())
    return dict(items[:at] + list(added.items()) + items[at:])


def line_of(data: dict[str, Any], offset: int = 0) -> bytes:
    return EnvelopeEncoder("acct", "openlava-acct", "headnode1", "hpc1").encode(
        f"acct:{offset}", Parsed("JOB_FINISH", 0.0, data))


@pytest.mark.parametrize("data, spliced", variants())
def test_a_job_finish_is_sent_as_the_dict_path_sends_it(data: dict[str, Any], spliced: bool,
                                                         dict_builds: list[int]) -> None:
    line = line_of(data)
    assert sent([line]) == dict_path([line])
    assert len(dict_builds) == (1 if spliced else 2)  # the dict path's own build, and the sink's when not spliced


def test_a_batch_of_spliced_and_built_records_is_one_request_in_spool_order(dict_builds: list[int]) -> None:
    lines = [line_of(job_finish(1), 1), envelope(job_new(2), type="JOB_NEW", fmt="openlava-events", offset=2),
             line_of(job_finish(3, execHosts=["2*n1"]), 3), line_of(job_finish(4), 4)]
    [(kind, cluster, records, count)] = sent(lines)[0]
    assert (kind, cluster, count) == ("openlava", "hpc1", 4) and dict_builds == [3]
    assert [r["eventLog"]["jobFinishLog"] and r["eventLog"]["jobFinishLog"]["jobId"] for r in orjson.loads(records)] == [
        1, None, 3, 4]
    assert sent(lines) == dict_path(lines)
    assert sent(lines, wanted=None) == dict_path(lines, wanted=None)
    assert sent(lines, cluster=None) == dict_path(lines, cluster=None)


def test_the_lsf_and_openlava_samples_are_sent_as_the_dict_path_sends_them(dict_builds: list[int]) -> None:
    lines = []
    for fmt in ("openlava-acct", "openlava-events"):
        parse = parser_for(fmt)
        for path in sorted((SAMPLES / fmt).rglob("*")):
            if path.is_file():
                encoder = EnvelopeEncoder("s", fmt, "h", None)
                for n, raw in enumerate(path.read_bytes().splitlines()):
                    try:
                        parsed = parse(raw)
                    except ParseError:
                        continue
                    if parsed is not None:
                        lines.append(encoder.encode(f"s:{path.name}:{n}", parsed))
    assert sent(lines) == dict_path(lines) and sent(lines, wanted=None) == dict_path(lines, wanted=None)
    finishes = sum(1 for line in lines if b',"type":"JOB_FINISH","data":{"version":"' in line and b'"unknown":true' not in line)
    # built as dicts: by the dict path all of them (twice), by the sink the LSF 9 records with 16*host lists (twice)
    assert (finishes, len(dict_builds)) == (12, 2 * 12 + 2 * 2)
