"""Records as table rows (pure: the same batch always gives the same rows).

Profile `lmod_tracking`, one `log_data` row per record of format `lmod`, whose data has
user, module, package, version (or None), path, host, time (float epoch seconds, UTC,
microseconds) and jobid (str or None):

- `time` becomes a naive UTC datetime rounded to the microsecond (what Lmod writes).
- `jobid` goes to an INTEGER column, as lmod_tracking casts it: "nil", None, a value that is
  not an integer (an array task "123_4", a "het" job "5+1") or one outside the 32-bit
  INTEGER range is stored as NULL, so the load is kept and only the job is unknown.
- `logname` is the envelope's `source` (the `[[sources]]` name). lmod_tracking stores the
  path of the file it ingested; the envelope has no path, and the source name is the same
  for the live file and every rotated copy of it, which is what the column stands for
  (logname is not part of the unique key either way).
- package/version default to the module split at its first "/" when the data lacks them.
- A TACC `more_hooks` load (variant `tacc_csv`) has a time only when its syslog stamp names an
  instant (parsers/lmod.py); without one it cannot be a row (time is NOT NULL and part of the
  unique key), and its refusal says how to configure the collector so it gets one.

A record of another format, or an lmod record without its keys, is refused with its id
(dead-lettered at once, not bisected for). Profile `records` takes every format.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import orjson

from agent.envelope import record_id

_EPOCH = dt.datetime(1970, 1, 1)
_INTEGER = re.compile(r"^[+-]?\d{1,10}$")
_INT_MIN, _INT_MAX = -(2 ** 31), 2 ** 31 - 1
_LMOD_KEYS = ("user", "module", "path", "host")


@dataclass
class Encoded:
    """One batch as rows (with their record ids), and the records refused before any SQL."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (record id, reason)


def utc(seconds: float) -> dt.datetime:
    """Epoch seconds as a naive UTC datetime, rounded to the microsecond."""
    return _EPOCH + dt.timedelta(microseconds=round(seconds * 1_000_000))


def jobid(value: Any) -> Optional[int]:
    """An INTEGER column's value for a jobid; None when it is not a 32-bit integer (see module doc)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INTEGER.match(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if _INT_MIN <= number <= _INT_MAX else None


def lmod_row(envelope: dict[str, Any]) -> tuple[Any, ...]:
    """The log_data row of one lmod record; ValueError says why it cannot be one."""
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise ValueError("lmod record without a data object")
    for key in _LMOD_KEYS:
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"lmod record without {key}: log_data needs user, module, path, host and time")
    when = data.get("time")
    if isinstance(when, str):
        try:
            when = float(when)
        except ValueError:
            when = None
    if not isinstance(when, (int, float)) or isinstance(when, bool) or when != when:
        if data.get("variant") == "tacc_csv":
            raise ValueError(f"TACC more_hooks load without a time: its message has none and its syslog stamp "
                             f"{data.get('syslog_time')!r} has no year or no zone; have the collector write "
                             "ISO-8601 stamps with a zone (rsyslog's RSYSLOG_FileFormat template) and the "
                             "stamp becomes the load's time")
        raise ValueError("lmod record without a numeric time (epoch seconds)")
    module = data["module"]
    package, _, version = module.partition("/")
    if "package" in data:
        package, version = data["package"], data.get("version")
    if not isinstance(package, str) or not package:
        raise ValueError("lmod record with an empty package")
    source = envelope.get("source")
    return (str(source) if source is not None else "", utc(float(when)), data["host"], data["user"], module,
            data["path"], package, version if isinstance(version, str) and version else None,
            jobid(data.get("jobid")))


def record_row(envelope: dict[str, Any]) -> tuple[Any, ...]:
    """The generic row of any record."""
    when = envelope.get("time")
    time = utc(float(when)) if isinstance(when, (int, float)) and not isinstance(when, bool) else None
    return (envelope["id"], envelope.get("source") or "", envelope.get("format") or "", envelope.get("type"),
            time, envelope.get("host"), envelope.get("cluster"), orjson.dumps(envelope.get("data")).decode())


def encode_lines(lines: Sequence[bytes], profile: str) -> Encoded:
    out = Encoded()
    for line in lines:
        try:
            envelope = orjson.loads(line)
            rid = envelope["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            out.refused.append((record_id(line), "not a JSON record envelope"))
            continue
        try:
            if profile == "lmod_tracking":
                if envelope.get("format") != "lmod":
                    raise ValueError(f"format {envelope.get('format')!r}: profile lmod_tracking takes only records "
                                     'of format "lmod" (route other sources to a sink with profile "records")')
                row = lmod_row(envelope)
            else:
                row = record_row(envelope)
        except (ValueError, OverflowError) as exc:
            out.refused.append((rid, str(exc)))
            continue
        out.rows.append(row)
        out.ids.append(rid)
    return out
