"""LavaFlow's import views over in-memory tables, as lavaFlow/views.py and models.py define them.

The part of the LavaFlow double (tests/doubles/lavaflow.py) that decides, record by
record, what the real server stores and where it fails; the HTTP side, keys and
fault injection live there.

Fast enough for the benchmark's million records: a view reads a group of fields in one
C call and checks them in one more (ints sum to an int, floats sum without a TypeError,
texts hold no None), going value by value only when a value is not of the usual type,
so every value refused is refused as before. A job row is a (user, submit host) tuple
and attempts hold tuples, not lists: fewer objects for the garbage collector to walk
(lavaflow.py also holds it off while a request is imported).
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, Callable, Optional, cast

#: views.OPENLAVA_JOB_STATES: jStatus -> (friendly name, exited cleanly = JOB_STAT_DONE).
OPENLAVA_JOB_STATES = {0x00: "Null", 0x01: "Pending", 0x02: "Held", 0x04: "Running", 0x08: "Suspended by system",
                       0x10: "Suspended by user", 0x20: "Exited", 0x40: "Completed", 0x80: "Process Completed",
                       0x100: "Process Error", 0x200: "Waiting for execution", 0x10000: "Unknown"}
#: The `failed` codes both GE views know (any other one is a KeyError: 500).
GE_FAILED_CODES = frozenset([0, 1, 3, 4, *range(6, 15), *range(16, 22), *range(24, 39), 100])
KINDS = ("openlava", "gridengine", "univa82")
RUSAGE = ("ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt",
          "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_ioch", "ru_msgsnd", "ru_msgrcv", "ru_nsignals",
          "ru_nvcsw", "ru_nivcsw", "ru_exutime")
#: The ru_* a GE view reads (not ru_ismrss, ru_ioch, ru_exutime).
GE_RUSAGE = ("ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt",
             "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals", "ru_nvcsw", "ru_nivcsw")


class _Integrity(Exception):
    """What the database refuses: NULL in a NOT NULL column, a unique key taken by another row."""


def _dj_int(v: Any) -> int:
    """An IntegerField's get_prep_value: int(value); NULL is refused by the NOT NULL column."""
    if type(v) is int:
        return v
    if v is None:
        raise _Integrity("NOT NULL")
    return int(v)


def _dj_float(v: Any) -> float:
    if v is None:
        raise _Integrity("NOT NULL")
    return float(v)


def _text(v: Any) -> Any:
    if v is None:
        raise _Integrity("NOT NULL")
    return v


def _fits(v: Any, max_length: int) -> None:
    """A CharField(max_length) on a strict database (PostgreSQL, MySQL strict mode): longer is an error."""
    if isinstance(v, str) and len(v) > max_length:
        raise _Integrity(f"value too long for character varying({max_length})")


#: Seconds utcfromtimestamp() certainly takes (years 1970 to 9999); others are tried.
_EPOCH, _YEAR_9999_END = 0, 253402300799


def _options(mask: Any) -> None:
    """OpenLavaSubmitOption.get_status_list: `key & mask` over the option bits (a TypeError unless an int)."""
    _ = 1 & mask


def _times(*values: Any) -> None:
    """The models' save(): utcfromtimestamp() of each time as given (a str or year > 9999 fails).

    The usual times, ints from 1970 to 9999, are passed in one go."""
    try:
        if type(sum(values)) is int and min(values) >= _EPOCH and max(values) <= _YEAR_9999_END:
            return
    except TypeError:
        pass
    for v in values:
        datetime.fromtimestamp(v, timezone.utc)


