"""Spooled scheduler records turned into the JSON records LavaFlow's import views read (scheduler.md §1.4).

openlava/LSF events become openlava-python `EventRecord` dicts, Grid Engine lines the
flat dicts of gridengine-accounting (`UGEAccountEntry.__dict__` for `univa82`,
`AccountEntry.to_dict()` for `gridengine`). Every key a view reads is always present,
with the value openlava's own reader gives when the log lacks it, because a missing
key is a KeyError and an HTTP 500 for the whole request on the real server.

Deliberate differences from the old clients' dicts, each one a record the real server
would otherwise fail on or store wrongly: GE `category` is spelled as the view reads
it (AccountEntry says `catagory`); `pe_taskid` is an int or null (the model field is an
IntegerField, and UGEAccountEntry's "NONE" cannot be saved in it); times follow the
line's own unit (an SGE-layout line with millisecond times is converted, where
AccountEntry would pass milliseconds as seconds); `ru_wallclock` is seconds (UGE 8.2
writes seconds; UGEAccountEntry divided them by 1000 again); LSF's compressed
`N*host` exec hosts are expanded to one entry per slot, as openlava writes them.

Speed matters (the backfill target is 40k records/s on two cores, with the parser and
LavaFlow on the same cores): a batch is decoded in one orjson call, events LavaFlow
ignores are skipped before decoding, and a JOB_FINISH is decoded only as far as its
last field LavaFlow reads. About 60k LSF 10 JOB_FINISH records/s per core.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import orjson

from parsers.lsb_events import EVENT_CODES  # openlava lsbatch.h codes (scheduler.md §2.2)

#: The import views, by envelope format (uge-accounting: by the line's layout).
OPENLAVA = "openlava"
OPENLAVA_FORMATS = frozenset({"openlava-events", "openlava-acct"})
GE_FORMAT = "uge-accounting"
GE_KINDS = {"uge": "univa82", "sge": "gridengine", "sge60": "gridengine"}

#: The `type` sent for an event openlava has no code for (LSF-only types, sent only with
#: `event_types = "all"`): LavaFlow ignores every type but 1 and 10.
NO_CODE = 0
JOB_NEW, JOB_FINISH = "JOB_NEW", "JOB_FINISH"

#: `EventRecord.__to_dict` (openlava-python lsblib.pyx): every sub-log null but the one filled.
LOG_NAMES = (
    "jobNewLog", "jobStartLog", "jobStatusLog", "sbdJobStatusLog", "jobSwitchLog", "jobMoveLog",
    "queueCtrlLog", "newDebugLog", "hostCtrlLog", "mbdStartLog", "mbdDieLog", "unfulfillLog",
    "jobFinishLog", "loadIndexLog", "migLog", "signalLog", "jobExecuteLog", "jobMsgLog", "jobMsgAckLog",
    "jobRequeueLog", "chkpntLog", "sigactLog", "jobStartAcceptLog", "jobCleanLog", "jobForceRequestLog",
    "logSwitchLog", "jobModLog", "jobAttrSetLog",
)
_NULL_LOGS: dict[str, Any] = dict.fromkeys(LOG_NAMES)

_RLIMITS_UNSET = [-1] * 11  # openlava: -1 = unlimited / not set
#: `JobNewLog.__to_dict` keys in order, with the value when the log line lacks the field (LSF
#: JOB_NEW has other fields after loginShell). userPriority -1 is openlava's "not given".
JOB_NEW_KEYS: tuple[tuple[str, Any], ...] = (
    ("jobId", 0), ("userId", 0), ("userName", ""), ("options", 0), ("options2", 0), ("numProcessors", 0),
    ("submitTime", 0), ("beginTime", 0), ("termTime", 0), ("sigValue", 0), ("chkpntPeriod", 0),
    ("restartPid", 0), ("rLimits", _RLIMITS_UNSET), ("hostSpec", ""), ("hostFactor", 0.0), ("umask", 0),
    ("queue", ""), ("resReq", ""), ("fromHost", ""), ("cwd", ""), ("chkpntDir", ""), ("inFile", ""),
    ("outFile", ""), ("errFile", ""), ("inFileSpool", ""), ("commandSpool", ""), ("jobSpoolDir", ""),
    ("subHomeDir", ""), ("jobFile", ""), ("numAskedHosts", 0), ("askedHosts", []), ("dependCond", ""),
    ("jobName", ""), ("command", ""), ("nxf", 0), ("xf", []), ("preExecCmd", ""), ("mailUser", ""),
    ("projectName", ""), ("niosPort", 0), ("maxNumProcessors", 0), ("schedHostType", ""), ("loginShell", ""),
    ("idx", 0), ("userPriority", -1),
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

#: Grid Engine fields in accounting-file order (scheduler.md §3.1, §3.2) and their types.
GE_TEXT = ("qname", "hostname", "group", "owner", "job_name")
GE_USAGE = (
    "ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt",
    "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals", "ru_nvcsw",
    "ru_nivcsw",
)
UGE_TAIL = ("job_class", "qdel_info", "maxrss", "maxpss", "submit_host", "cwd", "submit_cmd")


@dataclass(frozen=True)
class Part:
    """One request's worth: records for one import view of one cluster, as a JSON array."""

    kind: str
    cluster: str
    records: bytes
    count: int


