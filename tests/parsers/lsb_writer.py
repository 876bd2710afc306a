"""A writer of openlava/LSF event-log records after openlava's lsb.log.c, for round-trip tests.

Each event writer follows its C `write*` function field by field (scheduler.md §2.3): strings
through `addQStr` (a space, then the string quoted with `"` doubled), numbers through the
same printf formats (`%6.2f` hostFactor in JOB_NEW, `%3.1f` in JOB_START and JOB_FINISH,
`%4.4f` cpuTime, `%1.6f` and `%1.0f` rusage), transfer-file names through a raw `"%s"`, and
the writers' stray spaces kept (JOB_FORCE, LOG_SWITCH, JOB_ATTR_SET, STREAM_END). It is
written from the C code, not from the parser's layouts, so a round trip tests both.

`records()` is a hypothesis strategy of (line, type, data): the data is what the parser must
give back, in the order the fields were written.
"""
from __future__ import annotations

from typing import Any, Callable

from hypothesis import strategies as st

INT = st.integers(-(2 ** 31), 2 ** 31 - 1)
COUNT = st.integers(0, 3)
#: Strings as openlava writes them: any text but a line break (the reader's unit is a line).
TEXT = st.text(st.characters(codec="utf-8", blacklist_characters="\n\r"), max_size=12)
#: Transfer-file names are written with a raw "%s": a quote in one would end it early.
RAW_TEXT = st.text(st.characters(codec="utf-8", blacklist_characters='\n\r"'), max_size=12)
OPENLAVA_VERSIONS = ("20", "22", "31", "32", "33", "40")
LSF_VERSIONS = ("9.11", "10.1", "10.108")


def fixed(fmt: str) -> st.SearchStrategy[float]:
    """Floats that survive `fmt` unchanged (so the round trip compares equal)."""
    return st.integers(-(10 ** 8), 10 ** 8).map(lambda k: float(fmt % (k / 10 ** 4)))


class Writer:
    """Draws each field, writes it as the C code does, and records what the parser must give."""

    def __init__(self, draw: Callable[..., Any], etype: str, version: str, event_time: int) -> None:
        self.draw = draw
        self.out = [b'"%s" "%s" %d' % (_q(etype), _q(version), event_time)]
        self.data: dict[str, Any] = {"version": version, "eventTime": event_time}
        self.lsf = "." in version
        self.number = int(version.split(".")[0])
        self.minor = int(version.split(".")[1]) if self.lsf else 0

    def i(self, name: str, strategy: st.SearchStrategy[int] = INT, into: dict[str, Any] | None = None) -> int:
        value: int = self.draw(strategy)
        (self.data if into is None else into)[name] = value
        self.out.append(b" %d" % value)
        return value

    def s(self, name: str, into: dict[str, Any] | None = None, raw: bool = False) -> str:
        value: str = self.draw(RAW_TEXT if raw else TEXT)
        (self.data if into is None else into)[name] = value
        text = value.encode()
        self.out.append(b' "%s"' % (text if raw else text.replace(b'"', b'""')))
        return value

    def fields(self, spec: str) -> None:
        """`name:i name:s ...`: integers and strings in that order."""
        for field in spec.split():
            name, kind = field.split(":")
            self.i(name) if kind == "i" else self.s(name)

    def f(self, name: str, fmt: str, into: dict[str, Any] | None = None) -> None:
        value = self.draw(fixed(fmt))
        (self.data if into is None else into)[name] = value
        self.out.append(b" " + (fmt % value).encode())

    def strings(self, num: str, name: str, count: st.SearchStrategy[int] = COUNT) -> None:
        n = self.i(num, count)
        self.data[name] = [self.draw(TEXT) for _ in range(n)]
        self.out += [b' "%s"' % _q(h) for h in self.data[name]]

    def records(self, num: str, name: str, item: Callable[["Writer", dict[str, Any]], None]) -> None:
        n = self.i(num, COUNT)
        self.data[name] = []
        for _ in range(n):
            entry: dict[str, Any] = {}
            item(self, entry)
            self.data[name].append(entry)

    def ints(self, name: str, n: int) -> None:
        self.data[name] = [self.draw(INT) for _ in range(n)]
        self.out += [b" %d" % x for x in self.data[name]]

    def rusage(self) -> None:
        ru: dict[str, float] = {}
        for k, name in enumerate(RUSAGE):
            self.f(name, "%1.6f" if k < 2 else "%1.0f", into=ru)
        self.data["lsfRusage"] = ru

    def line(self) -> bytes:
        return b"".join(self.out)


