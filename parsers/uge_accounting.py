"""The `uge-accounting` format: Grid Engine accounting lines (SGE 6.x, Univa/Altair GE 8.2+).

One line is one finished job (or job attempt) with `:`-separated fields, named as in
sge_accounting(5) / scheduler.md §3.1-§3.2. The layout is chosen per line from its field count,
because one file may mix them (XDMoD's UGE sample has a 45- and a 74-field line):

- 43 fields: `sge60` (SGE 6.0, no arid / ar_submission_time).
- 45 fields: `sge` (SGE 6.2, Son of Grid Engine 8.1; also ms-timestamp writers).
- 52 or more: `uge` (UGE 8.2 adds job_class ... submit_cmd). Newer UGE/Altair releases append
  fields after submit_cmd; those are kept as raw strings under `"extra"`. A `:` inside
  submit_cmd (or cwd, qdel_info) of such a line cannot be told apart from an appended field: the
  text after the colon lands in `"extra"`, so `":".join([submit_cmd, *extra])` gives it back.
- 44 and 46-51 fields: an SGE line whose category holds colons (SGE 6.x writes it unescaped;
  §3.4). The fields before category are taken from the left, the ones after it from the right
  (3 for `sge60`, 5 for `sge`), and the middle is joined back with `:` as category.
- Fewer than 43: `ParseError`. Blank lines, lines of one byte or less and `#` lines: None, as
  qacct skips them (the UGE header `# Version: 8.2.0` holds a colon: comments go before splitting).

Times (submission_time, start_time, end_time, ar_submission_time) stay as written, with
`"time_unit"` saying which: `"ms"` when the largest of submission/start/end time is > 1e11 (after
1973 in ms), or when none of them is positive on a `uge` line (UGE 8.2+ writes ms; a failed
attempt has zero times); otherwise `"s"`. `Parsed.time` is end_time in epoch seconds, None when
end_time is 0 (a failed attempt: the record carries no time of its own).

Field types are fixed per field, not per line: ru_wallclock, the ru_* usage, cpu, mem, io, iow and
maxvmem are floats (SGE writes some as `%f`, UGE as integers); job_number, priority, the times,
failed, exit_status, slots, task_number, arid, maxrss and maxpss are ints (in the signed 64-bit
range, so that every record encodes as JSON); everything else is text as written (`NONE` too).
Numbers are read as Python's float() and int() read them, so a `nan` or `inf` that a writer
printed is kept (orjson encodes it as null) rather than costing the record.
Invalid UTF-8 is replaced with U+FFFD rather than refused (a free-text field with one stray byte
must not cost the job's accounting), and not kept with surrogateescape, which JSON cannot encode.
"""
from __future__ import annotations

import re
from operator import itemgetter
from typing import Any, Callable, Optional

import orjson

from .record import ParseError, Parsed

NAME = "uge-accounting"
TYPE = "accounting"

_S, _I, _F = "str", "int", "float"
#: Every known field in file order with its type (scheduler.md §3.1, §3.2).
FIELDS: tuple[tuple[str, str], ...] = (
    ("qname", _S), ("hostname", _S), ("group", _S), ("owner", _S), ("job_name", _S),
    ("job_number", _I), ("account", _S), ("priority", _I), ("submission_time", _I),
    ("start_time", _I), ("end_time", _I), ("failed", _I), ("exit_status", _I),
    ("ru_wallclock", _F), ("ru_utime", _F), ("ru_stime", _F), ("ru_maxrss", _F),
    ("ru_ixrss", _F), ("ru_ismrss", _F), ("ru_idrss", _F), ("ru_isrss", _F),
    ("ru_minflt", _F), ("ru_majflt", _F), ("ru_nswap", _F), ("ru_inblock", _F),
    ("ru_oublock", _F), ("ru_msgsnd", _F), ("ru_msgrcv", _F), ("ru_nsignals", _F),
    ("ru_nvcsw", _F), ("ru_nivcsw", _F), ("project", _S), ("department", _S),
    ("granted_pe", _S), ("slots", _I), ("task_number", _I), ("cpu", _F), ("mem", _F),
    ("io", _F), ("category", _S), ("iow", _F), ("pe_taskid", _S), ("maxvmem", _F),
    ("arid", _I), ("ar_submission_time", _I),
    ("job_class", _S), ("qdel_info", _S), ("maxrss", _I), ("maxpss", _I),
    ("submit_host", _S), ("cwd", _S), ("submit_cmd", _S),
)
NAMES = tuple(name for name, _ in FIELDS)
SGE60_FIELDS, SGE_FIELDS, UGE_FIELDS = 43, 45, 52
#: Layout name per number of named fields.
LAYOUTS = {SGE60_FIELDS: "sge60", SGE_FIELDS: "sge", UGE_FIELDS: "uge"}
_CATEGORY = NAMES.index("category")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_MS_AFTER = 10**11
_SHOWN = 40  # characters of a bad value quoted in an error