def _all_ints(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """`_dj_int` of each value; ints (the sum of ints is an int, of anything else not) as they are."""
    try:
        if type(sum(values)) is int:
            return values
    except TypeError:
        pass
    return tuple(map(_dj_int, values))


def _all_floats(values: tuple[Any, ...]) -> None:
    """`_dj_float` of each value; numbers (which sum without a TypeError) as they are."""
    try:
        sum(values)
    except TypeError:
        for v in values:
            _dj_float(v)


def _not_null(iterable: Any) -> tuple[Any, ...]:
    """`iterable` iterated as the view's loop does, each value NOT NULL."""
    values = tuple(iterable)
    if None in values:
        raise _Integrity("NOT NULL")
    return values


class Fields:
    """Keys a view reads together, stored as the model fields would: ints, floats, NOT NULL texts, reads.

    Each group is read in one C call; the usual values (every int an int, every float a
    number, no text null) pass in one more, any other is checked value by value as the
    model would, so it fails exactly where it did.
    """

    def __init__(self, ints: tuple[str, ...] = (), floats: tuple[str, ...] = (), texts: tuple[str, ...] = (),
                 reads: tuple[str, ...] = ()) -> None:
        self._groups = [(_getter(keys), check) for keys, check in (
            (ints, _all_ints), (floats, _all_floats), (texts, _all_texts), (reads, None)) if keys]

    def check(self, d: Any) -> None:
        for get, check in self._groups:
            values = get(d)  # a KeyError (500) for a key missing
            if check is not None:
                check(values)


def _all_texts(values: tuple[Any, ...]) -> None:
    if None in values:
        raise _Integrity("NOT NULL")


def _getter(keys: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The values of `keys` in `d` as a tuple (itemgetter gives a bare value for one key)."""
    if len(keys) > 1:
        return cast(Callable[[Any], tuple[Any, ...]], itemgetter(*keys))
    [key] = keys
    return lambda d: (d[key],)


_NEW = Fields(ints=("userId", "numProcessors", "beginTime", "termTime", "sigValue", "chkpntPeriod", "restartPid",
                    "umask", "nxf", "niosPort", "maxNumProcessors", "userPriority"), floats=("hostFactor",),
              texts=("hostSpec", "resReq", "cwd", "chkpntDir", "inFile", "outFile", "errFile", "inFileSpool",
                     "commandSpool", "jobSpoolDir", "subHomeDir", "jobFile", "dependCond", "jobName", "command",
                     "mailUser", "schedHostType", "loginShell"), reads=("preExecCmd",))
_FINISH = Fields(ints=("userId", "beginTime", "termTime", "exitStatus", "maxNumProcessors", "idx", "maxRMem",
                       "maxRSwap"), floats=("hostFactor",),
                 texts=("resReq", "cwd", "inFile", "outFile", "errFile", "inFileSpool", "commandSpool", "jobFile",
                        "projectName", "jobName", "dependCond", "mailUser", "loginShell"), reads=("preExecCmd",))
_FINISH_RUSAGE = Fields(floats=RUSAGE)
_LIMITS = itemgetter(0, 1, 2, 3, 4, 5, 9, 10, 8, 6, 7)  # the order views.py reads rLimits in
_GE_USAGE = Fields(floats=GE_RUSAGE + ("cpu", "mem", "io"), reads=("category",))
_GE_IOW = Fields(floats=("iow",))
_GE_LAST = Fields(ints=("arid", "ar_submission_time"), floats=("maxvmem",))


class Attempt:
    """An Attempt row: unique on (cluster, job, task, start_time); hosts and projects as last written."""

    __slots__ = ("kind", "start_time", "end_time", "num_processors", "wall_time", "cpu_time", "pend_time", "queue",
                 "status", "command", "hosts", "projects")

    def __init__(self, kind: str, start_time: int, end_time: int, num_processors: int, wall_time: int, cpu_time: int,
                 pend_time: int, queue: Any, status: int, command: Any) -> None:
        self.kind, self.start_time, self.end_time = kind, start_time, end_time
        self.num_processors, self.wall_time, self.cpu_time, self.pend_time = num_processors, wall_time, cpu_time, pend_time
        self.queue, self.status, self.command = queue, status, command
        self.hosts: tuple[Any, ...] = ()
        self.projects: tuple[Any, ...] = ()


#: A Job row's key: (cluster, job_id, submit_time).
JobKey = tuple[str, int, int]


class LavaFlowTables:
    """The Job, Task and Attempt tables with the import views that fill them (callers hold `_lock`).

    `jobs` maps a job's key to the (user, submit host) it was created with, `submitted`
    holds the jobs with a JobSubmitOpenLava row (a JOB_NEW was imported).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.jobs: dict[JobKey, tuple[Any, Any]] = {}
        self.submitted: set[JobKey] = set()
        self.tasks: dict[tuple[str, int, int, Any, int], bool] = {}
        self.attempts: dict[tuple[Any, ...], Attempt] = {}
        self.overwrites = 0        # univa82 rows that overwrote an attempt
        self.clusters: set[str] = set()

    def job_count(self, cluster: Optional[str] = None) -> int:
        with self._lock:
            return sum(1 for k in self.jobs if cluster is None or k[0] == cluster)

    def attempt_count(self, cluster: Optional[str] = None) -> int:
        with self._lock:
            return sum(1 for k in self.attempts if cluster is None or k[0] == cluster)

    def submitted_count(self) -> int:
        """Jobs with a JobSubmitOpenLava row (a JOB_NEW was imported)."""
        with self._lock:
            return len(self.submitted)

    def _cluster(self, name: str) -> None:
        """Cluster.objects.get_or_create(name=cluster_name): a CharField(max_length=100)."""
        _fits(name, 100)
        self.clusters.add(name)

    def _job(self, cluster: str, job_id: Any, user: Any, submit_host: Any, submit_time: Any) -> JobKey:
        key = (cluster, *_all_ints((job_id, submit_time)))
        row = self.jobs.get(key)
        if row is not None:
            if row != (user, submit_host):
                raise _Integrity("unique (cluster, job_id, submit_time)")  # get_or_create's create collides
            return key
        _times(submit_time)  # Job.save()
        self.jobs[key] = (user, submit_host)
        return key

    def _task(self, job: JobKey, user: Any, task_id: Any) -> tuple[Any, ...]:
        key = (*job, user, task_id if type(task_id) is int else _dj_int(task_id))
        self.tasks[key] = True
        return key

    def _attempt(self, job: JobKey, task: tuple[Any, ...], start: Any, end: Any, num_processors: Any,
                 wall: Any, cpu: Any, pend: Any, queue: Any, status: int, command: Any,
                 kind: str) -> tuple[Attempt, bool]:
        key = (*job, task, start if type(start) is int else _dj_int(start))
        attempt = self.attempts.get(key)
        if attempt is not None:
            return attempt, False
        _times(job[2], start, end)  # Attempt.save()
        end, num_processors, wall, cpu, pend = _all_ints((end, num_processors, wall, cpu, pend))
        attempt = Attempt(kind, key[-1], end, num_processors, wall, cpu, pend, _text(queue), status, _text(command))
        self.attempts[key] = attempt
        return attempt, True

    def _openlava(self, cluster: str, event: Any) -> None:
        t = event["type"]
        if t == 1:
            self._job_new(cluster, event)
        elif t == 10:
            self._job_finish(cluster, event)

    def _job_new(self, cluster: str, event: Any) -> None:
        e = event["eventLog"]["jobNewLog"]
        user, host = _text(e["userName"]), _text(e["fromHost"])
        job = self._job(cluster, e["jobId"], user, host, e["submitTime"])
        _text(e["queue"])
        if job in self.submitted:
            return
        _text(e["projectName"])
        _all_ints(_LIMITS(e["rLimits"]))
        _NEW.check(e)
        _fits(e["jobName"], 512)
        _fits(e["command"], 512)
        self.submitted.add(job)  # js.save(): the rest may still fail, the row stays
        _not_null(e["askedHosts"])
        for fl in e["xf"]:
            fl["subFn"], fl["execFn"]
            _options(e["options"])  # nested in the xf loop in views.py (scheduler.md §1.8.10)

    def _job_finish(self, cluster: str, event: Any) -> None:
        log = event["eventLog"]["jobFinishLog"]
        user, host = log["userName"], log["fromHost"]
        if user is None or host is None:
            raise _Integrity("NOT NULL")
        submit_time = log["submitTime"]
        job = self._job(cluster, log["jobId"], user, host, submit_time)
        task = self._task(job, user, log["idx"])
        num_processors = log["numProcessors"]
        start_time = log["startTime"]
        end_time = event["eventTime"]
        if start_time == 0:  # killed before it started
            start_time = end_time
        wall_time = end_time - start_time
        cpu_time = wall_time * num_processors
        pend_time = end_time - submit_time
        if start_time > 0:
            pend_time = start_time - submit_time
        queue = _text(log["queue"])
        status = log["jStatus"]
        OPENLAVA_JOB_STATES[status]
        attempt, created = self._attempt(job, task, start_time, end_time, num_processors, wall_time,
                                         cpu_time, pend_time, queue, status, log["command"], "openlava")
        if not created:
            return
        attempt.hosts = _not_null(log["execHosts"])
        attempt.projects = (_text(log["projectName"]),)
        _FINISH_RUSAGE.check(log["lsfRusage"])
        _FINISH.check(log)
        _fits(log["jobName"], 512)
        _options(log["options"])
        _not_null(log["askedHosts"])

    def _gridengine(self, cluster: str, data: Any) -> None:
        self._ge(cluster, data, "gridengine")

    def _univa82(self, cluster: str, data: Any) -> None:
        self._ge(cluster, data, "univa82")

    def _ge(self, cluster: str, data: Any, kind: str) -> None:
        uge = kind == "univa82"
        user = _text(data["owner"])
        submit_host = _text(data["submit_host"]) if uge else "Unspecified"
        submission = int(data["submission_time"]) if uge else data["submission_time"]
        job = self._job(cluster, data["job_number"], user, submit_host, submission)
        queue = _text(data["qname"])
        task = self._task(job, user, data["task_number"])
        num_processors = data["slots"]
        start_time = int(data["start_time"]) if uge else data["start_time"]
        end_time = int(data["end_time"]) if uge else data["end_time"]
        wall_time = end_time - start_time
        cpu_time = num_processors * wall_time
        submit_time = int(data["submission_time"]) if uge else data["submission_time"]
        pend_time = start_time - submit_time
        failed = data["failed"]
        if failed not in GE_FAILED_CODES:
            raise KeyError(failed)  # states[data['failed']]
        attempt, created = self._attempt(job, task, start_time, end_time, num_processors, wall_time,
                                         cpu_time, pend_time, queue, failed, "Unspecified", kind)
        if not created:
            if not (uge and end_time > attempt.end_time):
                return
            self.overwrites += 1
        attempt.hosts = (_text(data["hostname"]),)
        attempt.projects = tuple(p for p in (data["project"], data["department"]) if p)
        _GE_USAGE.check(data)
        _GE_IOW.check(data)
        if data["pe_taskid"] is not None:  # IntegerField(null=True)
            int(data["pe_taskid"])
        _GE_LAST.check(data)