RUSAGE = ("ru_utime ru_stime ru_maxrss ru_ixrss ru_ismrss ru_idrss ru_isrss ru_minflt ru_majflt ru_nswap "
          "ru_inblock ru_oublock ru_ioch ru_msgsnd ru_msgrcv ru_nsignals ru_nvcsw ru_nivcsw ru_exutime").split()


def _q(text: str) -> bytes:
    return text.encode().replace(b'"', b'""')


def _xf(w: Writer, entry: dict[str, Any]) -> None:
    w.s("subFn", entry, raw=True)
    w.s("execFn", entry, raw=True)
    w.i("options", into=entry)


def job_new(w: Writer) -> None:  # writeJobNew
    w.fields("jobId:i userId:i options:i numProcessors:i submitTime:i beginTime:i termTime:i sigValue:i "
             "chkpntPeriod:i restartPid:i userName:s")
    w.ints("rLimits", 11)
    w.s("hostSpec")
    w.f("hostFactor", "%6.2f")
    w.fields("umask:i queue:s resReq:s fromHost:s cwd:s chkpntDir:s inFile:s outFile:s errFile:s subHomeDir:s "
             "jobFile:s")
    w.strings("numAskedHosts", "askedHosts")
    w.fields("dependCond:s preExecCmd:s jobName:s command:s")
    w.records("nxf", "xf", _xf)
    w.fields("mailUser:s projectName:s")
    nios = w.draw(INT)
    if w.data["options"] & 0x4000000:
        w.data["niosPort"] = nios
        w.out.append(b" %d" % nios)
    w.fields("maxNumProcessors:i schedHostType:s loginShell:s")
    if w.lsf:
        return
    w.fields("options2:i idx:i")
    if w.data["options2"] & 0x4:
        w.data["niosPort"] = nios
        w.out.append(b" %d" % nios)
    w.fields("inFileSpool:s commandSpool:s jobSpoolDir:s userPriority:i")
    if w.number >= 33:
        w.fields("userGroup:s abs_run_limit:i job_group:s")
        if w.data["options2"] & 0x4000:
            w.s("job_description")


#: writeJobMod after its fixed head, in order: (options bits, options2 bits, field, kind); a
#: field is written when either mask meets its option word, or always when both masks are 0.
_MODIFY2 = [
    (0x1, 0, "jobName", "s"), (0x2, 0, "queue", "s"), (0x4, 0, "askedHosts", "hosts"), (0x40000, 0, "resReq", "s"),
    (0, 0, "rLimits", "limits"), (0x10000, 0, "hostSpec", "s"), (0x20000, 0, "dependCond", "s"),
    (0, 0, "subHomeDir", "s"), (0x8, 0x80, "inFile", "s"), (0x10, 0, "outFile", "s"), (0x20, 0, "errFile", "s"),
    (0, 0x2, "command", "s"), (0x400, 0, "chkpntPeriod", "i"), (0x800, 0, "chkpntDir", "s"), (0x80000, 0, "xf", "xf"),
    (0, 0, "jobFile", "s"), (0, 0, "fromHost", "s"), (0, 0, "cwd", "s"), (0x100000, 0, "preExecCmd", "s"),
    (0x400000, 0, "mailUser", "s"), (0x2000000, 0, "projectName", "s"), (0, 0, "niosPort", "i"),
    (0, 0, "maxNumProcessors", "i"), (0x200000, 0, "loginShell", "s"), (0, 0, "schedHostType", "s"),
    (0, 0, "delOptions2", "i"), (0, 0x80, "inFileSpool", "s"), (0, 0x100, "commandSpool", "s"),
    (0, 0x200, "userPriority", "i"), (0, 0x4000, "job_description", "s"),  # 4.0 only
]


