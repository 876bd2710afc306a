"""The `openlava-acct` format: JOB_FINISH records of lsb.acct from openlava, LSF 9 and LSF 10, and the bad ones."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from parsers import ParseError, Parsed
from parsers.openlava_acct import parse
from tests.parsers.lsb_writer import LSF_VERSIONS, OPENLAVA_VERSIONS, records

SAMPLES = Path(__file__).parent / "samples" / "openlava-acct"


def _lines(name: str) -> list[bytes]:
    return (SAMPLES / name).read_bytes().splitlines()


def _data(line: bytes) -> dict[str, Any]:
    result = parse(line)
    assert isinstance(result, Parsed) and result.type == "JOB_FINISH"
    assert result.time == float(result.data["eventTime"])
    return result.data


def _error(line: bytes) -> tuple[str, str | None, int | None]:
    with pytest.raises(ParseError) as caught:
        parse(line)
    return caught.value.reason, caught.value.field, caught.value.offset


LSF10 = _lines("malformed/hpccostsim_lsf10_lsb.acct")


def test_lsf10_job_finish_reads_every_field() -> None:
    d = _data(LSF10[0])
    assert (d["version"], d["eventTime"], d["jobId"], d["userId"], d["options"]) == ("10.108", 1644826549, 386, 1501,
                                                                                     33554434)
    assert (d["numProcessors"], d["submitTime"], d["beginTime"], d["termTime"], d["startTime"]) == \
        (1, 1644826545, 0, 0, 1644826546)
    assert (d["userName"], d["queue"], d["fromHost"], d["cwd"], d["jobFile"]) == \
        ("simuser", "sender", "ip-10-30-14-225.eu-west-1.compute.internal", "/root", "1644826545.386")
    assert (d["numAskedHosts"], d["askedHosts"], d["numExHosts"]) == (0, [], 1)
    assert d["execHosts"] == ["ip-10-30-66-253.eu-west-1.compute.internal"]
    assert (d["jStatus"], d["hostFactor"], d["jobName"], d["command"]) == (64, 100.0, "", "/bin/sleep 3")
    assert d["lsfRusage"] == {
        "ru_utime": 0.004997, "ru_stime": 0.006155, "ru_maxrss": 3748.0, "ru_ixrss": 0.0, "ru_ismrss": -1.0,
        "ru_idrss": 0.0, "ru_isrss": 0.0, "ru_minflt": 436.0, "ru_majflt": 4.0, "ru_nswap": 0.0,
        "ru_inblock": 928.0, "ru_oublock": 0.0, "ru_ioch": -1.0, "ru_msgsnd": 0.0, "ru_msgrcv": 0.0,
        "ru_nsignals": 0.0, "ru_nvcsw": 19.0, "ru_nivcsw": 2.0, "ru_exutime": -1.0}
    assert (d["mailUser"], d["projectName"], d["exitStatus"], d["maxNumProcessors"], d["loginShell"]) == \
        ("", "default", 0, 1, "")
    assert (d["timeEvent"], d["idx"], d["maxRMem"], d["maxRSwap"], d["inFileSpool"], d["commandSpool"]) == \
        ("", 0, 2048, 0, "", "")
    # LSF's own fields after commandSpool (lsb_job_finish)
    assert (d["exitInfo"], d["warningTimePeriod"], d["options2"], d["lastResizeTime"]) == (0, -1, 5136, 1644826546)
    assert d["submitEXT"] == [{"key": 1110, "value": "default"}, {"key": 1041, "value": "jfincache"},
                              {"key": 1086, "value": "-1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 "},
                              {"key": 1032, "value": "0"}, {"key": 1033, "value": "0"}]
    assert (d["numHostRusage"], d["hostRusage"], d["runLimit"], d["options3"], d["avgMem"]) == (0, [], -1, 4194304,
                                                                                                1024)
    assert d["effectiveResReq"] == "select[type == any] order[r15s:pg] "
    assert (d["srcCluster"], d["srcJobId"], d["dstCluster"], d["dstJobId"], d["forwardTime"]) == ("", -1, "", -1, 0)
    assert (d["runTime"], d["subcwd"], d["num_network"], d["affinity"]) == (3, "/root", 0, "")
    assert (d["serial_job_energy"], d["gflops"], d["numAllocSlots"], d["ineligiblePendTime"]) == (0.0, 0.0, 1, -1)
    assert (d["indexRangeCnt"], d["requeueTime"], d["numGPURusages"], d["storageInfoC"], d["numKVP"]) == \
        (0, 0, 0, 0, 1)
    assert d["finishKVP"] == [{"key": "schedulingOverhead", "value": "0.00"}]
    assert "unparsed" not in d and len(d) == 98


def test_lsf10_multicluster_record_has_its_execution_cluster() -> None:
    d = _data(LSF10[3])
    assert (d["jobId"], d["jStatus"], d["exitStatus"], d["command"]) == (384, 32, 32512, "600 10")
    assert d["execHosts"] == ["ip-172-30-68-135.eu-west-1.compute.internal@lsf1"]
    assert (d["dstCluster"], d["dstJobId"], d["forwardTime"], d["runTime"]) == ("lsf1", 246, 1644132249, 4)
    assert d["submitEXT"][0] == {"key": 1058, "value": "1"} and d["numSubmitEXT"] == 6
    assert _data(LSF10[4])["command"].startswith("#!/usr/bin/python; import sys;import time; count = 600;")


def test_lsf10_record_with_two_fields_run_together_is_refused_at_the_count() -> None:
    # Record 2 has `02` where LSF writes `0 2` (numAskedHosts, numExHosts): read as a count of 2 the
    # rest would shift by one field; %d never writes a leading zero, so the count itself is wrong.
    assert b" 02 " in LSF10[1]
    assert _error(LSF10[1]) == ("expected an integer, got 02 (a leading zero, which %d never writes: two fields "
                                "run together?)", "numAskedHosts", 208)
    assert LSF10[1][208:210] == b"02"


def test_fields_read_together_are_each_still_checked_and_named() -> None:
    # The compiled reader takes the fields between two arrays in one unpacking; a wrong or a
    # missing one among them is still refused, and the checked reader names it.
    line = LSF10[0]
    assert b' -1 "" "default" 0 1 "" "" 0 2048 ' in line
    assert _error(line.replace(b' "default" 0 1 ', b' "default" 0.5 1 '))[:2] == \
        ("expected an integer, got 0.5", "exitStatus")
    assert _error(line.replace(b' "default" 0 1 ', b' "default" 0 "1" '))[:2] == \
        ('expected an integer, got "1"', "maxNumProcessors")
    assert _error(line[:line.index(b' 0 1 "" "" 0 2048 ')]) == \
        ("missing (the record ends after 50 fields)", "exitStatus", line.index(b' 0 1 "" "" 0 2048 '))
    # A negative zero in a float field reads as 0.0, as `x + 0.0` has always made it.
    ru = _data(line.replace(b" 0.004997 ", b" -0.000000 "))["lsfRusage"]
    assert repr(ru["ru_utime"]) == "0.0" and repr(ru["ru_ismrss"]) == "-1.0"


def test_the_invalid_record_type_sample() -> None:
    lines = _lines("malformed/hpccostsim_lsf10_lsb.acct-invalid-record-type")
    results = [parse(line) for line in lines]
    assert [r.data["jobId"] if r and r.type == "JOB_FINISH" else r and r.type for r in results] == \
        [386, "INVALID", 388, None, 384, None, None, 385]
    invalid = results[1]
    assert invalid is not None and invalid.time == 1644826628.0
    assert invalid.data["unknown"] is True and invalid.data["fields"][:4] == [387, 1501, 33554450, 2]
    assert invalid.data["fields"][19] == "02"  # a bare word, kept as text
    assert lines[4].count(b'""0 0') == 1  # no space after a string: read as openlava reads it
    assert _data(lines[4])["dstCluster"] == "lsf1"


def test_the_missing_fields_sample_names_each_missing_field() -> None:
    lines = _lines("malformed/hpccostsim_lsf10_lsb.acct-missing-fields")
    assert [parse(line) for line in lines[0::2]] == [None] * 6  # "# Good record", "# Missing numGPURusages", ...
    assert _data(lines[1])["finishKVP"] == [{"key": "schedulingOverhead", "value": "0.00"}]
    errors = [_error(line) for line in lines[3::2]]
    assert errors == [
        ("missing (the record ends after 117 fields)", "numGPURusages", len(lines[3])),
        ("missing (the record ends after 118 fields)", "storageInfoC", len(lines[5])),
        ("missing (the record ends after 119 fields)", "numKVP", len(lines[7])),
        ("missing (the record ends after 120 fields)", "finishKVP[0].key", len(lines[9])),
        ("missing (the record ends after 121 fields)", "finishKVP[0].value", len(lines[11])),
    ]


def test_a_lsf_10_1_record_may_end_after_num_gpu_rusages() -> None:
    # Real LSF "10.1" files stop there (hpc-cost-simulator's not-enough-fields test data); 10.108 does not.
    cut = LSF10[0][:LSF10[0].index(b' 0 1 "schedulingOverhead"')]
    older = _data(cut.replace(b'"10.108"', b'"10.1"'))
    assert (older["numGPURusages"], older["requeueTime"]) == (0, 0) and "storageInfoC" not in older
    assert _error(cut)[:2] == ("missing (the record ends after 118 fields)", "storageInfoC")


def test_a_record_with_storage_entries_keeps_the_rest_unparsed() -> None:
    line = LSF10[0].replace(b' 0 0 1 "schedulingOverhead" "0.00"', b' 0 2 "s1" 7 1 "schedulingOverhead" "0.00"')
    d = _data(line)
    assert d["storageInfoC"] == 2 and "numKVP" not in d
    assert d["unparsed"] == ["s1", 7, 1, "schedulingOverhead", "0.00"]


LSF9 = _lines("xdmod_lsf9_accounting-logs.log")


def test_lsf9_job_finish_with_compressed_hosts_a_script_and_host_rusage() -> None:
    d = _data(LSF9[0])
    assert (d["version"], d["eventTime"], d["jobId"], d["numProcessors"], d["userName"], d["queue"]) == \
        ("9.11", 1389683139, 404717, 128, "anonuser", "regular")
    assert d["execHosts"] == [f"16*host{n}-ib" for n in (1201, 1234, 1235, 1236, 1257, 1270, 1301, 1303)]
    assert d["numExHosts"] == 8 and d["resReq"] == "span[ptile=16]" and d["outFile"] == "%J.out"
    assert '#BSUB -R "span[ptile=16]"    # run 16 MPI tasks' in d["command"]  # "" unescaped
    assert d["command"].startswith("#!/bin/tcsh;#;# LSF batch script") and d["command"].endswith("out.time;date")
    assert (d["lsfRusage"]["ru_utime"], d["lsfRusage"]["ru_stime"]) == (5793844.23, 679.06)
    assert (d["maxRMem"], d["runLimit"], d["options3"], d["avgMem"], d["runTime"]) == (10725376, 43200, 0, 8688640,
                                                                                       40368)
    # Six values per host, the host unquoted; utime and stime add up to the job's rusage.
    assert d["hostRusage"][0] == {"hostname": "host1201-ib", "mem": 1306, "swap": 0, "utime": 1287486, "stime": 242,
                                  "unparsed": [0]}
    assert len(d["hostRusage"]) == 8 and sum(h["stime"] for h in d["hostRusage"]) == 679
    assert d["networkAlloc"] == [{"networkID": "18338657682652659712", "num_window": 1}]
    assert d["affinity"] == "" and "numAllocSlots" not in d and "unparsed" not in d  # LSF 9 ends there
    assert _data(LSF9[1])["execHosts"] == ["host1", "host1", "host2", "host2", "host3", "host3", "host4", "host4"]


def test_utf8_multibyte_command() -> None:
    (line,) = _lines("xdmod_lsf9_utf8-multibyte-chars.log")
    assert _data(line)["command"] == "aàb"
    assert _data(line.replace("aàb".encode(), b"a\xe0b"))["command"] == "a\ufffdb"  # Latin-1, not UTF-8


def test_host_rusage_of_five_quoted_values_as_ibm_documents_them() -> None:
    head, tail = LSF9[0].index(b" 0 8 host1201-ib"), LSF9[0].index(b" 43200 0 8688640")
    five = LSF9[0][:head] + b' 0 2 host1201-ib 1306 0 1287486 242 "h2" 1 2 3 4' + LSF9[0][tail:]
    assert _data(five)["hostRusage"] == [
        {"hostname": "host1201-ib", "mem": 1306, "swap": 0, "utime": 1287486, "stime": 242},
        {"hostname": "h2", "mem": 1, "swap": 2, "utime": 3, "stime": 4}]
    broken = LSF9[0].replace(b"host1303-ib 1295 0 643763 67 0 43200", b"host1303-ib 1295 0 643763 43200")
    assert _error(broken)[:2] == ("neither 5 nor 6 values per entry are followed by runLimit, options3, avgMem and "
                                  "the quoted effectiveResReq", "hostRusage")


def test_openlava_job_finish() -> None:
    line = (b'"JOB_FINISH" "22" 1420000100 42 500 0 2 1420000000 0 0 1420000050 "alice" "normal" "" "" "" "head"'
            b' "/home/alice" "" "" "" "1420000000.42" 0 2 "n1" "n1" 64 1.0 "job" "sleep 50"'
            b' 0.100000 0.050000 2048 0 0 0 0 10 0 0 0 0 0 0 0 0 5 1 0 "" "" 0 2 "/bin/sh" 0 4096 0 "" ""')
    d = _data(line)
    assert (d["jobId"], d["execHosts"], d["command"], d["loginShell"], d["maxRMem"]) == (42, ["n1", "n1"], "sleep 50",
                                                                                         "/bin/sh", 4096)
    assert "timeEvent" not in d and "unparsed" not in d and len(d) == 40


@pytest.mark.parametrize("line, etype", [
    (b'"JOB_RESIZE" "10.108" 1644826549 386 0 1 "h1"', "JOB_RESIZE"),
    (b'"EVENT_ADRSV_FINISH" "10.108" 1644826549 "user1#0" 3', "EVENT_ADRSV_FINISH"),
    (b'"JOB_NEW" "22" 1644826549 386 1501', "JOB_NEW"),  # not an lsb.acct record
])
def test_other_types_in_lsb_acct_are_unknown_records(line: bytes, etype: str) -> None:
    result = parse(line)
    assert result is not None and result.type == etype and result.time == 1644826549.0
    assert result.data["unknown"] is True and result.data["fields"] == parse(line).data["fields"]  # type: ignore[union-attr]


@settings(max_examples=150)
@given(record=records("JOB_FINISH", OPENLAVA_VERSIONS + LSF_VERSIONS))
def test_job_finish_round_trips_for_openlava_and_lsf(record: tuple[bytes, dict[str, Any]]) -> None:
    line, expected = record
    assert _data(line) == expected
