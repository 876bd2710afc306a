"""The openlava event records field by field (scheduler.md §2.3) and their type codes (§2.2).

Field names are those of openlava's `lsb.log.c` structs (`jobNewLog`, `jobStartLog`, ...),
which LavaFlow's openlava-python also uses. Layouts depend on the version written in each
record: openlava writes an integer ("22", "33", "40") and gates fields on it; IBM LSF writes
a dotted version ("9.11", "10.108") and longer records.

For LSF, an event type gets the openlava fields that were checked against the LSF 10 sample
(JOB_NEW through loginShell; JOB_START, JOB_START_ACCEPT, JOB_EXECUTE, JOB_STATUS, JOB_CLEAN,
LOAD_INDEX, MBD_START, JOB_FINISH) and keeps the rest as `unparsed`. Other openlava types in
an LSF file are read with openlava's layout as a prefix too, but unverified: when such a
record does not fit, it becomes an unknown record rather than an error. JOB_MODIFY2 and the
LSF-only types (JOB_FORWARD, JOB_ACCEPTACK, JOB_RESIZE, ...) are unknown records.
"""
from __future__ import annotations

import re
from typing import Callable, NamedTuple, Optional

from . import lsb_job_finish
from .lsb_job_finish import RUSAGE
from .lsb_layout import F, I, S, Array, Field, Fixed, Layout, Step, When, fields, seq

#: Event type name -> code, as `lsbatch.h` numbers them (LavaFlow sends the code as "type").
#: openlava 4.0's NEW_JGRP, DEL_JGRP and MOD_JGRP have codes that were not verified: absent.
EVENT_CODES: dict[str, int] = {
    "JOB_NEW": 1, "JOB_START": 2, "JOB_STATUS": 3, "JOB_SWITCH": 4, "JOB_MOVE": 5,
    "QUEUE_CTRL": 6, "HOST_CTRL": 7, "MBD_DIE": 8, "UNFULFILL": 9, "JOB_FINISH": 10,
    "LOAD_INDEX": 11, "CHKPNT": 12, "MIG": 13, "PRE_EXEC_START": 14, "MBD_START": 15,
    "JOB_MODIFY": 16, "JOB_SIGNAL": 17, "JOB_EXECUTE": 18, "JOB_MSG": 19, "JOB_MSG_ACK": 20,
    "JOB_REQUEUE": 21, "JOB_SIGACT": 22, "SBD_JOB_STATUS": 23, "JOB_START_ACCEPT": 24,
    "JOB_CLEAN": 25, "JOB_FORCE": 26, "LOG_SWITCH": 27, "JOB_MODIFY2": 28, "JOB_ATTR_SET": 29,
    "STREAM_END": 30,
}

# Option bits that decide which fields are written (lsbatch.h).
SUB_JOB_NAME, SUB_QUEUE, SUB_HOST, SUB_IN_FILE, SUB_OUT_FILE, SUB_ERR_FILE = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
SUB_CHKPNT_PERIOD, SUB_CHKPNT_DIR, SUB_HOST_SPEC, SUB_DEPEND_COND = 0x400, 0x800, 0x10000, 0x20000
SUB_RES_REQ, SUB_OTHER_FILES, SUB_PRE_EXEC, SUB_LOGIN_SHELL = 0x40000, 0x80000, 0x100000, 0x200000
SUB_MAIL_USER, SUB_PROJECT_NAME, SUB_INTERACTIVE = 0x400000, 0x2000000, 0x4000000
SUB2_MODIFY_CMD, SUB2_BSUB_BLOCK, SUB2_IN_FILE_SPOOL, SUB2_JOB_CMD_SPOOL = 0x2, 0x4, 0x80, 0x100
SUB2_JOB_PRIORITY, SUB2_JOB_DESC = 0x200, 0x4000

_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*")


class Version(NamedTuple):
    """A record's version: openlava's integer, or LSF's dotted major.minor."""

    text: str
    lsf: bool
    major: int
    minor: int


def version(text: str) -> Optional[Version]:
    """Read a version: `22` -> openlava 22, `10.108` -> LSF 10.108; None if it is not one."""
    if _VERSION.fullmatch(text) is None:
        return None
    major, _, rest = text.partition(".")
    return Version(text, bool(rest), int(major), int(rest.split(".")[0]) if rest else 0)


#: A transfer file: written with a raw "%s" for the names (see lsb_tokens on what that means).
XF = seq(fields(S, "subFn execFn"), Field("options", I))


def _when(mask: int, *steps: Step, on: str = "options") -> When:
    return When(((on, mask),), tuple(steps))


