"""The JOB_FINISH EventRecord LavaFlow's openlava view reads: as a dict, and cut out of its spooled line.

`job_finish_log` fills openlava-python's `jobFinishLog` as openlava's reader does (scheduler.md
§1.4). `finish_record` gives the same record's bytes without building or dumping a dict: the
data object of an LSF or openlava JOB_FINISH already is the jobFinishLog but for three keys
LavaFlow does not get (version and eventTime, which the record carries, and LSF's timeEvent)
and two it derives (endTime, cpuTime), so once the decoded record is checked to be one
`job_finish_log` would pass through unchanged, the log is the line's bytes around the dropped
keys, set in a template of the 27 null sub-logs. That halves the encoder's cost per record.

Why the spans are exact: spooled lines are orjson's output of the parser's dict, hence
canonical (no spaces, unique keys, every value as orjson writes it again after reading it),
and `,"` cannot occur inside a JSON string (its quote would be escaped), only before an
object key or a list's next string. A record failing any check goes the dict path.
"""
from __future__ import annotations

from typing import Any, Optional

import orjson

from parsers.lsb_events import EVENT_CODES  # openlava lsbatch.h codes (scheduler.md §2.2)

#: `EventRecord.__to_dict` (openlava-python lsblib.pyx): every sub-log null but the one filled.
LOG_NAMES = (
    "jobNewLog", "jobStartLog", "jobStatusLog", "sbdJobStatusLog", "jobSwitchLog", "jobMoveLog",
    "queueCtrlLog", "newDebugLog", "hostCtrlLog", "mbdStartLog", "mbdDieLog", "unfulfillLog",
    "jobFinishLog", "loadIndexLog", "migLog", "signalLog", "jobExecuteLog", "jobMsgLog", "jobMsgAckLog",
    "jobRequeueLog", "chkpntLog", "sigactLog", "jobStartAcceptLog", "jobCleanLog", "jobForceRequestLog",
    "logSwitchLog", "jobModLog", "jobAttrSetLog",
)
RUSAGE_KEYS = (
    "ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt",
    "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_ioch", "ru_msgsnd", "ru_msgrcv", "ru_nsignals",
    "ru_nvcsw", "ru_nivcsw", "ru_exutime",
)
#: `JobFinishLog.__to_dict` keys in order; endTime, cpuTime and lsfRusage are filled after.
JOB_FINISH_KEYS: tuple[tuple[str, Any], ...] = (
    ("jobId", 0), ("userId", 0), ("userName", ""), ("options", 0), ("numProcessors", 0), ("jStatus", 0),
    ("submitTime", 0), ("beginTime", 0), ("termTime", 0), ("startTime", 0), ("endTime", 0), ("queue", ""),
    ("resReq", ""), ("fromHost", ""), ("cwd", ""), ("inFile", ""), ("outFile", ""), ("errFile", ""),
    ("inFileSpool", ""), ("commandSpool", ""), ("jobFile", ""), ("numAskedHosts", 0), ("askedHosts", []),
    ("hostFactor", 0.0), ("numExHosts", 0), ("execHosts", []), ("cpuTime", 0.0), ("jobName", ""),
    ("command", ""), ("lsfRusage", None), ("dependCond", ""), ("preExecCmd", ""), ("mailUser", ""),
    ("projectName", ""), ("exitStatus", 0), ("maxNumProcessors", 0), ("loginShell", ""), ("idx", 0),
    ("maxRMem", 0), ("maxRSwap", 0),
)
#: The jobFinishLog keys a JOB_FINISH record carries itself (endTime and cpuTime are derived).
FROM_DATA = frozenset(k for k, _ in JOB_FINISH_KEYS) - {"endTime", "cpuTime"}

#: LavaFlow's CharField(max_length=512) for a job name (both logs) and a JOB_NEW command. A
#: longer value fails the import on a strict database (PostgreSQL, MySQL strict mode); openlava's
#: own reader refused such a record outright (copyQStr, MAX_CMD_DESC_LEN), so the old importer
#: never sent one. JOB_FINISH's command goes to a TextField and is sent whole.
NAME_MAX = 512


def job_finish_log(data: dict[str, Any], event_time: Any) -> dict[str, Any]:
    """`jobFinishLog` as openlava's reader fills it: endTime = eventTime, cpuTime = max(0, utime + stime).

    The usual record has every key: then `data` itself becomes the log, its other keys
    (version, eventTime, LSF's timeEvent) dropped, which costs a fifth of building it
    anew. Keys are in the parser's order then; LavaFlow reads them by name.
    """
    keys = data.keys()
    if FROM_DATA <= keys:
        for extra in keys - FROM_DATA:
            del data[extra]
        log = data
    else:
        get = data.get
        log = {k: get(k, default) for k, default in JOB_FINISH_KEYS}
    ru = log["lsfRusage"]
    if not isinstance(ru, dict) or len(ru) != len(RUSAGE_KEYS):
        given = ru if isinstance(ru, dict) else {}
        ru = log["lsfRusage"] = {k: given.get(k, -1.0) for k in RUSAGE_KEYS}
    clip(log, "jobName")
    log["endTime"] = event_time
    log["cpuTime"] = _cpu_time(ru)
    hosts = log["execHosts"]
    if isinstance(hosts, list) and any("*" in h for h in hosts if isinstance(h, str)):
        log["execHosts"] = hosts = expand_hosts(hosts)
        log["numExHosts"] = len(hosts)
    return log