_FLOAT_INDEXES = [i for i, (_, kind) in enumerate(FIELDS) if kind == _F]
_FLOATS_OF = itemgetter(*_FLOAT_INDEXES)
_FLOAT_COUNT = len(_FLOAT_INDEXES)
_INT_INDEXES = {width: [i for i, (_, kind) in enumerate(FIELDS[:width]) if kind == _I] for width in LAYOUTS}
_INTS_OF = {width: itemgetter(*indexes) for width, indexes in _INT_INDEXES.items()}
_INT_COUNTS = {width: len(indexes) for width, indexes in _INT_INDEXES.items()}
_FLOAT_CHARS: Callable[[str], object] = re.compile(r"[-+.eE0-9,]*").fullmatch
_INT_CHARS: Callable[[str], object] = re.compile(r"[-0-9,]*").fullmatch
_loads = orjson.loads


def parse(raw: bytes) -> Optional[Parsed]:
    """Parse one accounting line (with or without its line ending).

    Returns None for blank, one-byte and `#` lines; raises `ParseError` naming the field, its
    byte offset in the line and the reason for a line that is not an accounting record.
    """
    if raw[-1:] == b"\n":
        raw = raw[:-2] if raw[-2:] == b"\r\n" else raw[:-1]
    if len(raw) <= 1 or raw[0] == 0x23:  # '#'
        return None
    f = raw.decode("utf-8", "replace").split(":")
    n = len(f)
    if n >= UGE_FIELDS:
        width = UGE_FIELDS
    elif n == SGE_FIELDS or n == SGE60_FIELDS:
        width = n
    elif n < SGE60_FIELDS:
        if not raw.strip():
            return None
        raise ParseError(f"too few fields: {n} (SGE needs at least {SGE60_FIELDS})",
                         field=NAMES[n], offset=len(raw))
    else:  # 44, 46..51: colons inside category
        width = SGE60_FIELDS if n == SGE60_FIELDS + 1 else SGE_FIELDS
        tail = n - (width - _CATEGORY - 1)
        f = f[:_CATEGORY] + [":".join(f[_CATEGORY:tail])] + f[tail:]
    try:
        floats, ints = _numbers(f, width)
    except ValueError:
        raise _diagnose(raw, f, width, n) from None
    if min(ints) < _I64_MIN or max(ints) > _I64_MAX:
        raise _diagnose(raw, f, width, n)
    data = _named(f, width, floats, ints)
    if n > UGE_FIELDS:
        data["extra"] = f[UGE_FIELDS:]
    submitted, started, ended = ints[2], ints[3], ints[4]
    latest = max(submitted, started, ended)
    unit = "ms" if latest > _MS_AFTER or (latest <= 0 and width == UGE_FIELDS) else "s"
    data["time_unit"] = unit
    data["layout"] = LAYOUTS[width]
    time = None if ended == 0 else (ended / 1000 if unit == "ms" else float(ended))
    return Parsed(TYPE, time, data)