def job_modify2(w: Writer) -> None:  # writeJobMod
    w.s("jobIdStr")
    options, options2 = w.i("options"), w.i("options2")
    for name in "delOptions userId".split():
        w.i(name)
    w.s("userName")
    for name in "submitTime umask numProcessors beginTime termTime sigValue restartPid".split():
        w.i(name)
    for mask, mask2, name, kind in _MODIFY2:
        if (mask or mask2) and not (options & mask or options2 & mask2):
            continue
        if name == "job_description" and w.number < 40:
            continue
        if kind == "i":
            w.i(name)
        elif kind == "s":
            w.s(name)
        elif kind == "hosts":
            w.strings("numAskedHosts", name)
        elif kind == "limits":
            w.ints(name, 11)
        else:
            w.records("nxf", name, _xf)


def job_start(w: Writer) -> None:  # writeJobStart (also PRE_EXEC_START)
    w.fields("jobId:i jStatus:i jobPid:i jobPGid:i")
    w.f("hostFactor", "%3.1f")
    w.strings("numExHosts", "execHosts")
    w.fields("queuePreCmd:s queuePostCmd:s jFlags:i")
    if w.lsf:  # IBM's order
        w.fields("userGroup:s idx:i")
    else:
        w.fields("idx:i userGroup:s" if w.number >= 33 else "idx:i")


def job_start_accept(w: Writer) -> None:
    w.fields("jobId:i jobPid:i jobPGid:i idx:i jflags:i" if not w.lsf and w.number >= 32 else
             "jobId:i jobPid:i jobPGid:i idx:i")


def job_status(w: Writer) -> None:
    w.fields("jobId:i jStatus:i reason:i subreasons:i")
    w.f("cpuTime", "%4.4f")
    w.i("endTime")
    if w.i("ru", st.sampled_from([0, 1, -3])):
        w.rusage()
    w.fields("exitStatus:i idx:i")


def job_finish(w: Writer) -> None:  # writeJobFinish; LSF: timeEvent and the tail (lsb_job_finish)
    w.fields("jobId:i userId:i options:i numProcessors:i submitTime:i beginTime:i termTime:i startTime:i "
             "userName:s queue:s resReq:s dependCond:s preExecCmd:s fromHost:s cwd:s inFile:s outFile:s "
             "errFile:s jobFile:s")
    w.strings("numAskedHosts", "askedHosts")
    w.strings("numExHosts", "execHosts")
    w.i("jStatus")
    w.f("hostFactor", "%3.1f")
    w.fields("jobName:s command:s")
    w.rusage()
    w.fields("mailUser:s projectName:s exitStatus:i maxNumProcessors:i loginShell:s")
    if w.lsf:
        w.s("timeEvent")
    w.fields("idx:i maxRMem:i maxRSwap:i inFileSpool:s commandSpool:s")
    if w.lsf:
        lsf_tail(w)


def _kv_str(w: Writer, entry: dict[str, Any]) -> None:
    w.s("key", entry)
    w.s("value", entry)


