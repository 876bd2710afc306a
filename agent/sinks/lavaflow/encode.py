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
LavaFlow on the same cores): events LavaFlow ignores are skipped before decoding, a
JOB_FINISH is decoded only as far as its last field LavaFlow reads, and its record is
spliced from the spooled bytes rather than rebuilt and dumped (job_finish.py). About
100k LSF 10 JOB_FINISH records/s per core (60k when every record was a dict).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import orjson

from parsers.lsb_events import EVENT_CODES  # openlava lsbatch.h codes (scheduler.md §2.2)

from .gridengine import GE_KINDS, gridengine_record, univa82_record
from .job_finish import LOG_NAMES, clip, finish_record, job_finish_log

#: The import views, by envelope format (uge-accounting: by the line's layout).
OPENLAVA = "openlava"
OPENLAVA_FORMATS = frozenset({"openlava-events", "openlava-acct"})
GE_FORMAT = "uge-accounting"

#: The `type` sent for an event openlava has no code for (LSF-only types, sent only with
#: `event_types = "all"`): LavaFlow ignores every type but 1 and 10.
NO_CODE = 0
JOB_NEW, JOB_FINISH = "JOB_NEW", "JOB_FINISH"

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


#: A JOB_FINISH spliced from its line: (its EventRecord's bytes, the line, where its `,"type":` is).
Spliced = tuple[bytes, bytes, int]


def encode_lines(lines: Sequence[bytes], cluster: Optional[str], wanted: Optional[frozenset[str]],
                 infer: Callable[[], str], key: str = "") -> Encoded:
    """`encode(decode(lines))`, but each JOB_FINISH that allows it is spliced from its line (job_finish.py)."""
    needles = _needles(wanted)
    items: list[Union[dict[str, Any], Spliced]] = []
    for line in lines:
        item = _read(line, needles, True)
        if item is not None:
            items.append(item)
    return encode(items, cluster, wanted, infer, key)


def decode(lines: Sequence[bytes], wanted: Optional[frozenset[str]] = None) -> list[dict[str, Any]]:
    """The envelopes worth sending, each JOB_FINISH decoded only as far as LavaFlow reads it."""
    needles = _needles(wanted)
    return [env for env in (_read(line, needles, False) for line in lines) if isinstance(env, dict)]


_OPENLAVA = b',"format":"openlava-'
_TYPE = b',"type":'
_FINISH = b',"type":"JOB_FINISH","data":{'
_SPOOL = b',"commandSpool":"'


def _needles(wanted: Optional[frozenset[str]]) -> Optional[list[bytes]]:
    return None if wanted is None else [_TYPE + orjson.dumps(name) + b',"data":' for name in wanted]


def _read(line: bytes, needles: Optional[list[bytes]], splice: bool) -> Union[None, dict[str, Any], Spliced]:
    """One spooled line: None if not wanted, else its envelope, or with `splice` the JOB_FINISH spliced.

    Decoding is most of the cost, so it is avoided where the bytes already tell: an
    openlava event of a type not `wanted` is skipped unread, and of a JOB_FINISH only
    the data object up to `commandSpool` is decoded, its last field LavaFlow reads (what
    follows is LSF's extras, up to two thirds of an LSF 10 record); the envelope's other
    keys only when the record is not spliced. The markers are top-level envelope keys
    (its `type` is its first `,"type":`, the keys before it hold scalars) and JSON
    strings cannot hold an unescaped quote, so they cannot come from a value. A record
    whose data lacks `maxRSwap` after the cut (a parser with another field order) is
    decoded whole.
    """
    if _OPENLAVA not in line:
        return _object(line)
    at = line.find(_TYPE)
    if needles is not None:
        for needle in needles:
            if line.startswith(needle, at):
                break
        else:
            return None
    if not line.startswith(_FINISH, at):
        return _object(line)
    end = _command_spool_end(line, at)
    if end < 0:
        return _object(line)
    start = at + len(_FINISH)
    data = orjson.loads(line[start - 1:end] + b"}")
    if splice:
        record = finish_record(line, start, end, data)
        if record is not None:
            return record, line, at
    if "maxRSwap" not in data:
        return _object(line)
    env: dict[str, Any] = orjson.loads(line[:at] + b"}")
    env["type"], env["data"] = JOB_FINISH, data
    return env


def _object(line: bytes) -> dict[str, Any]:
    envelope: dict[str, Any] = orjson.loads(line)
    return envelope


def _command_spool_end(line: bytes, at: int) -> int:
    """Where the commandSpool string after `at` ends (past its closing quote); -1 if there is none."""
    end = line.find(_SPOOL, at)
    if end < 0:
        return -1
    end += len(_SPOOL)
    while True:
        end = line.find(b'"', end)
        if end < 0:
            return -1
        start = end
        while line[start - 1] == 0x5C:  # backslashes before the quote: an odd count escapes it
            start -= 1
        if (end - start) % 2 == 0:
            return end + 1
        end += 1


#: A record to send: a dict to dump, or bytes already encoded.
Record = Union[bytes, dict[str, Any]]


def encode(envelopes: Sequence[Union[dict[str, Any], Spliced]], cluster: Optional[str],
           wanted: Optional[frozenset[str]], infer: Callable[[], str], key: str = "") -> Encoded:
    """LavaFlow requests for `envelopes`; pure but for `infer`, called only for a record without a cluster.

    `cluster` is the configured name (it wins); `wanted` the openlava event types to keep
    (None = all); records filtered out are in no part and count as delivered.
    """
    groups: list[tuple[str, str, list[Record]]] = []
    refused: list[tuple[str, str]] = []
    last_kind, last_where = "", ""
    current: list[Record] = []
    for env in envelopes:
        if isinstance(env, tuple):
            rec: Record = env[0]
            kind = OPENLAVA
            where = cluster or orjson.loads(env[1][:env[2]] + b"}").get("cluster")  # the envelope but type, data
        else:
            data = env.get("data")
            fmt = env.get("format")
            if not isinstance(data, dict):
                refused.append((str(env.get("id")), "the record has no data object"))
                continue
            if fmt in OPENLAVA_FORMATS:
                name = env.get("type")
                if wanted is not None and name not in wanted:
                    continue
                kind = OPENLAVA
                if data.get("unknown") and name in (JOB_NEW, JOB_FINISH):
                    refused.append((str(env.get("id")), f"the parser could not read this {name} record (version "
                                                        f"{data.get('version')!r}); LavaFlow needs its fields"))
                    continue
                rec = openlava_record(str(name), data)
            elif fmt == GE_FORMAT:
                layout = data.get("layout")
                ge_kind = GE_KINDS.get(str(layout))
                if ge_kind is None:
                    refused.append((str(env.get("id")),
                                    f"no LavaFlow import view takes Grid Engine layout {layout!r}"))
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
        if kind != last_kind or where != last_where:
            last_kind, last_where, current = kind, where, []
            groups.append((kind, where, current))
        current.append(rec)
    parts = tuple(Part(kind, where, _array(recs), len(recs)) for kind, where, recs in groups)
    return Encoded(parts, tuple(refused), None, key)


def _array(records: list[Record]) -> bytes:
    """The JSON array of `records` (those already encoded are joined as they are, or framed in one orjson call)."""
    encoded = [r for r in records if type(r) is bytes]
    if len(encoded) == len(records):
        return b"[" + b",".join(encoded) + b"]"
    return orjson.dumps([orjson.Fragment(r) if type(r) is bytes else r for r in records])


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
        clip(log, "jobName")
        clip(log, "command")
    record["eventLog"] = logs
    return record