def _numbers(f: list[str], width: int) -> tuple[list[float], list[int]]:
    """The float and the int fields of a line cut to `width` fields, in file order.

    The hot path: one orjson call per kind converts them several times faster than float()
    and int() per field. The character checks keep JSON from reading a field as anything but a
    number (`true`, `"1"`, `[1]`), the count check catches a comma inside a field, and whatever
    JSON refuses (`+1`, `007`, `nan`, `1e999`) goes the per-field way, which gives the same
    values and raises ValueError for a field that is not a number.
    """
    float_text = ",".join(_FLOATS_OF(f))
    int_text = ",".join(_INTS_OF[width](f))
    if _FLOAT_CHARS(float_text) and _INT_CHARS(int_text):
        try:
            floats, ints = _loads("[" + float_text + "]"), _loads("[" + int_text + "]")
        except orjson.JSONDecodeError:
            pass
        else:
            if len(floats) == _FLOAT_COUNT and len(ints) == _INT_COUNTS[width]:
                return list(map(float, floats)), ints
    return [float(v) for v in _FLOATS_OF(f)], [int(v) for v in _INTS_OF[width](f)]


def _named(f: list[str], width: int, fl: list[float], il: list[int]) -> dict[str, Any]:
    """The record under the field names, in file order (a literal: the fastest dict to build)."""
    data: dict[str, Any] = {
        "qname": f[0], "hostname": f[1], "group": f[2], "owner": f[3], "job_name": f[4],
        "job_number": il[0], "account": f[6], "priority": il[1],
        "submission_time": il[2], "start_time": il[3], "end_time": il[4],
        "failed": il[5], "exit_status": il[6], "ru_wallclock": fl[0],
        "ru_utime": fl[1], "ru_stime": fl[2], "ru_maxrss": fl[3],
        "ru_ixrss": fl[4], "ru_ismrss": fl[5], "ru_idrss": fl[6],
        "ru_isrss": fl[7], "ru_minflt": fl[8], "ru_majflt": fl[9],
        "ru_nswap": fl[10], "ru_inblock": fl[11], "ru_oublock": fl[12],
        "ru_msgsnd": fl[13], "ru_msgrcv": fl[14], "ru_nsignals": fl[15],
        "ru_nvcsw": fl[16], "ru_nivcsw": fl[17], "project": f[31],
        "department": f[32], "granted_pe": f[33], "slots": il[7], "task_number": il[8],
        "cpu": fl[18], "mem": fl[19], "io": fl[20], "category": f[39],
        "iow": fl[21], "pe_taskid": f[41], "maxvmem": fl[22],
    }
    if width == SGE60_FIELDS:
        return data
    data["arid"] = il[9]
    data["ar_submission_time"] = il[10]
    if width == SGE_FIELDS:
        return data
    data["job_class"] = f[45]
    data["qdel_info"] = f[46]
    data["maxrss"] = il[11]
    data["maxpss"] = il[12]
    data["submit_host"] = f[49]
    data["cwd"] = f[50]
    data["submit_cmd"] = f[51]
    return data


def _diagnose(raw: bytes, f: list[str], width: int, n: int) -> ParseError:
    """The error for the first field of a line that `_numbers` refused: name, byte offset, reason.

    The slow path, so it may walk every field. `f` is the line after category was re-joined;
    offsets are counted in `raw` (':' is ASCII, so the byte and text splits agree).
    """
    starts = [0]
    for piece in raw.split(b":"):
        starts.append(starts[-1] + len(piece) + 1)
    shift = n - width if n < UGE_FIELDS else 0  # fields that moved right of a re-joined category
    for index, (name, kind) in enumerate(FIELDS[:width]):
        if kind == _S:
            continue
        value = f[index]
        offset = starts[index + shift if index > _CATEGORY else index]
        try:
            number = int(value) if kind == _I else float(value)
        except ValueError:
            what = "an integer" if kind == _I else "a number"
            return ParseError(f"expected {what}, got {_shown(value)}", field=name, offset=offset)
        if kind == _I and not _I64_MIN <= number <= _I64_MAX:
            return ParseError(f"integer out of the 64-bit range: {_shown(value)}", field=name, offset=offset)
    return ParseError("not an accounting record")  # unreachable: _numbers refused some field


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")