def job_new(v: Version) -> Layout:
    head = seq(
        fields(I, "jobId userId options numProcessors submitTime beginTime termTime sigValue chkpntPeriod restartPid"),
        Field("userName", S), Fixed("rLimits", I, 11), Field("hostSpec", S), Field("hostFactor", F),
        Field("umask", I), fields(S, "queue resReq fromHost cwd chkpntDir inFile outFile errFile subHomeDir jobFile"),
        Array("numAskedHosts", "askedHosts", S), fields(S, "dependCond preExecCmd jobName command"),
        Array("nxf", "xf", XF), fields(S, "mailUser projectName"),
        _when(SUB_INTERACTIVE, Field("niosPort", I)), Field("maxNumProcessors", I),
        fields(S, "schedHostType loginShell"),
    )
    if v.lsf:  # LSF writes other fields after loginShell
        return head
    tail = seq(fields(I, "options2 idx"), _when(SUB2_BSUB_BLOCK, Field("niosPort", I), on="options2"),
               fields(S, "inFileSpool commandSpool jobSpoolDir"), Field("userPriority", I))
    if v.major >= 33:
        tail = seq(tail, Field("userGroup", S), Field("abs_run_limit", I), Field("job_group", S),
                   _when(SUB2_JOB_DESC, Field("job_description", S), on="options2"))
    return seq(head, tail)


def job_modify2(v: Version) -> Optional[Layout]:
    if v.lsf:
        return None
    o2 = "options2"
    layout = seq(
        Field("jobIdStr", S), fields(I, "options options2 delOptions userId"), Field("userName", S),
        fields(I, "submitTime umask numProcessors beginTime termTime sigValue restartPid"),
        _when(SUB_JOB_NAME, Field("jobName", S)), _when(SUB_QUEUE, Field("queue", S)),
        _when(SUB_HOST, Array("numAskedHosts", "askedHosts", S)), _when(SUB_RES_REQ, Field("resReq", S)),
        Fixed("rLimits", I, 11), _when(SUB_HOST_SPEC, Field("hostSpec", S)),
        _when(SUB_DEPEND_COND, Field("dependCond", S)), Field("subHomeDir", S),
        When((("options", SUB_IN_FILE), (o2, SUB2_IN_FILE_SPOOL)), (Field("inFile", S),)),
        _when(SUB_OUT_FILE, Field("outFile", S)), _when(SUB_ERR_FILE, Field("errFile", S)),
        _when(SUB2_MODIFY_CMD, Field("command", S), on=o2), _when(SUB_CHKPNT_PERIOD, Field("chkpntPeriod", I)),
        _when(SUB_CHKPNT_DIR, Field("chkpntDir", S)), _when(SUB_OTHER_FILES, Array("nxf", "xf", XF)),
        fields(S, "jobFile fromHost cwd"),
        _when(SUB_PRE_EXEC, Field("preExecCmd", S)), _when(SUB_MAIL_USER, Field("mailUser", S)),
        _when(SUB_PROJECT_NAME, Field("projectName", S)), fields(I, "niosPort maxNumProcessors"),
        _when(SUB_LOGIN_SHELL, Field("loginShell", S)), Field("schedHostType", S), Field("delOptions2", I),
        _when(SUB2_IN_FILE_SPOOL, Field("inFileSpool", S), on=o2),
        _when(SUB2_JOB_CMD_SPOOL, Field("commandSpool", S), on=o2),
        _when(SUB2_JOB_PRIORITY, Field("userPriority", I), on=o2),
    )
    if v.major >= 40:
        layout = seq(layout, _when(SUB2_JOB_DESC, Field("job_description", S), on=o2))
    return layout


def job_start(v: Version) -> Layout:
    head = seq(fields(I, "jobId jStatus jobPid jobPGid"), Field("hostFactor", F), Array("numExHosts", "execHosts", S),
               fields(S, "queuePreCmd queuePostCmd"), Field("jFlags", I))
    if v.lsf:  # IBM's jobStartLog: userGroup before idx (the LSF 10 sample agrees)
        return seq(head, Field("userGroup", S), Field("idx", I))
    return seq(head, Field("idx", I), Field("userGroup", S)) if v.major >= 33 else seq(head, Field("idx", I))


def job_start_accept(v: Version) -> Layout:
    return fields(I, "jobId jobPid jobPGid idx jflags" if not v.lsf and v.major >= 32 else "jobId jobPid jobPGid idx")


_JOB_MSG_22 = seq(fields(I, "usrId jobId msgId type"), fields(S, "src dest msg"), Field("idx", I))


