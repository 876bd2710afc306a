"""The JOB_FINISH record (lsb.acct, and lsb.events): openlava's layout and LSF's longer one.

openlava writes 56 fields (scheduler.md §2.3, `writeJobFinish`). IBM LSF writes the same
through `loginShell`, then `timeEvent` before `idx`, then after `commandSpool` the fields of
§2.6, whose order here was checked against the LSF 9.1.1 and LSF 10.1.0.8 samples:

- the three fields between the host rusage entries and `effectiveResReq` are runLimit,
  options3, avgMem. IBM's field list puts options3 first, but the samples contradict it:
  LSF 9's job was submitted with `#BSUB -W 12:00` and has 43200 there, LSF 10's jobs have
  no run limit and have -1; avgMem is always below maxRMem;
- `flow_id` is written as a quoted string (`""` in every sample), not `%d`;
- LSF 9.1.1 writes six values per host rusage entry (host, mem, swap, utime, stime and one
  more, always 0; the utimes and stimes add up to ru_utime and ru_stime), IBM documents
  five for LSF 10; the width is taken as whichever puts the quoted effectiveResReq after
  runLimit, options3 and avgMem. LSF 9 writes the host names unquoted;
- the structure of `storageInfoV` is undocumented: a record with storage entries keeps
  everything from there on as `unparsed`.

Where a record may end depends on the version. LSF 9 records end earlier (after `affinity`)
and the fields grew release by release, so a version before 10 may end after any field. A
real LSF "10.1" record ends after `numGPURusages` (aws-samples/hpc-cost-simulator, test file
`lsb.acct.not-enough-fields.1`), so 10.x must reach that far; "10.108" (10.1.0.8) and later
write `storageInfoC` and the `numKVP` pairs (the LSF 10 sample), so they must be there: a
record that stops before them is truncated, which is what the malformed samples test.
"""
from __future__ import annotations

from typing import Any

from .lsb_layout import F, I, S, Array, Bad, Custom, End, Field, Group, Layout, Step, When, fields, seq, value, word
from .lsb_tokens import Token

#: openlava's lsfRusage (lsf.h), written `%1.6f` (the two times) and `%1.0f` (`lsfRu2Str`).
RUSAGE = Group("lsfRusage", tuple(Field(name, F) for name in (
    "ru_utime ru_stime ru_maxrss ru_ixrss ru_ismrss ru_idrss ru_isrss ru_minflt ru_majflt ru_nswap "
    "ru_inblock ru_oublock ru_ioch ru_msgsnd ru_msgrcv ru_nsignals ru_nvcsw ru_nivcsw ru_exutime").split()))
KEY_VALUE = seq(Field("key", S), Field("value", S))

_HEAD = seq(
    fields(I, "jobId userId options numProcessors submitTime beginTime termTime startTime"),
    fields(S, "userName queue resReq dependCond preExecCmd fromHost cwd inFile outFile errFile jobFile"),
    Array("numAskedHosts", "askedHosts", S), Array("numExHosts", "execHosts", S),
    Field("jStatus", I), Field("hostFactor", F), Field("jobName", S), Field("command", S), RUSAGE,
    fields(S, "mailUser projectName"), fields(I, "exitStatus maxNumProcessors"), Field("loginShell", S),
)
_SPOOL = seq(fields(I, "idx maxRMem maxRSwap"), fields(S, "inFileSpool commandSpool"))

#: openlava 2.2 to 4.0: the whole record.
OPENLAVA = _HEAD + _SPOOL


def _host_rusage(t: list[Token], i: int) -> tuple[dict[str, Any], int]:
    count = value(t, i, I, "numHostRusage")
    if count < 0:
        raise Bad(f"count is negative ({count})", "numHostRusage", i)
    i += 1
    if not count:
        return {"numHostRusage": 0, "hostRusage": []}, i
    width = next((w for w in (6, 5) if _fits(t, i, count, w)), None)
    if width is None:
        raise Bad("neither 5 nor 6 values per entry are followed by runLimit, options3, avgMem and the "
                  "quoted effectiveResReq", "hostRusage", i)
    entries = []
    for k in range(count):
        p = i + k * width
        entry: dict[str, Any] = {"hostname": word(t[p]), "mem": t[p + 1], "swap": t[p + 2],
                                 "utime": t[p + 3], "stime": t[p + 4]}
        if width == 6:
            entry["unparsed"] = [t[p + 5]]
        entries.append(entry)
    return {"numHostRusage": count, "hostRusage": entries}, i + count * width


def _fits(t: list[Token], i: int, count: int, width: int) -> bool:
    end = i + count * width
    if end + 3 >= len(t) or not isinstance(t[end + 3], str):
        return False
    for k in range(count):
        p = i + k * width
        if isinstance(t[p], (int, float)) or any(type(t[p + q]) is not int for q in range(1, width)):
            return False
    return all(type(t[end + q]) is int for q in range(3))


def _lsf_tail(major: int, minor: int) -> Layout:
    """The fields after commandSpool, with `End` wherever this version may stop."""
    through_gpu = seq(
        fields(S, "rsvId sla"), Field("exceptMask", I), Field("additionalInfo", S), Field("exitInfo", I),
        Field("warningAction", S), Field("warningTimePeriod", I),
        fields(S, "chargedSAAP licenseProject app postExecCmd"), Field("runtimeEstimation", I),
        fields(S, "jobGroupName requeueEvalues"), Field("options2", I), Field("resizeNotifyCmd", S),
        Field("lastResizeTime", I), fields(S, "rsvId2 jobDescription"),
        Array("numSubmitEXT", "submitEXT", seq(Field("key", I), Field("value", S))),
        Custom("numHostRusage", "hostRusage", _host_rusage),
        fields(I, "runLimit options3 avgMem"), fields(S, "effectiveResReq srcCluster"),
        Field("srcJobId", I), Field("dstCluster", S), fields(I, "dstJobId forwardTime"),
        Field("flow_id", S), fields(I, "acJobWaitTime totalProvisionTime"),
        Field("outdir", S), Field("runTime", I), Field("subcwd", S),
        Array("num_network", "networkAlloc", seq(Field("networkID", S), Field("num_window", I))),
        Field("affinity", S), fields(F, "serial_job_energy cpi gips gbs gflops"),
        Array("numAllocSlots", "allocSlots", S), Field("ineligiblePendTime", I),
        Array("indexRangeCnt", "indexRange", fields(I, "start end step")), Field("requeueTime", I),
        Array("numGPURusages", "gRusage", seq(Field("hostname", S), Array("numKVP", "kvp", KEY_VALUE))),
    )
    if major < 10:  # LSF 9 and older: any field may be the last
        steps: list[Step] = [End()]
        for step in through_gpu:
            steps += [step, End()]
        return seq(tuple(steps), _storage(required=False))
    if major == 10 and minor < 108:
        return seq(through_gpu, End(), _storage(required=False))
    return seq(through_gpu, _storage(required=True))


def _storage(required: bool) -> Layout:
    """storageInfoC, then (when it is 0: storageInfoV's entries are undocumented, a record
    with some keeps the rest unparsed) the finishKVP pairs."""
    kvp = seq(Array("numKVP", "finishKVP", KEY_VALUE))
    return seq(Field("storageInfoC", I), When((("storageInfoC", -1),), kvp if required else seq(End(), kvp)))


def lsf(major: int, minor: int) -> Layout:
    """IBM Platform/Spectrum LSF (dotted versions such as "9.11", "10.108")."""
    return seq(_HEAD, Field("timeEvent", S), _SPOOL, _lsf_tail(major, minor))