@dataclass(frozen=True)
class Encoded:
    """A batch as LavaFlow requests, in spool order, plus what cannot be sent at all.

    `refused` (record id, reason) are records no LavaFlow view can take (another format,
    a layout the parser did not know); `cluster_error` says why no cluster name was found.
    """

    parts: tuple[Part, ...]
    refused: tuple[tuple[str, str], ...]
    cluster_error: Optional[str]
    key: str


class ClusterUnknown(Exception):
    """No cluster name: not configured, not on the record, not inferable (the message says why)."""


def decode(lines: Sequence[bytes], wanted: Optional[frozenset[str]] = None) -> list[dict[str, Any]]:
    """The envelopes worth sending, decoded in one orjson call.

    Decoding is most of the cost, so it is avoided where the bytes already tell: an
    openlava event of a type not `wanted` is skipped unread, and a JOB_FINISH is cut
    after `commandSpool`, its last field LavaFlow reads (what follows is LSF's
    extras, up to two thirds of an LSF 10 record). Both read only top-level envelope
    keys, and JSON strings cannot hold an unescaped quote, so the markers cannot come
    from a value. A cut record that lacks `maxRSwap` (a parser with another field
    order) is decoded again whole.
    """
    needles = None if wanted is None else [b',"type":' + orjson.dumps(name) + b',"data":' for name in wanted]
    kept: list[bytes] = []
    cut: list[tuple[int, bytes]] = []  # (index in kept, the whole line)
    for line in lines:
        if _OPENLAVA in line:
            if needles is not None and not any(n in line for n in needles):
                continue
            if _FINISH in line:
                short = _cut_after_command_spool(line)
                if short is not line:
                    cut.append((len(kept), line))
                    line = short
        kept.append(line)
    if not kept:
        return []
    envelopes: list[dict[str, Any]] = orjson.loads(b"[" + b",".join(kept) + b"]")
    for i, whole in cut:
        data = envelopes[i].get("data")
        if not isinstance(data, dict) or "maxRSwap" not in data:
            envelopes[i] = orjson.loads(whole)
    return envelopes


_OPENLAVA = b',"format":"openlava-'
_FINISH = b',"type":"JOB_FINISH","data":{'
_SPOOL = b',"commandSpool":"'


def _cut_after_command_spool(line: bytes) -> bytes:
    """The envelope with its data object closed after the commandSpool string; `line` itself if not found."""
    at = line.find(_SPOOL)
    if at < 0:
        return line
    end = at + len(_SPOOL)
    while True:
        end = line.find(b'"', end)
        if end < 0:
            return line
        start = end
        while line[start - 1] == 0x5C:  # backslashes before the quote: an odd count escapes it
            start -= 1
        if (end - start) % 2 == 0:
            return line[:end + 1] + b"}}"
        end += 1