def lsf_tail(w: Writer) -> None:
    """LSF's fields after commandSpool as the LSF 9/10 samples have them (see lsb_job_finish)."""
    w.fields("rsvId:s sla:s exceptMask:i additionalInfo:s exitInfo:i warningAction:s warningTimePeriod:i "
             "chargedSAAP:s licenseProject:s app:s postExecCmd:s runtimeEstimation:i jobGroupName:s "
             "requeueEvalues:s options2:i resizeNotifyCmd:s lastResizeTime:i rsvId2:s jobDescription:s")

    def submit_ext(w: Writer, entry: dict[str, Any]) -> None:
        w.i("key", into=entry)
        w.s("value", entry)

    w.records("numSubmitEXT", "submitEXT", submit_ext)
    hosts = w.i("numHostRusage", COUNT)  # LSF 9's entries: a bare host name and five numbers
    w.data["hostRusage"] = []
    for _ in range(hosts):
        name = w.draw(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True))
        values = [w.draw(st.integers(0, 2 ** 31 - 1)) for _ in range(5)]
        w.out.append(b" " + name.encode() + b"".join(b" %d" % v for v in values))
        w.data["hostRusage"].append(dict(zip(("hostname", "mem", "swap", "utime", "stime"), [name] + values[:4]),
                                         unparsed=values[4:]))
    w.fields("runLimit:i options3:i avgMem:i effectiveResReq:s srcCluster:s srcJobId:i dstCluster:s dstJobId:i "
             "forwardTime:i flow_id:s acJobWaitTime:i totalProvisionTime:i outdir:s runTime:i subcwd:s")
    def network(w: Writer, entry: dict[str, Any]) -> None:
        w.s("networkID", entry)
        w.i("num_window", into=entry)

    def index_range(w: Writer, entry: dict[str, Any]) -> None:
        for name in ("start", "end", "step"):
            w.i(name, into=entry)

    w.records("num_network", "networkAlloc", network)
    w.s("affinity")
    if w.number < 10 and w.draw(st.booleans()):
        return  # LSF 9 records end here
    for name in "serial_job_energy cpi gips gbs gflops".split():
        w.f(name, "%1.6f" if name == "serial_job_energy" else "%1.2f")
    w.strings("numAllocSlots", "allocSlots")
    w.i("ineligiblePendTime")
    w.records("indexRangeCnt", "indexRange", index_range)

    def gpu(w: Writer, entry: dict[str, Any]) -> None:
        w.s("hostname", entry)
        n = w.i("numKVP", COUNT, into=entry)
        entry["kvp"] = []
        for _ in range(n):
            kv: dict[str, Any] = {}
            _kv_str(w, kv)
            entry["kvp"].append(kv)

    w.i("requeueTime")
    w.records("numGPURusages", "gRusage", gpu)
    if (w.number, w.minor) < (10, 108) and w.draw(st.booleans()):
        return  # LSF 10.1 records end after numGPURusages
    w.i("storageInfoC", st.just(0))
    w.records("numKVP", "finishKVP", _kv_str)


def _simple(*fields: str) -> Callable[[Writer], None]:
    """Fields `name:i` / `name:s` / `name:hosts` in order."""

    def write(w: Writer) -> None:
        for spec in fields:
            name, kind = spec.split(":")
            if kind == "i":
                w.i(name)
            elif kind == "s":
                w.s(name)
            else:
                num, _, items = name.partition("/")
                w.strings(num, items)

    return write


def _trailing_space(write: Callable[[Writer], None]) -> Callable[[Writer], None]:
    """JOB_FORCE, LOG_SWITCH, JOB_ATTR_SET, STREAM_END: their printf formats end in a space."""

    def wrapped(w: Writer) -> None:
        write(w)
        w.out.append(b" ")

    return wrapped


def job_msg(w: Writer) -> None:
    if not w.lsf and w.number >= 40:
        _simple("jobId:i", "idx:i", "msg:s")(w)
    else:
        _simple("usrId:i", "jobId:i", "msgId:i", "type:i", "src:s", "dest:s", "msg:s", "idx:i")(w)


