"""LavaFlow's import views over in-memory tables, as lavaFlow/views.py and models.py define them.

The part of the LavaFlow double (tests/doubles/lavaflow.py) that decides, record by
record, what the real server stores and where it fails; the HTTP side, keys and
fault injection live there.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any, Optional

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


def _when(v: Any) -> None:
    """The models' save(): utcfromtimestamp() of a time as given (a str or year > 9999 fails)."""
    datetime.fromtimestamp(v, timezone.utc)


def _options(mask: Any) -> None:
    """OpenLavaSubmitOption.get_status_list: `key & mask` over the option bits (a TypeError unless an int)."""
    _ = 1 & mask


def _fields(d: Any, ints: tuple[str, ...] = (), floats: tuple[str, ...] = (), texts: tuple[str, ...] = (),
            reads: tuple[str, ...] = ()) -> None:
    """Read keys as the view does and store them as the model fields would (the common types fast)."""
    for k in ints:
        v = d[k]
        if type(v) is not int:
            _dj_int(v)
    for k in floats:
        v = d[k]
        if type(v) is not float and type(v) is not int:
            _dj_float(v)
    for k in texts:
        if d[k] is None:
            raise _Integrity("NOT NULL")
    for k in reads:
        d[k]


_NEW_INTS = ("userId", "numProcessors", "beginTime", "termTime", "sigValue", "chkpntPeriod", "restartPid", "umask",
             "nxf", "niosPort", "maxNumProcessors", "userPriority")
_NEW_TEXTS = ("hostSpec", "resReq", "cwd", "chkpntDir", "inFile", "outFile", "errFile", "inFileSpool", "commandSpool",
              "jobSpoolDir", "subHomeDir", "jobFile", "dependCond", "jobName", "command", "mailUser", "schedHostType",
              "loginShell")
_FINISH_INTS = ("userId", "beginTime", "termTime", "exitStatus", "maxNumProcessors", "idx", "maxRMem", "maxRSwap")
_FINISH_TEXTS = ("resReq", "cwd", "inFile", "outFile", "errFile", "inFileSpool", "commandSpool", "jobFile",
                 "projectName", "jobName", "dependCond", "mailUser", "loginShell")


class Job:
    __slots__ = ("cluster", "job_id", "submit_time", "user", "submit_host", "submitted")

    def __init__(self, cluster: str, job_id: int, submit_time: int, user: Any, submit_host: Any) -> None:
        self.cluster, self.job_id, self.submit_time = cluster, job_id, submit_time
        self.user, self.submit_host = user, submit_host
        self.submitted = False  # JobSubmitOpenLava exists (from a JOB_NEW)


class Attempt:
    """An Attempt row: unique on (cluster, job, task, start_time); hosts and projects as last written."""

    __slots__ = ("kind", "start_time", "end_time", "num_processors", "wall_time", "cpu_time", "pend_time", "queue",
                 "status", "command", "hosts", "projects")

    def __init__(self, kind: str, start_time: int, end_time: int, num_processors: int, wall_time: int, cpu_time: int,
                 pend_time: int, queue: Any, status: int, command: Any) -> None:
        self.kind, self.start_time, self.end_time = kind, start_time, end_time
        self.num_processors, self.wall_time, self.cpu_time, self.pend_time = num_processors, wall_time, cpu_time, pend_time
        self.queue, self.status, self.command = queue, status, command
        self.hosts: list[Any] = []
        self.projects: list[Any] = []