def encode(envelopes: list[dict[str, Any]], cluster: Optional[str], wanted: Optional[frozenset[str]],
           infer: Callable[[], str], key: str = "") -> Encoded:
    """LavaFlow requests for `envelopes`; pure but for `infer`, called only for a record without a cluster.

    `cluster` is the configured name (it wins); `wanted` the openlava event types to keep
    (None = all); records filtered out are in no part and count as delivered.
    """
    groups: list[tuple[str, str, list[dict[str, Any]]]] = []
    refused: list[tuple[str, str]] = []
    last: Optional[tuple[str, str]] = None
    current: list[dict[str, Any]] = []
    for env in envelopes:
        fmt = env.get("format")
        data = env.get("data")
        if not isinstance(data, dict):
            refused.append((str(env.get("id")), "the record has no data object"))
            continue
        if fmt in OPENLAVA_FORMATS:
            name = env.get("type")
            if wanted is not None and name not in wanted:
                continue
            kind = OPENLAVA
            if data.get("unknown") and name in (JOB_NEW, JOB_FINISH):
                refused.append((str(env.get("id")), f"the parser could not read this {name} record "
                                                    f"(version {data.get('version')!r}); LavaFlow needs its fields"))
                continue
            rec = openlava_record(str(name), data)
        elif fmt == GE_FORMAT:
            layout = data.get("layout")
            ge_kind = GE_KINDS.get(str(layout))
            if ge_kind is None:
                refused.append((str(env.get("id")), f"no LavaFlow import view takes Grid Engine layout {layout!r}"))
                continue
            kind = ge_kind
            rec = univa82_record(data) if kind == "univa82" else gridengine_record(data)
        else:
            refused.append((str(env.get("id")), f"LavaFlow imports openlava-events, openlava-acct and "
                                                f"uge-accounting records, not format {fmt!r}"))
            continue
        where = cluster or env.get("cluster")
        if not where:
            try:
                where = infer()
            except ClusterUnknown as exc:
                return Encoded((), (), str(exc), key)
        if (kind, where) != last:
            last, current = (kind, where), []
            groups.append((kind, where, current))
        current.append(rec)
    parts = tuple(Part(kind, where, orjson.dumps(recs), len(recs)) for kind, where, recs in groups)
    return Encoded(parts, tuple(refused), None, key)