def job_force(w: Writer) -> None:
    _simple("jobId:i", "userId:i", "idx:i", "options:i")(w)
    w.out.append(b" ")  # " %d %d %d %d %d " then addQStr's own space
    w.strings("numExecHosts", "execHosts")
    w.s("userName")


WRITERS: dict[str, Callable[[Writer], None]] = {
    "JOB_NEW": job_new, "JOB_MODIFY": job_new, "JOB_MODIFY2": job_modify2,
    "JOB_START": job_start, "PRE_EXEC_START": job_start, "JOB_START_ACCEPT": job_start_accept,
    "JOB_EXECUTE": _simple("jobId:i", "execUid:i", "jobPGid:i", "execCwd:s", "execHome:s", "execUsername:s",
                           "jobPid:i", "idx:i"),
    "JOB_STATUS": job_status, "JOB_FINISH": job_finish,
    "SBD_JOB_STATUS": _simple(*(f"{n}:i" for n in "jobId jStatus reasons subreasons actPid actValue actPeriod "
                                                     "actFlags actStatus actReasons actSubReasons idx".split())),
    "JOB_SWITCH": _simple("userId:i", "jobId:i", "queue:s", "idx:i", "userName:s"),
    "JOB_MOVE": _simple("userId:i", "jobId:i", "position:i", "base:i", "idx:i", "userName:s"),
    "QUEUE_CTRL": _simple("opCode:i", "queue:s", "userId:i", "userName:s"),
    "HOST_CTRL": _simple("opCode:i", "host:s", "userId:i", "userName:s"),
    "MBD_START": _simple("master:s", "cluster:s", "numHosts:i", "numQueues:i"),
    "MBD_DIE": _simple("master:s", "numRemoveJobs:i", "exitCode:i"),
    "UNFULFILL": _simple(*(f"{n}:i" for n in "jobId notSwitched sig sig1 sig1Flags chkPeriod notModified idx".split())),
    "LOAD_INDEX": _simple("nIdx/name:hosts"),
    "CHKPNT": _simple(*(f"{n}:i" for n in "jobId period pid ok flags idx".split())),
    "MIG": _simple("jobId:i", "numAskedHosts/askedHosts:hosts", "userId:i", "idx:i", "userName:s"),
    "JOB_SIGACT": _simple(*(f"{n}:i" for n in "jobId period pid jStatus reasons flags actStatus".split()),
                          "signalSymbol:s", "idx:i"),
    "JOB_REQUEUE": _simple("jobId:i", "idx:i"), "JOB_CLEAN": _simple("jobId:i", "idx:i"),
    "JOB_SIGNAL": _simple("jobId:i", "userId:i", "runCount:i", "signalSymbol:s", "idx:i", "userName:s"),
    "JOB_MSG": job_msg,
    "JOB_MSG_ACK": _simple("usrId:i", "jobId:i", "msgId:i", "type:i", "src:s", "dest:s", "msg:s", "idx:i"),
    "JOB_FORCE": job_force,
    "LOG_SWITCH": _trailing_space(_simple("lastJobId:i")),
    "JOB_ATTR_SET": _trailing_space(_simple("jobId:i", "idx:i", "uid:i", "port:i")),
    "STREAM_END": _trailing_space(_simple("numRecords:i")),
    "NEW_JGRP": _simple("name:s", "path:s", "user:s", "uid:i", "status:i", "submit_time:i", "max_jobs:i"),
    "DEL_JGRP": _simple("path:s"),
    "MOD_JGRP": _simple("path:s", "max_jobs:i"),
}


@st.composite
def records(draw: Callable[..., Any], etype: str, versions: tuple[str, ...] = OPENLAVA_VERSIONS) -> tuple[bytes, dict[str, Any]]:
    """One record of `etype`: its line and the data the parser must read from it."""
    w = Writer(draw, etype, draw(st.sampled_from(versions)), draw(st.integers(0, 2 ** 31 - 1)))
    WRITERS[etype](w)
    return w.line(), w.data