def job_msg(v: Version) -> Layout:
    if not v.lsf and v.major >= 40:
        return seq(fields(I, "jobId idx"), Field("msg", S))
    return _JOB_MSG_22


def job_status(v: Version) -> Layout:
    return seq(fields(I, "jobId jStatus reason subreasons"), Field("cpuTime", F), fields(I, "endTime ru"),
               When((("ru", 0),), (RUSAGE,)), fields(I, "exitStatus idx"))


def job_finish(v: Version) -> Layout:
    return lsb_job_finish.lsf(v.major, v.minor) if v.lsf else lsb_job_finish.OPENLAVA


def _fixed(layout: Layout) -> Callable[[Version], Layout]:
    return lambda v: layout


def _ctrl(name: str) -> Layout:
    return seq(Field("opCode", I), Field(name, S), Field("userId", I), Field("userName", S))


#: Event type -> its layout for a version (None: unknown for that version).
LAYOUTS: dict[str, Callable[[Version], Optional[Layout]]] = {
    "JOB_NEW": job_new, "JOB_MODIFY": job_new, "JOB_MODIFY2": job_modify2,
    "JOB_START": job_start, "PRE_EXEC_START": job_start, "JOB_START_ACCEPT": job_start_accept,
    "JOB_EXECUTE": _fixed(seq(fields(I, "jobId execUid jobPGid"), fields(S, "execCwd execHome execUsername"),
                              fields(I, "jobPid idx"))),
    "JOB_STATUS": job_status,
    "SBD_JOB_STATUS": _fixed(fields(I, "jobId jStatus reasons subreasons actPid actValue actPeriod actFlags "
                                       "actStatus actReasons actSubReasons idx")),
    "JOB_FINISH": job_finish,
    "JOB_SWITCH": _fixed(seq(fields(I, "userId jobId"), Field("queue", S), Field("idx", I), Field("userName", S))),
    "JOB_MOVE": _fixed(seq(fields(I, "userId jobId position base idx"), Field("userName", S))),
    "QUEUE_CTRL": _fixed(_ctrl("queue")), "HOST_CTRL": _fixed(_ctrl("host")),
    "MBD_START": _fixed(seq(fields(S, "master cluster"), fields(I, "numHosts numQueues"))),
    "MBD_DIE": _fixed(seq(Field("master", S), fields(I, "numRemoveJobs exitCode"))),
    "UNFULFILL": _fixed(fields(I, "jobId notSwitched sig sig1 sig1Flags chkPeriod notModified idx")),
    "LOAD_INDEX": _fixed(seq(Array("nIdx", "name", S))),
    "CHKPNT": _fixed(fields(I, "jobId period pid ok flags idx")),
    "MIG": _fixed(seq(Field("jobId", I), Array("numAskedHosts", "askedHosts", S), fields(I, "userId idx"),
                      Field("userName", S))),
    "JOB_SIGACT": _fixed(seq(fields(I, "jobId period pid jStatus reasons flags actStatus"),
                             Field("signalSymbol", S), Field("idx", I))),
    "JOB_REQUEUE": _fixed(fields(I, "jobId idx")), "JOB_CLEAN": _fixed(fields(I, "jobId idx")),
    "JOB_SIGNAL": _fixed(seq(fields(I, "jobId userId runCount"), Field("signalSymbol", S), Field("idx", I),
                             Field("userName", S))),
    "JOB_MSG": job_msg, "JOB_MSG_ACK": _fixed(_JOB_MSG_22),
    "JOB_FORCE": _fixed(seq(fields(I, "jobId userId idx options"), Array("numExecHosts", "execHosts", S),
                            Field("userName", S))),
    "LOG_SWITCH": _fixed(fields(I, "lastJobId")),
    "JOB_ATTR_SET": _fixed(fields(I, "jobId idx uid port")),
    "STREAM_END": _fixed(fields(I, "numRecords")),
    "NEW_JGRP": _fixed(seq(fields(S, "name path user"), fields(I, "uid status submit_time max_jobs"))),
    "DEL_JGRP": _fixed(fields(S, "path")),
    "MOD_JGRP": _fixed(seq(Field("path", S), Field("max_jobs", I))),
}

#: Types whose LSF layout above was checked against a real LSF file.
LSF_VERIFIED = frozenset({"JOB_NEW", "JOB_START", "JOB_START_ACCEPT", "JOB_EXECUTE", "JOB_STATUS",
                          "JOB_CLEAN", "LOAD_INDEX", "MBD_START", "JOB_FINISH"})