def _cpu_time(ru: dict[str, Any]) -> Any:
    try:
        return max(0.0, ru["ru_utime"] + ru["ru_stime"])
    except (KeyError, TypeError):
        return 0.0


def clip(log: dict[str, Any], key: str) -> None:
    value = log.get(key)
    if isinstance(value, str) and len(value) > NAME_MAX:
        log[key] = value[:NAME_MAX]


def expand_hosts(hosts: list[Any]) -> list[Any]:
    """LSF's `16*node1` (SHORT_EVENTFILE) as openlava writes it: the host once per slot."""
    out: list[Any] = []
    for host in hosts:
        count, star, name = host.partition("*") if isinstance(host, str) else ("", "", host)
        if star and count.isdigit() and name:
            out.extend([name] * int(count))
        else:
            out.append(host)
    return out


#: The data keys in the parsers' order (parsers/lsb_job_finish.py: openlava's, LSF's with timeEvent).
_OPENLAVA_ORDER = [
    "version", "eventTime", "jobId", "userId", "options", "numProcessors", "submitTime", "beginTime", "termTime",
    "startTime", "userName", "queue", "resReq", "dependCond", "preExecCmd", "fromHost", "cwd", "inFile", "outFile",
    "errFile", "jobFile", "numAskedHosts", "askedHosts", "numExHosts", "execHosts", "jStatus", "hostFactor",
    "jobName", "command", "lsfRusage", "mailUser", "projectName", "exitStatus", "maxNumProcessors", "loginShell",
    "idx", "maxRMem", "maxRSwap", "inFileSpool", "commandSpool",
]
_LSF_ORDER = [*_OPENLAVA_ORDER[:35], "timeEvent", *_OPENLAVA_ORDER[35:]]
_VERSION, _EVENT_TIME, _TIME_EVENT = b'"version":', b',"eventTime":', b',"timeEvent":'
_KEY = b',"'
_SCALARS = (str, int, float)
_AT = LOG_NAMES.index("jobFinishLog")
#: The EventRecord around the version, eventTime and jobFinishLog that are spliced in.
_TYPE = b',"type":%d,"eventTime":' % EVENT_CODES["JOB_FINISH"]
_OPEN = b',"eventLog":{' + b"".join(b'"%s":null,' % n.encode() for n in LOG_NAMES[:_AT]) + b'"jobFinishLog":{'
_CLOSE = b"}" + b"".join(b',"%s":null' % n.encode() for n in LOG_NAMES[_AT + 1:]) + b"}}"


def finish_record(line: bytes, at: int, end: int, data: dict[str, Any]) -> Optional[bytes]:
    """The EventRecord of the JOB_FINISH in `line` as `orjson.dumps(openlava_record(...))` gives it, or None.

    `at` is where the data object's first key starts, `end` where its commandSpool string
    ends (the rest is not sent), `data` the object decoded from `line[:end]`. None: only
    the dict path knows what to send (a key missing or unknown, a value it changes).
    """
    keys = list(data)
    lsf = len(keys) == len(_LSF_ORDER)
    if keys != (_LSF_ORDER if lsf else _OPENLAVA_ORDER):
        return None
    ru, name, hosts = data["lsfRusage"], data["jobName"], data["execHosts"]
    if (type(data["version"]) is not str or type(data["eventTime"]) is not int or type(ru) is not dict
            or len(ru) != len(RUSAGE_KEYS) or (type(name) is str and len(name) > NAME_MAX)):
        return None
    if type(hosts) is list:
        try:
            if "*" in "".join(hosts):
                return None  # compressed hosts are expanded
        except TypeError:
            return None
    # version and eventTime come first, both scalars: the next `,"` after each is the next key
    version_end = line.find(_KEY, at, end)
    if not line.startswith(_VERSION, at) or version_end < 0 or not line.startswith(_EVENT_TIME, version_end):
        return None
    time_at = version_end + len(_EVENT_TIME)
    first = line.find(_KEY, time_at, end)
    if first < 0:
        return None
    if lsf:
        # The last `,"timeEvent":` with no brace after it is the top-level key: one in an
        # object would have that object's closing brace after it, before commandSpool.
        dropped = line.rfind(_TIME_EVENT, first, end)
        following = line.find(_KEY, dropped + len(_TIME_EVENT), end)  # idx, after timeEvent's scalar
        if (dropped < 0 or following < 0 or line.find(b"}", dropped, end) >= 0
                or type(data["timeEvent"]) not in _SCALARS):
            return None
        head, tail = line[first + 1:dropped], line[following:end]
    else:
        head, tail = line[first + 1:end], b""
    event_time = line[time_at:first]
    return b"".join((b'{"version":', line[at + len(_VERSION):version_end], _TYPE, event_time, _OPEN, head, tail,
                     b',"endTime":', event_time, b',"cpuTime":', orjson.dumps(_cpu_time(ru)), _CLOSE))