class LavaFlowTables:
    """The Job, Task and Attempt tables with the import views that fill them (callers hold `_lock`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.jobs: dict[tuple[str, int, int], Job] = {}
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
            return sum(1 for j in self.jobs.values() if j.submitted)

    def _cluster(self, name: str) -> None:
        """Cluster.objects.get_or_create(name=cluster_name): a CharField(max_length=100)."""
        _fits(name, 100)
        self.clusters.add(name)

    def _job(self, cluster: str, job_id: Any, user: Any, submit_host: Any, submit_time: Any) -> Job:
        key = (cluster, _dj_int(job_id), _dj_int(submit_time))
        job = self.jobs.get(key)
        if job is not None:
            if job.user != user or job.submit_host != submit_host:
                raise _Integrity("unique (cluster, job_id, submit_time)")  # get_or_create's create collides
            return job
        _when(submit_time)  # Job.save()
        job = self.jobs[key] = Job(cluster, key[1], key[2], user, submit_host)
        return job

    def _task(self, cluster: str, job: Job, user: Any, task_id: Any) -> tuple[Any, ...]:
        key = (cluster, job.job_id, job.submit_time, user, _dj_int(task_id))
        self.tasks[key] = True
        return key

    def _attempt(self, cluster: str, job: Job, task: tuple[Any, ...], start: Any, end: Any, num_processors: Any,
                 wall: Any, cpu: Any, pend: Any, queue: Any, status: int, command: Any,
                 kind: str) -> tuple[Attempt, bool]:
        key = (cluster, job.job_id, job.submit_time, task, _dj_int(start))
        attempt = self.attempts.get(key)
        if attempt is not None:
            return attempt, False
        for when in (job.submit_time, start, end):  # Attempt.save()
            _when(when)
        attempt = Attempt(kind=kind, start_time=key[-1], end_time=_dj_int(end), num_processors=_dj_int(num_processors),
                          wall_time=_dj_int(wall), cpu_time=_dj_int(cpu), pend_time=_dj_int(pend), queue=_text(queue),
                          status=status, command=_text(command))
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
        if job.submitted:
            return
        _text(e["projectName"])
        limits = e["rLimits"]
        for i in (0, 1, 2, 3, 4, 5, 9, 10, 8, 6, 7):
            _dj_int(limits[i])
        _fields(e, ints=_NEW_INTS, floats=("hostFactor",), texts=_NEW_TEXTS, reads=("preExecCmd",))
        _fits(e["jobName"], 512)
        _fits(e["command"], 512)
        job.submitted = True  # js.save(): the rest may still fail, the row stays
        for h in e["askedHosts"]:
            _text(h)
        for fl in e["xf"]:
            fl["subFn"], fl["execFn"]
            _options(e["options"])  # nested in the xf loop in views.py (scheduler.md §1.8.10)

    def _job_finish(self, cluster: str, event: Any) -> None:
        log = event["eventLog"]["jobFinishLog"]
        user, host = _text(log["userName"]), _text(log["fromHost"])
        job = self._job(cluster, log["jobId"], user, host, log["submitTime"])
        task = self._task(cluster, job, user, log["idx"])
        num_processors = log["numProcessors"]
        start_time = log["startTime"]
        if start_time == 0:  # killed before it started
            start_time = event["eventTime"]
        end_time = event["eventTime"]
        wall_time = end_time - start_time
        cpu_time = wall_time * num_processors
        pend_time = event["eventTime"] - log["submitTime"]
        if start_time > 0:
            pend_time = start_time - log["submitTime"]
        queue = _text(log["queue"])
        status = log["jStatus"]
        OPENLAVA_JOB_STATES[status]
        attempt, created = self._attempt(cluster, job, task, start_time, end_time, num_processors, wall_time,
                                         cpu_time, pend_time, queue, status, log["command"], "openlava")
        if not created:
            return
        attempt.hosts = [_text(h) for h in log["execHosts"]]
        attempt.projects = [_text(log["projectName"])]
        _fields(log["lsfRusage"], floats=RUSAGE)
        _fields(log, ints=_FINISH_INTS, floats=("hostFactor",), texts=_FINISH_TEXTS, reads=("preExecCmd",))
        _fits(log["jobName"], 512)
        _options(log["options"])
        for h in log["askedHosts"]:
            _text(h)

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
        task = self._task(cluster, job, user, data["task_number"])
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
        attempt, created = self._attempt(cluster, job, task, start_time, end_time, num_processors, wall_time,
                                         cpu_time, pend_time, queue, failed, "Unspecified", kind)
        if not created:
            if not (uge and end_time > attempt.end_time):
                return
            self.overwrites += 1
        attempt.hosts = [_text(data["hostname"])]
        attempt.projects = [p for p in (data["project"], data["department"]) if p]
        _fields(data, floats=GE_RUSAGE + ("cpu", "mem", "io"), reads=("category",))
        _fields(data, floats=("iow",))
        if data["pe_taskid"] is not None:  # IntegerField(null=True)
            int(data["pe_taskid"])
        _fields(data, floats=("maxvmem",), ints=("arid", "ar_submission_time"))
