"""Scheduler records in the shapes the parsers produce (contract-issue3), as spooled envelope lines.

The values are those of real lines: the JOB_FINISH is the LSF 10 sample's first lsb.acct
record, the UGE and SGE rows follow the gridengine-accounting and XDMoD samples, so a
test reads like the file an operator has.
"""
from __future__ import annotations

from typing import Any, Optional

from agent.envelope import EnvelopeEncoder, file_record_id
from agent.sinks.base import Batch
from parsers import Parsed

RUSAGE_NAMES = ("ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt",
                "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_ioch", "ru_msgsnd", "ru_msgrcv",
                "ru_nsignals", "ru_nvcsw", "ru_nivcsw", "ru_exutime")


def rusage(utime: float = 0.46, stime: float = 0.11) -> dict[str, float]:
    return {name: utime if name == "ru_utime" else stime if name == "ru_stime" else -1.0 for name in RUSAGE_NAMES}


def job_finish(job_id: int = 2707, **changes: Any) -> dict[str, Any]:
    """An LSF 10.1 JOB_FINISH as parsers/openlava_acct.py gives it (timeEvent and extras included)."""
    data: dict[str, Any] = {
        "version": "10.108", "eventTime": 1615412170, "jobId": job_id, "userId": 1001, "options": 33554450,
        "numProcessors": 1, "submitTime": 1615412160, "beginTime": 0, "termTime": 0, "startTime": 1615412161,
        "userName": "alice", "queue": "normal", "resReq": "", "dependCond": "", "preExecCmd": "",
        "fromHost": "ip-10-0-1-23", "cwd": "$HOME", "inFile": "", "outFile": "", "errFile": "",
        "jobFile": f"1615412160.{job_id}", "numAskedHosts": 0, "askedHosts": [], "numExHosts": 1,
        "execHosts": ["ip-10-0-1-46"], "jStatus": 64, "hostFactor": 1.0, "jobName": "sleep 5",
        "command": "sleep 5", "lsfRusage": rusage(), "mailUser": "", "projectName": "default", "exitStatus": 0,
        "maxNumProcessors": 1, "loginShell": "", "timeEvent": 0, "idx": 0, "maxRMem": 2048, "maxRSwap": 4096,
        "inFileSpool": "", "commandSpool": "", "exitInfo": 0, "unparsed": ["", 0, "default"],
    }
    data.update(changes)
    return data


def job_new(job_id: int = 2707, **changes: Any) -> dict[str, Any]:
    """An LSF 10 JOB_NEW: the openlava fields up to loginShell, the rest left unparsed."""
    data: dict[str, Any] = {
        "version": "10.108", "eventTime": 1615412160, "jobId": job_id, "userId": 1001, "options": 33554450,
        "numProcessors": 1, "submitTime": 1615412160, "beginTime": 0, "termTime": 0, "sigValue": 0,
        "chkpntPeriod": 0, "restartPid": 0, "userName": "alice", "rLimits": [-1] * 11, "hostSpec": "",
        "hostFactor": 1.0, "umask": 18, "queue": "normal", "resReq": "", "fromHost": "ip-10-0-1-23",
        "cwd": "$HOME", "chkpntDir": "", "inFile": "", "outFile": "", "errFile": "", "subHomeDir": "/home/alice",
        "jobFile": f"1615412160.{job_id}", "numAskedHosts": 0, "askedHosts": [], "dependCond": "",
        "preExecCmd": "", "jobName": "sleep 5", "command": "sleep 5", "nxf": 0, "xf": [], "mailUser": "",
        "projectName": "default", "maxNumProcessors": 1, "schedHostType": "", "loginShell": "",
        "unparsed": ["", 0, -1],
    }
    data.update(changes)
    return data


def unknown_event() -> dict[str, Any]:
    """An LSF-only event (JOB_FORWARD) whose layout the parser does not know."""
    return {"version": "10.108", "eventTime": 1615412160, "unknown": True, "fields": [2707, "cluster2", 1]}


def uge_row(job_number: int = 4, **changes: Any) -> dict[str, Any]:
    """A UGE 8.2 line (layout "uge", millisecond times) as parsers/uge_accounting.py gives it."""
    data: dict[str, Any] = {
        "qname": "all.q", "hostname": "comp04", "group": "users", "owner": "irvined", "job_name": "STDIN",
        "job_number": job_number, "account": "sge", "priority": 0, "submission_time": 1416358463256,
        "start_time": 1416358463645, "end_time": 1416358473446, "failed": 0, "exit_status": 0,
        "ru_wallclock": 9.801, "ru_utime": 0.011, "ru_stime": 0.024, "ru_maxrss": 3212.0, "ru_ixrss": 0.0,
        "ru_ismrss": 0.0, "ru_idrss": 0.0, "ru_isrss": 0.0, "ru_minflt": 1478.0, "ru_majflt": 0.0, "ru_nswap": 0.0,
        "ru_inblock": 0.0, "ru_oublock": 16.0, "ru_msgsnd": 0.0, "ru_msgrcv": 0.0, "ru_nsignals": 0.0,
        "ru_nvcsw": 65.0, "ru_nivcsw": 7.0, "project": "NONE", "department": "defaultdepartment",
        "granted_pe": "NONE", "slots": 1, "task_number": 0, "cpu": 0.035, "mem": 0.0, "io": 0.0,
        "category": "NONE", "iow": 0.0, "pe_taskid": "NONE", "maxvmem": 0.0, "arid": 0, "ar_submission_time": 0,
        "job_class": "NONE", "qdel_info": "NONE", "maxrss": 0, "maxpss": 0, "submit_host": "master",
        "cwd": "/home/irvined", "submit_cmd": "qsub", "time_unit": "ms", "layout": "uge",
    }
    data.update(changes)
    return data


def sge_row(job_number: int = 2, **changes: Any) -> dict[str, Any]:
    """An SGE 6.2 line (layout "sge", second times)."""
    data = {k: v for k, v in uge_row(job_number).items()
            if k not in ("job_class", "qdel_info", "maxrss", "maxpss", "submit_host", "cwd", "submit_cmd")}
    data.update({"submission_time": 1416358463, "start_time": 1416358464, "end_time": 1416358473,
                 "ru_wallclock": 9.0, "project": "NONE", "category": "-l h_rt=3600", "pe_taskid": "NONE",
                 "time_unit": "s", "layout": "sge"})
    data.update(changes)
    return data


def envelope(data: dict[str, Any], type: str = "JOB_FINISH", fmt: str = "openlava-acct",
             cluster: Optional[str] = "hpc1", offset: int = 0, source: str = "acct") -> bytes:
    enc = EnvelopeEncoder(source, fmt, "headnode1", cluster)
    rid = file_record_id(source, "fp1", offset, f"{type}{offset}".encode())
    return enc.encode(rid, Parsed(type, float(data.get("eventTime", 0)), data))


def finishes(n: int, first: int = 1, cluster: Optional[str] = "hpc1", **changes: Any) -> list[bytes]:
    """`n` JOB_FINISH records of distinct jobs (job ids first..first+n-1)."""
    return [envelope(job_finish(first + i, **changes), cluster=cluster, offset=(first + i) * 1000)
            for i in range(n)]


def batch(*lines: bytes) -> Batch:
    return Batch(list(lines))
