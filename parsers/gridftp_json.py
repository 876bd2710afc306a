"""The `gridftp-json` format: the JSON transfer records of ANL's RAMSES fork of GridFTP (GT6).

eunsungc/gt6-RAMSES_8_5 (`JSON_STYLE_LOG`, built with jansson) logs each event as one JSON object,
pretty-printed over several lines and wrapped in blank lines, so `frame()` cuts the stream into
whole top-level objects by brace matching that skips strings and their escapes. Events:
`Transfer-End` (one per transfer), `Perf-Marker` and `Range-Marker` (progress); `Parsed.type` is
`event_type`. No real log of this format is public: the fields below are those research/esmond.md
§1.1 lists from the fork's source, with its quirks:

- `start_timestamp`/`end_timestamp` are strings `"<sec>.<tenths>"` (numbers are accepted too);
- `host` is `hostname --ip-address` output: a trailing newline, possibly several addresses;
- `ret_code` is hard-coded 226; `transferID` is a task id, or the pid as an integer;
- `mpstat` is an object, or a per-CPU array in the 2015 first cut; `streams[].TCPinfo` per stream.

A `Transfer-End` gets the `gridftp` format's normalized keys (date, start, duration, host, prog,
user, file, volume, type, code, buffer, block, nbytes, streams, stripes, dest, taskid, retrans)
plus `host_ips` and `raw`, the object as logged (mpstat, iostat, getrusage, streams). Other events
get `raw` and whichever of those keys their fields give.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Optional

import orjson

from .gridftp_fields import iso_utc
from .record import ParseError, Parsed

NAME = "gridftp-json"
TRANSFER_END = "Transfer-End"

_SPACE = b" \t\r\n"
_SKIP_SPACE: Callable[[bytes, int], Optional[re.Match[bytes]]] = re.compile(rb"[ \t\r\n]*").match
_STRUCTURE: Callable[[bytes, int], Optional[re.Match[bytes]]] = re.compile(rb'[{}"]').search
_IN_STRING: Callable[[bytes, int], Optional[re.Match[bytes]]] = re.compile(rb'["\\\n]').search
_GARBAGE_END: Callable[[bytes, int], Optional[re.Match[bytes]]] = re.compile(rb"[\n{]").search
_STAMP: Callable[[str], Optional[re.Match[str]]] = re.compile(r"\s*(-?[0-9]{1,12})(?:\.([0-9]{0,6}))?\s*").fullmatch
_DIGITS: Callable[[str], object] = re.compile(r"-?[0-9]{1,19}").fullmatch
_I64 = 2**63
_SHOWN = 40
#: (data key, field) copied as text, and as integers, when present.
_TEXTS = (("prog", "prog"), ("user", "user"), ("file", "file"), ("volume", "volume"), ("type", "cmd_type"))
_INTS = (("code", "ret_code"), ("buffer", "tcp_bufsize"), ("block", "globus_blocksize"),
         ("nbytes", "nbytes"), ("streams", "nstreams"))
#: Fields a Transfer-End cannot do without: the transfer's times, size, direction and peers.
_REQUIRED = ("start_timestamp", "end_timestamp", "nbytes", "cmd_type", "host", "dest")


def frame(data: bytes, final: bool) -> tuple[list[tuple[int, int]], int]:
    """The top-level JSON objects in `data` as (start, end) spans, and the bytes consumed.

    Whitespace between units is consumed and gives none. Text outside an object is a unit of its
    own up to the end of its line or the next `{` (parse() refuses it). An object is complete at
    its matching `}`; one still open at the end of `data` stays unconsumed unless `final`, when
    it is a unit too. An object that cannot be valid JSON any more is ended early, so that one
    broken record does not swallow the ones after it: at a raw newline inside a string (JSON
    forbids it), and at a `{` that follows something other than `[`, `,` or `:` (in valid JSON a
    `{` follows only those), where the next object starts. Never raises.
    """
    units: list[tuple[int, int]] = []
    size = len(data)
    pos = 0
    while True:
        pos = _SKIP_SPACE(data, pos).end()  # type: ignore[union-attr]  # matches the empty string
        if pos >= size:
            return units, size
        if data[pos] == 0x7B:  # {
            end = _object_end(data, pos)
            if end < 0:
                if final:
                    units.append((pos, _trimmed(data, pos, size)))
                    return units, size
                return units, pos
            units.append((pos, _trimmed(data, pos, end)))
        else:
            stop = _GARBAGE_END(data, pos)
            if stop is None:
                if final:
                    units.append((pos, _trimmed(data, pos, size)))
                    return units, size
                return units, pos
            end = stop.start()
            units.append((pos, _trimmed(data, pos, end)))
        pos = end


def _object_end(data: bytes, start: int) -> int:
    """Where the object opened at `start` ends (after its `}`, or at the `{` of the next object
    when it is broken), or -1 when `data` ends first."""
    depth = 0
    i = start
    while True:
        found = _STRUCTURE(data, i)
        if found is None:
            return -1
        j = found.start()
        byte = data[j]
        if byte == 0x22:  # " : skip the string, its escapes included
            k = j + 1
            while True:
                inner = _IN_STRING(data, k)
                if inner is None:
                    return -1
                k = inner.start()
                if data[k] != 0x5C:  # \
                    break
                k += 2
            i = k if data[k] == 0x0A else k + 1  # a raw newline ends a broken string
            continue
        if byte == 0x7B:  # {
            if depth and _before(data, start, j) not in b"[,:":
                return j
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return j + 1
        i = j + 1


def _before(data: bytes, start: int, j: int) -> bytes:
    """The last byte before `j` (back to `start`) that is not whitespace."""
    k = j - 1
    while k > start and data[k] in _SPACE:
        k -= 1
    return data[k:k + 1]


def _trimmed(data: bytes, start: int, end: int) -> int:
    while end > start and data[end - 1] in _SPACE:
        end -= 1
    return end


def parse(raw: bytes) -> Optional[Parsed]:
    """Parse one unit from `frame()`: a RAMSES JSON event.

    Returns None for a blank unit; raises `ParseError(reason, field, offset)` for text that is
    not a JSON object (the offset where it broke) and for a field of the wrong type or a
    Transfer-End without a field it needs (the field, at its key or at the object's end).
    """
    if not raw.strip():
        return None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _not_json(raw, exc) from None
    if not isinstance(obj, dict):
        raise ParseError(f"expected a JSON object, got {type(obj).__name__}", offset=0)
    event = obj.get("event_type")
    if not isinstance(event, str) or not event:
        raise ParseError("expected event_type, a non-empty string", field="event_type", offset=_at(raw, "event_type"))
    complete = event == TRANSFER_END
    if complete:
        missing = [key for key in _REQUIRED if obj.get(key) is None]
        if missing:
            raise ParseError(f"{TRANSFER_END} without {', '.join(missing)}", field=missing[0], offset=len(raw) - 1)
    data: dict[str, Any] = {}
    start = _stamp(obj, "start_timestamp", raw)
    end = _stamp(obj, "end_timestamp", raw)
    if end is not None:
        data["date"] = iso_utc(end)
    if start is not None:
        data["start"] = iso_utc(start)
    if start is not None and end is not None:
        data["duration"] = (end - start) / 1_000_000
    if "host" in obj or complete:
        host = _text(obj, "host", raw)
        ips = host.split() if host is not None else []
        if complete and not ips:
            raise ParseError("host holds no address", field="host", offset=_at(raw, "host"))
        data["host"] = ips[0] if ips else None
        data["host_ips"] = ips
    for key, field in _TEXTS:
        if field in obj or complete:
            data[key] = _text(obj, field, raw)
    for key, field in _INTS:
        if field in obj or complete:
            data[key] = _integer(obj, field, raw)
    streams = obj.get("streams")
    if streams is not None or complete:
        data["stripes"], data["retrans"] = _streams(streams, raw)
    if "dest" in obj or complete:
        dest = _text(obj, "dest", raw)
        data["dest"] = None if dest is None else dest.strip().removeprefix("[").removesuffix("]")
    if "transferID" in obj or complete:
        taskid = obj.get("transferID")
        if taskid is not None and (isinstance(taskid, bool) or not isinstance(taskid, (str, int))):
            raise _wrong("transferID", "a string or an integer", taskid, raw)
        data["taskid"] = None if taskid is None else str(taskid)
    data["raw"] = obj
    time = end if end is not None else start
    return Parsed(event, None if time is None else time / 1_000_000, data)


def _stamp(obj: dict[str, Any], field: str, raw: bytes) -> Optional[int]:
    """Epoch microseconds of `"<sec>.<tenths>"` (any 0-6 decimals) or a number; None if absent."""
    value = obj.get(field)
    if value is None:
        return None
    us: Optional[int] = None
    if isinstance(value, str):
        found = _STAMP(value)
        if found:
            seconds, fraction = found.groups()
            us = int(seconds) * 1_000_000 + (-1 if seconds.startswith("-") else 1) * int((fraction or "").ljust(6, "0"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e12:
        us = round(value * 1_000_000)
    if us is None or iso_utc(us) is None:
        raise _wrong(field, 'epoch seconds ("<sec>.<tenths>")', value, raw)
    return us


def _text(obj: dict[str, Any], field: str, raw: bytes) -> Optional[str]:
    value = obj.get(field)
    if value is None or isinstance(value, str):
        return value
    raise _wrong(field, "a string", value, raw)


def _integer(obj: dict[str, Any], field: str, raw: bytes) -> Optional[int]:
    """An integer field; a string of digits is read as its number (jansson writers differ)."""
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, str) and _DIGITS(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and -_I64 <= value < _I64:
        return value
    raise _wrong(field, "a 64-bit integer", value, raw)


def _streams(streams: Any, raw: bytes) -> tuple[int, Optional[list[int]]]:
    """(stripes, retrans): max(streams[].stripe) + 1 (1 without streams), and the streams'
    TCPinfo.total_retrans in order (None without streams)."""
    if streams is None:
        return 1, None
    if not isinstance(streams, list):
        raise _wrong("streams", "a list", streams, raw)
    stripes = 1
    retrans: list[int] = []
    for stream in streams:
        info = stream.get("TCPinfo") if isinstance(stream, dict) else None
        count = info.get("total_retrans") if isinstance(info, dict) else None
        stripe = stream.get("stripe", 0) if isinstance(stream, dict) else None
        if type(count) is not int or type(stripe) is not int:  # bool is an int subclass: not a count
            raise _wrong("streams", "objects with an integer stripe and TCPinfo.total_retrans", stream, raw)
        stripes = max(stripes, stripe + 1)
        retrans.append(count)
    return stripes, retrans


def _not_json(raw: bytes, exc: orjson.JSONDecodeError) -> ParseError:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:  # orjson reports byte 0 for these
        return ParseError("invalid UTF-8", offset=bad.start)
    if raw[:1] != b"{":
        return ParseError(f"text outside a JSON object: {_shown(raw)}", offset=0)
    if exc.pos >= len(raw.rstrip()):
        return ParseError(f"object ends before its closing brace ({exc.msg})", offset=exc.pos)
    return ParseError(f"not valid JSON: {exc.msg}", offset=exc.pos)


def _wrong(field: str, expected: str, value: Any, raw: bytes) -> ParseError:
    shown = repr(value)
    if len(shown) > _SHOWN:
        shown = shown[:_SHOWN] + "..."
    return ParseError(f"expected {expected}, got {shown}", field=field, offset=_at(raw, field))


def _at(raw: bytes, field: str) -> int:
    """The byte offset of `"field"` in `raw` (its first occurrence), else of the object's end."""
    found = raw.find(b'"%s"' % field.encode())
    return found if found >= 0 else len(raw) - 1


def _shown(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")
