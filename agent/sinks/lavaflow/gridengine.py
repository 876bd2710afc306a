"""Grid Engine accounting lines as the dicts LavaFlow's gridengine and univa82 import views read (scheduler.md §1.4).

`univa82` takes gridengine-accounting's `UGEAccountEntry.__dict__`, `gridengine` its
`AccountEntry.to_dict()`, with the differences the encode module's docstring lists (GE
`category` spelled as the view reads it, `pe_taskid` an int or null, times in the line's
own unit, `ru_wallclock` in seconds).
"""
from __future__ import annotations

from typing import Any, Optional

#: The import views by the parser's `layout`.
GE_KINDS = {"uge": "univa82", "sge": "gridengine", "sge60": "gridengine"}

#: Grid Engine fields in accounting-file order (scheduler.md §3.1, §3.2) and their types.
GE_TEXT = ("qname", "hostname", "group", "owner", "job_name")
GE_USAGE = (
    "ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_ismrss", "ru_idrss", "ru_isrss", "ru_minflt",
    "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals", "ru_nvcsw",
    "ru_nivcsw",
)
UGE_TAIL = ("job_class", "qdel_info", "maxrss", "maxpss", "submit_host", "cwd", "submit_cmd")


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