def openlava_record(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The openlava-python EventRecord dict of one event (jobNewLog/jobFinishLog filled for 1 and 10).

    `data` (a freshly decoded record, owned by the caller) may be reused as the sub-log.
    """
    event_time = data.get("eventTime", 0)
    record = {"version": data.get("version", ""), "type": EVENT_CODES.get(name, NO_CODE), "eventTime": event_time}
    logs = dict(_NULL_LOGS)
    if name == JOB_FINISH:
        logs["jobFinishLog"] = job_finish_log(data, event_time)
    elif name == JOB_NEW:
        get = data.get
        log = logs["jobNewLog"] = {k: get(k, default) for k, default in JOB_NEW_KEYS}
        _clip(log, "jobName")
        _clip(log, "command")
    record["eventLog"] = logs
    return record


#: The jobFinishLog keys a JOB_FINISH record carries itself (endTime and cpuTime are derived).
_FINISH_FROM_DATA = frozenset(k for k, _ in JOB_FINISH_KEYS) - {"endTime", "cpuTime"}


def job_finish_log(data: dict[str, Any], event_time: Any) -> dict[str, Any]:
    """`jobFinishLog` as openlava's reader fills it: endTime = eventTime, cpuTime = max(0, utime + stime).

    The usual record has every key: then `data` itself becomes the log, its other keys
    (version, eventTime, LSF's timeEvent) dropped, which costs a fifth of building it
    anew. Keys are in the parser's order then; LavaFlow reads them by name.
    """
    keys = data.keys()
    if _FINISH_FROM_DATA <= keys:
        for extra in keys - _FINISH_FROM_DATA:
            del data[extra]
        log = data
    else:
        get = data.get
        log = {k: get(k, default) for k, default in JOB_FINISH_KEYS}
    ru = log["lsfRusage"]
    if not isinstance(ru, dict) or len(ru) != len(RUSAGE_KEYS):
        given = ru if isinstance(ru, dict) else {}
        ru = log["lsfRusage"] = {k: given.get(k, -1.0) for k in RUSAGE_KEYS}
    _clip(log, "jobName")
    log["endTime"] = event_time
    try:
        log["cpuTime"] = max(0.0, ru["ru_utime"] + ru["ru_stime"])
    except (KeyError, TypeError):
        log["cpuTime"] = 0.0
    hosts = log["execHosts"]
    if isinstance(hosts, list) and any("*" in h for h in hosts if isinstance(h, str)):
        log["execHosts"] = hosts = expand_hosts(hosts)
        log["numExHosts"] = len(hosts)
    return log


#: LavaFlow's CharField(max_length=512) for a job name (both logs) and a JOB_NEW command. A
#: longer value fails the import on a strict database (PostgreSQL, MySQL strict mode); openlava's
#: own reader refused such a record outright (copyQStr, MAX_CMD_DESC_LEN), so the old importer
#: never sent one. JOB_FINISH's command goes to a TextField and is sent whole.
NAME_MAX = 512


def _clip(log: dict[str, Any], key: str) -> None:
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


def _times(data: dict[str, Any], name: str, ms: bool) -> tuple[float, int]:
    value = data.get(name) or 0
    return (value / 1000, value) if ms else (float(value), value * 1000)


def univa82_record(data: dict[str, Any]) -> dict[str, Any]:
    """`UGEAccountEntry.__dict__`: float-second times beside their `*_milliseconds`, text as written."""
    get = data.get
    ms = get("time_unit") != "s"
    rec: dict[str, Any] = {k: get(k, "") for k in GE_TEXT}
    rec["job_number"] = get("job_number", 0)
    rec["account"] = get("account", "")
    rec["priority"] = get("priority", 0)
    for name in ("submission_time", "start_time", "end_time"):
        rec[name], rec[name + "_milliseconds"] = _times(data, name, ms)
    rec["failed"] = get("failed", 0)
    rec["exit_status"] = get("exit_status", 0)
    wallclock = get("ru_wallclock", 0.0)
    rec["ru_wallclock"] = wallclock
    rec["ru_wallclock_milliseconds"] = int(round(wallclock * 1000)) if isinstance(wallclock, (int, float)) else 0
    for name in GE_USAGE:
        rec[name] = get(name, 0.0)
    rec["project"] = get("project", "NONE")
    rec["department"] = get("department", "NONE")
    rec["granted_pe"] = get("granted_pe", "NONE")
    _ge_usage_tail(rec, data)
    rec["ar_submission_time"], rec["ar_submission_time_milliseconds"] = _times(data, "ar_submission_time", ms)
    for name in UGE_TAIL:
        rec[name] = get(name, 0 if name in ("maxrss", "maxpss") else "NONE")
    return rec


def gridengine_record(data: dict[str, Any]) -> dict[str, Any]:
    """`AccountEntry.to_dict()` with `category` spelled as the view reads it: "NONE" -> null, int seconds."""
    get = data.get
    ms = get("time_unit") == "ms"
    rec: dict[str, Any] = {k: get(k, "") for k in GE_TEXT}
    rec["job_number"] = get("job_number", 0)
    rec["account"] = get("account", "")
    rec["priority"] = get("priority", 0)
    for name in ("submission_time", "start_time", "end_time"):
        value = get(name) or 0
        rec[name] = value // 1000 if ms else value
    rec["failed"] = get("failed", 0)
    rec["exit_status"] = get("exit_status", 0)
    rec["ru_wallclock"] = get("ru_wallclock", 0.0)
    for name in GE_USAGE:
        rec[name] = get(name, 0.0)
    for name in ("project", "department", "granted_pe"):
        rec[name] = _none(get(name))
    _ge_usage_tail(rec, data)
    rec["category"] = _none(rec["category"])
    value = get("ar_submission_time") or 0
    rec["ar_submission_time"] = value // 1000 if ms else value
    return rec


def _ge_usage_tail(rec: dict[str, Any], data: dict[str, Any]) -> None:
    get = data.get
    rec["slots"] = get("slots", 0)
    rec["task_number"] = get("task_number", 0)
    rec["cpu"] = get("cpu", 0.0)
    rec["mem"] = get("mem", 0.0)
    rec["io"] = get("io", 0.0)
    rec["category"] = get("category", "NONE")
    rec["iow"] = get("iow", 0.0)
    rec["pe_taskid"] = _task_id(get("pe_taskid"))
    rec["maxvmem"] = get("maxvmem", 0.0)
    rec["arid"] = get("arid", 0)


def _none(value: Any) -> Any:
    return None if value in (None, "NONE") else value


def _task_id(value: Any) -> Optional[int]:
    """pe_taskid as LavaFlow's IntegerField(null=True) can hold it: an int, or null for "NONE"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


